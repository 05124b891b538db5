// softmax / log-softmax forward and backward along every axis of ranks 1-5, against a naive
// loop in double: the innermost axis runs oneDNN's primitive, the others our own loop.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test_helpers.h"

namespace {

using mdt::Dims;

struct Split {
  int64_t outer = 1, axis = 1, inner = 1;
};

Split split_at(const Dims& shape, int axis) {
  Split s;
  for (int i = 0; i < axis; ++i) s.outer *= shape[i];
  s.axis = shape[axis];
  for (size_t i = axis + 1; i < shape.size(); ++i) s.inner *= shape[i];
  return s;
}

std::vector<double> softmax_ref(const std::vector<float>& x, const Dims& shape, int axis, bool log) {
  const Split s = split_at(shape, axis);
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.inner; ++i) {
      auto at = [&](int64_t a) { return (o * s.axis + a) * s.inner + i; };
      double max = -std::numeric_limits<double>::infinity();
      for (int64_t a = 0; a < s.axis; ++a) max = std::max(max, static_cast<double>(x[at(a)]));
      double sum = 0.0;
      for (int64_t a = 0; a < s.axis; ++a) sum += std::exp(x[at(a)] - max);
      for (int64_t a = 0; a < s.axis; ++a) {
        y[at(a)] = log ? x[at(a)] - max - std::log(sum) : std::exp(x[at(a)] - max) / sum;
      }
    }
  }
  return y;
}

// softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy).
std::vector<double> softmax_backward_ref(const std::vector<float>& y, const std::vector<float>& dy, const Dims& shape,
                                         int axis, bool log) {
  const Split s = split_at(shape, axis);
  std::vector<double> dx(y.size());
  for (int64_t o = 0; o < s.outer; ++o) {
    for (int64_t i = 0; i < s.inner; ++i) {
      auto at = [&](int64_t a) { return (o * s.axis + a) * s.inner + i; };
      double dot = 0.0;
      for (int64_t a = 0; a < s.axis; ++a) dot += log ? dy[at(a)] : static_cast<double>(dy[at(a)]) * y[at(a)];
      for (int64_t a = 0; a < s.axis; ++a) {
        const double yk = y[at(a)], dyk = dy[at(a)];
        dx[at(a)] = log ? dyk - std::exp(yk) * dot : yk * (dyk - dot);
      }
    }
  }
  return dx;
}

// Float exp/log in oneDNN and in our loop: a few ulps relative, plus an absolute term for
// log-softmax outputs and gradients that are sums of several terms of size ~1.
constexpr double kRtol = 1e-5;
constexpr double kAtol = 1e-6;
// oneDNN 2.6's log is only accurate to an absolute ~3.7e-6 (log(1) = -1.4e-6; see
// backend_eltwise_test.cpp), and its log-softmax (innermost axis) subtracts log(sum) with it.
constexpr double kLogSoftmaxAtol = 5e-6;

void check_softmax(const Dims& shape, int axis, bool log, std::mt19937& rng) {
  const int64_t n = mdt::numel(shape);
  const std::vector<float> x = mdt::random_values(rng, n, -4.0f, 4.0f);
  const std::vector<float> dy = mdt::random_values(rng, n, -1.0f, 1.0f);
  std::vector<float> y(n, std::numeric_limits<float>::quiet_NaN()), dx(n, std::numeric_limits<float>::quiet_NaN());
  const std::string what =
      std::string(log ? "log_softmax " : "softmax ") + mdt::str(shape) + " axis " + std::to_string(axis);
  md::backend::softmax_forward(x.data(), y.data(), shape, axis, log);
  mdt::check_close(y.data(), softmax_ref(x, shape, axis, log), kRtol, log ? kLogSoftmaxAtol : kAtol, "forward " + what);
  md::backend::softmax_backward(y.data(), dy.data(), dx.data(), shape, axis, log);
  mdt::check_close(dx.data(), softmax_backward_ref(y, dy, shape, axis, log), kRtol, kAtol, "backward " + what);
}

}  // namespace

TEST_CASE("softmax and log-softmax along every axis of ranks 1-5 match a naive loop", "[backend][softmax]") {
  std::mt19937 rng(99);
  for (int rank = 1; rank <= 5; ++rank) {
    for (int trial = 0; trial < 2; ++trial) {
      const Dims shape = mdt::random_shape(rng, rank, 1, 5);
      for (int axis = 0; axis < rank; ++axis) {
        for (bool log : {false, true}) check_softmax(shape, axis, log, rng);
      }
    }
  }
}

TEST_CASE("softmax on larger shapes: oneDNN innermost, the parallel loop elsewhere", "[backend][softmax]") {
  std::mt19937 rng(100);
  for (bool log : {false, true}) {
    check_softmax({64, 1000}, 1, log, rng);    // oneDNN primitive, many rows
    check_softmax({1, 20000}, 1, log, rng);    // one long row
    check_softmax({40, 30, 20}, 1, log, rng);  // middle axis, parallel loop (24000 elements)
    check_softmax({300, 70}, 0, log, rng);     // outermost axis
  }
}

TEST_CASE("softmax with size-1 and size-0 dims", "[backend][softmax]") {
  std::mt19937 rng(101);
  for (bool log : {false, true}) {
    check_softmax({4, 1}, 1, log, rng);  // one element per row: softmax 1, log-softmax 0
    check_softmax({1, 4}, 0, log, rng);
    check_softmax({3, 1, 5}, 1, log, rng);
    // Nothing to write; must not crash.
    check_softmax({0, 4}, 1, log, rng);
    check_softmax({3, 0}, 1, log, rng);
    check_softmax({2, 0, 3}, 0, log, rng);
  }
  std::vector<float> x = {1.0f, 2.0f, 3.0f, 4.0f}, y(4);
  md::backend::softmax_forward(x.data(), y.data(), {4, 1}, 1, false);
  CHECK(y == std::vector<float>{1, 1, 1, 1});
}

TEST_CASE("compute::softmax accepts negative axes and checks its arguments", "[compute][softmax]") {
  std::mt19937 rng(102);
  const md::Tensor x = mdt::random_tensor(rng, {2, 3, 4});
  for (int64_t axis = -3; axis < 3; ++axis) {
    const int positive = static_cast<int>(axis < 0 ? axis + 3 : axis);
    for (bool log : {false, true}) {
      const md::Tensor y = md::compute::softmax(x, axis, log);
      CHECK(y.shape() == md::Shape{2, 3, 4});
      mdt::check_close(y, softmax_ref(x.to_vector(), x.shape(), positive, log), kRtol, log ? kLogSoftmaxAtol : kAtol,
                       "compute::softmax axis " + std::to_string(axis));
      const md::Tensor dy = mdt::random_tensor(rng, {2, 3, 4});
      const md::Tensor dx = md::compute::softmax_backward(y, dy, axis, log);
      mdt::check_close(dx, softmax_backward_ref(y.to_vector(), dy.to_vector(), x.shape(), positive, log), kRtol, kAtol,
                       "compute::softmax_backward axis " + std::to_string(axis));
    }
  }
  // Rows of a softmax sum to one.
  const md::Tensor rows = md::compute::reduce(md::backend::ReduceOp::sum, md::compute::softmax(x, -1), {-1});
  mdt::check_close(rows, std::vector<double>(6, 1.0), 1e-6, 0.0, "row sums");

  CHECK_THROWS_AS(md::compute::softmax(x, 3), md::IndexError);
  CHECK_THROWS_WITH(md::compute::softmax(x, -4), Catch::Contains("-4") && Catch::Contains("rank 3"));
  CHECK_THROWS_AS(md::compute::softmax(md::Tensor::scalar(1.0f), 0), md::ValueError);
  CHECK_THROWS_AS(md::compute::softmax_backward(x, md::Tensor::ones({2, 4, 3}), -1), md::ShapeError);
  CHECK_THROWS_WITH(md::compute::softmax_backward(x, md::Tensor::ones({2, 4, 3}), -1),
                    Catch::Contains("(2, 3, 4)") && Catch::Contains("(2, 4, 3)"));
}
