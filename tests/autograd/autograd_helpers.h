#pragma once
// Shared helpers for the autograd tests: seeded random shapes and values (kept away from kinks
// or on a lattice so that finite differences never straddle one), one-call gradient checks, and
// element-wise comparison that reports the first mismatch.
//   std::mt19937 rng(7);
//   md::Tensor x = agt::away_from(rng, {2, 3}, {0.0f});        // |x| >= 0.05
//   agt::check_gradients("relu", [](const agt::Inputs& in) { return md::ops::relu(in[0]); }, {x});
//   agt::check_close(tape_grad, expected, 1e-5, "d relu / dx");
#include <minidl/minidl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace md = minidl;

namespace agt {

using Dims = std::vector<int64_t>;
using Inputs = std::vector<md::Tensor>;

inline int64_t numel(const Dims& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

inline std::string str(const Dims& shape) { return md::shape_to_string(shape); }

// A shape of `rank` dims drawn uniformly from [lo, hi] (kept small: gradcheck costs ~4
// evaluations per element).
inline Dims random_shape(std::mt19937& rng, int rank, int64_t lo = 1, int64_t hi = 4) {
  std::uniform_int_distribution<int64_t> dim(lo, hi);
  Dims shape(static_cast<size_t>(rank));
  for (auto& d : shape) d = dim(rng);
  return shape;
}

inline md::Tensor uniform(std::mt19937& rng, const Dims& shape, float lo = -2.0f, float hi = 2.0f) {
  std::uniform_real_distribution<float> value(lo, hi);
  std::vector<float> v(static_cast<size_t>(numel(shape)));
  for (auto& x : v) x = value(rng);
  return md::Tensor::from_vector(v, shape);
}

// Uniform values in [lo, hi), each pushed at least `margin` away from every kink (the points
// where relu/abs/clip are not differentiable). Kinks must be more than 2 * margin apart.
inline md::Tensor away_from(std::mt19937& rng, const Dims& shape, const std::vector<float>& kinks, float margin = 0.05f,
                            float lo = -2.0f, float hi = 2.0f) {
  md::Tensor t = uniform(rng, shape, lo, hi);
  float* p = t.mutable_data();
  for (int64_t i = 0; i < t.size(); ++i) {
    for (float k : kinks) {
      if (std::fabs(p[i] - k) < margin) p[i] = p[i] >= k ? k + 1.2f * margin : k - 1.2f * margin;
    }
  }
  return t;
}

// Values offset + step * k for random integers k in [-range, range]: two lattices with offsets
// differing by step / 2 never come closer than step / 2 (maximum/minimum stay off their kink).
inline md::Tensor lattice(std::mt19937& rng, const Dims& shape, float step, float offset, int range = 8) {
  std::uniform_int_distribution<int> k(-range, range);
  std::vector<float> v(static_cast<size_t>(numel(shape)));
  for (auto& x : v) x = offset + step * static_cast<float>(k(rng));
  return md::Tensor::from_vector(v, shape);
}

// Pairwise distinct values (a shuffled lattice with spacing `step`), so max/min reductions have
// no ties within finite-difference reach.
inline md::Tensor distinct(std::mt19937& rng, const Dims& shape, float step = 0.1f) {
  const int64_t n = numel(shape);
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = step * static_cast<float>(i - n / 2);
  std::shuffle(v.begin(), v.end(), rng);
  return md::Tensor::from_vector(v, shape);
}

// Checks first-order gradients (and, when `second_order`, gradients of gradients through nested
// tapes) against finite differences: relative error < 1e-2 in float32.
inline void check_gradients(const std::string& what, const md::testing::TensorFunction& fn, const Inputs& inputs,
                            bool second_order = true, double tolerance = 1e-2) {
  std::ostringstream shapes;
  for (const md::Tensor& t : inputs) shapes << str(t.shape()) << " ";
  INFO(what << " on shapes " << shapes.str());
  const md::testing::GradcheckResult first = md::testing::gradcheck(fn, inputs);
  {
    INFO("gradcheck: " << first.describe());
    CHECK(first.checked_elements > 0);
    CHECK(first.max_relative_error < tolerance);
  }
  if (second_order) {
    const md::testing::GradcheckResult second = md::testing::gradgradcheck(fn, inputs);
    INFO("gradgradcheck: " << second.describe());
    CHECK(second.checked_elements > 0);
    CHECK(second.max_relative_error < tolerance);
  }
}

// |actual - expected| <= atol + rtol * |expected| for every element, in one CHECK.
inline void check_close(const md::Tensor& actual, const std::vector<double>& expected, double atol,
                        const std::string& what, double rtol = 0.0) {
  INFO(what << ": shape " << str(actual.shape()));
  REQUIRE(actual.defined());
  REQUIRE(actual.size() == static_cast<int64_t>(expected.size()));
  const std::vector<float> got = actual.to_vector();
  int64_t bad = 0;
  std::ostringstream first;
  first.precision(9);
  for (size_t i = 0; i < expected.size(); ++i) {
    const double tol = atol + rtol * std::fabs(expected[i]);
    if (!(std::fabs(got[i] - expected[i]) <= tol)) {
      if (bad == 0) first << "first at flat index " << i << ": got " << got[i] << ", expected " << expected[i];
      ++bad;
    }
  }
  INFO(bad << " of " << expected.size() << " elements differ; " << first.str());
  CHECK(bad == 0);
}

inline void check_close(const md::Tensor& actual, const std::vector<float>& expected, double atol,
                        const std::string& what, double rtol = 0.0) {
  check_close(actual, std::vector<double>(expected.begin(), expected.end()), atol, what, rtol);
}

inline void check_close(const md::Tensor& actual, const md::Tensor& expected, double atol, const std::string& what,
                        double rtol = 0.0) {
  REQUIRE(expected.defined());
  {
    INFO(what << ": shapes " << str(actual.shape()) << " vs " << str(expected.shape()));
    REQUIRE(actual.defined());
    CHECK(actual.shape() == expected.shape());
  }
  const std::vector<float> e = expected.to_vector();
  check_close(actual, std::vector<double>(e.begin(), e.end()), atol, what, rtol);
}

inline std::vector<double> to_double(const md::Tensor& t) {
  const std::vector<float> v = t.to_vector();
  return std::vector<double>(v.begin(), v.end());
}

}  // namespace agt
