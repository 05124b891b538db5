#pragma once
// Shared helpers for the core tests: naive reference loops over n-d indices, seeded random
// shapes and values, and element-wise comparison that reports the first mismatch.
//   std::mt19937 rng(1234);
//   mdt::Dims shape = mdt::random_shape(rng, 3);            // e.g. (2, 5, 1)
//   std::vector<float> x = mdt::random_values(rng, mdt::numel(shape));
//   mdt::check_close(actual.data(), expected, /*rtol=*/1e-6, /*atol=*/0.0, "what");
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

namespace mdt {

using Dims = std::vector<int64_t>;

inline int64_t numel(const Dims& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

inline std::string str(const Dims& shape) { return md::shape_to_string(shape); }

// Calls f(flat, index) for every element of `shape`, in row-major order.
template <class F>
void for_each_index(const Dims& shape, F&& f) {
  const int64_t n = numel(shape);
  Dims index(shape.size(), 0);
  for (int64_t flat = 0; flat < n; ++flat) {
    f(flat, static_cast<const Dims&>(index));
    for (size_t i = shape.size(); i-- > 0;) {
      if (++index[i] < shape[i]) break;
      index[i] = 0;
    }
  }
}

// Flat offset into a row-major `shape` of the element that broadcasts to `out_index`
// (NumPy rules: `shape` is right-aligned to the index, its size-1 dims repeat).
inline int64_t broadcast_offset(const Dims& out_index, const Dims& shape) {
  const size_t skip = out_index.size() - shape.size();
  int64_t offset = 0;
  for (size_t i = 0; i < shape.size(); ++i) {
    const int64_t index = shape[i] == 1 ? 0 : out_index[skip + i];
    offset = offset * shape[i] + index;
  }
  return offset;
}

// Flat offset of `index` in a row-major `shape` of the same rank.
inline int64_t flat_offset(const Dims& index, const Dims& shape) {
  int64_t offset = 0;
  for (size_t i = 0; i < shape.size(); ++i) offset = offset * shape[i] + index[i];
  return offset;
}

// A shape of `rank` dims drawn uniformly from [lo, hi].
inline Dims random_shape(std::mt19937& rng, int rank, int64_t lo = 1, int64_t hi = 5) {
  std::uniform_int_distribution<int64_t> dim(lo, hi);
  Dims shape(rank);
  for (auto& d : shape) d = dim(rng);
  return shape;
}

// n values drawn uniformly from [lo, hi).
inline std::vector<float> random_values(std::mt19937& rng, int64_t n, float lo = -2.0f, float hi = 2.0f) {
  std::uniform_real_distribution<float> value(lo, hi);
  std::vector<float> out(n);
  for (auto& v : out) v = value(rng);
  return out;
}

inline md::Tensor random_tensor(std::mt19937& rng, const Dims& shape, float lo = -2.0f, float hi = 2.0f) {
  return md::Tensor::from_vector(random_values(rng, numel(shape), lo, hi), shape);
}

// A random permutation of 0..rank-1.
inline std::vector<int> random_permutation(std::mt19937& rng, int rank) {
  std::vector<int> perm(rank);
  for (int i = 0; i < rank; ++i) perm[i] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  return perm;
}

// |actual - expected| <= atol + rtol * |expected|; NaN matches NaN, infinities match exactly.
inline bool close(double actual, double expected, double rtol, double atol) {
  if (std::isnan(expected)) return std::isnan(actual);
  if (std::isinf(expected)) return actual == expected;
  if (!std::isfinite(actual)) return false;
  return std::fabs(actual - expected) <= atol + rtol * std::fabs(expected);
}

// One CHECK over n elements: tol[i] (absolute) when given, else atol + rtol * |expected|.
inline void check_close_impl(const float* actual, const std::vector<double>& expected, double rtol, double atol,
                             const std::vector<double>* tol, const std::string& what) {
  int64_t bad = 0;
  std::ostringstream first;
  for (size_t i = 0; i < expected.size(); ++i) {
    const bool ok = tol ? close(actual[i], expected[i], 0.0, (*tol)[i]) : close(actual[i], expected[i], rtol, atol);
    if (!ok) {
      if (bad == 0) {
        first.precision(9);
        first << "first at flat index " << i << ": got " << actual[i] << ", expected " << expected[i];
        if (tol) first << " (tolerance " << (*tol)[i] << ")";
      }
      ++bad;
    }
  }
  INFO(what << ": " << bad << " of " << expected.size() << " elements differ; " << first.str());
  CHECK(bad == 0);
}

inline void check_close(const float* actual, const std::vector<double>& expected, double rtol, double atol,
                        const std::string& what) {
  check_close_impl(actual, expected, rtol, atol, nullptr, what);
}

inline void check_close(const md::Tensor& actual, const std::vector<double>& expected, double rtol, double atol,
                        const std::string& what) {
  INFO(what << ": shape " << str(actual.shape()));
  REQUIRE(actual.size() == static_cast<int64_t>(expected.size()));
  check_close_impl(actual.data(), expected, rtol, atol, nullptr, what);
}

// Per-element absolute tolerances (e.g. proportional to the magnitude of a sum's terms).
inline void check_close_tol(const float* actual, const std::vector<double>& expected, const std::vector<double>& tol,
                            const std::string& what) {
  check_close_impl(actual, expected, 0.0, 0.0, &tol, what);
}

inline std::vector<double> to_double(const std::vector<float>& v) { return std::vector<double>(v.begin(), v.end()); }

}  // namespace mdt
