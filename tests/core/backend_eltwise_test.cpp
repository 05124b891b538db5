// backend::eltwise_forward / eltwise_backward and compute::eltwise(_backward) against the
// std:: formulas, for every EltwiseOp (and the alpha/beta variants), on several lengths.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <numbers>
#include <random>
#include <string>
#include <vector>

#include "test_helpers.h"

namespace {

using md::backend::EltwiseOp;

struct EltwiseCase {
  EltwiseOp op;
  float alpha, beta;
  float lo, hi;  // input domain
};

// Domains keep log/sqrt positive and stay away from the kinks of relu/abs/clip at 0 and the
// clip bounds only by chance (random floats never hit them exactly).
const EltwiseCase kCases[] = {
    {EltwiseOp::tanh, 0, 0, -3, 3},          {EltwiseOp::exp, 0, 0, -5, 5},         {EltwiseOp::log, 0, 0, 0.05f, 5},
    {EltwiseOp::relu, 0, 0, -2, 2},          {EltwiseOp::relu, 0.1f, 0, -2, 2},     {EltwiseOp::sigmoid, 0, 0, -6, 6},
    {EltwiseOp::sqrt, 0, 0, 0.05f, 5},       {EltwiseOp::abs, 0, 0, -2, 2},         {EltwiseOp::square, 0, 0, -3, 3},
    {EltwiseOp::gelu, 0, 0, -4, 4},          {EltwiseOp::gelu_tanh, 0, 0, -4, 4},   {EltwiseOp::soft_relu, 0, 0, -8, 8},
    {EltwiseOp::linear, 1.5f, -0.5f, -2, 2}, {EltwiseOp::clip, -0.5f, 0.7f, -2, 2}, {EltwiseOp::pow, 0.5f, 3.0f, -2, 2},
    {EltwiseOp::pow, 2.0f, 0.5f, 0.05f, 4},
};

constexpr double kSqrt2OverPi = 0.79788456080286535588;  // sqrt(2 / pi)
constexpr double kGeluTanhCoef = 0.044715;

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

double forward_ref(const EltwiseCase& c, double x) {
  const double alpha = c.alpha, beta = c.beta;
  switch (c.op) {
    case EltwiseOp::tanh:
      return std::tanh(x);
    case EltwiseOp::exp:
      return std::exp(x);
    case EltwiseOp::log:
      return std::log(x);
    case EltwiseOp::relu:
      return x > 0 ? x : alpha * x;
    case EltwiseOp::sigmoid:
      return sigmoid(x);
    case EltwiseOp::sqrt:
      return std::sqrt(x);
    case EltwiseOp::abs:
      return std::fabs(x);
    case EltwiseOp::square:
      return x * x;
    case EltwiseOp::gelu:
      return 0.5 * x * (1.0 + std::erf(x / std::numbers::sqrt2));
    case EltwiseOp::gelu_tanh:
      return 0.5 * x * (1.0 + std::tanh(kSqrt2OverPi * (x + kGeluTanhCoef * x * x * x)));
    case EltwiseOp::soft_relu:
      return std::log1p(std::exp(x));
    case EltwiseOp::linear:
      return alpha * x + beta;
    case EltwiseOp::clip:
      return std::min(std::max(x, alpha), beta);
    case EltwiseOp::pow:
      return alpha * std::pow(x, beta);
  }
  return 0.0;
}

// d f(x) / dx.
double derivative_ref(const EltwiseCase& c, double x) {
  const double alpha = c.alpha, beta = c.beta;
  switch (c.op) {
    case EltwiseOp::tanh:
      return 1.0 - std::tanh(x) * std::tanh(x);
    case EltwiseOp::exp:
      return std::exp(x);
    case EltwiseOp::log:
      return 1.0 / x;
    case EltwiseOp::relu:
      return x > 0 ? 1.0 : alpha;
    case EltwiseOp::sigmoid:
      return sigmoid(x) * (1.0 - sigmoid(x));
    case EltwiseOp::sqrt:
      return 0.5 / std::sqrt(x);
    case EltwiseOp::abs:
      return x > 0 ? 1.0 : (x < 0 ? -1.0 : 0.0);
    case EltwiseOp::square:
      return 2.0 * x;
    case EltwiseOp::gelu:
      return 0.5 * (1.0 + std::erf(x / std::numbers::sqrt2)) +
             x * std::exp(-0.5 * x * x) / std::sqrt(2.0 * std::numbers::pi);
    case EltwiseOp::gelu_tanh: {
      const double t = std::tanh(kSqrt2OverPi * (x + kGeluTanhCoef * x * x * x));
      return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * kSqrt2OverPi * (1.0 + 3.0 * kGeluTanhCoef * x * x);
    }
    case EltwiseOp::soft_relu:
      return sigmoid(x);
    case EltwiseOp::linear:
      return alpha;
    case EltwiseOp::clip:
      return (x > alpha && x < beta) ? 1.0 : 0.0;
    case EltwiseOp::pow:
      return alpha * beta * std::pow(x, beta - 1.0);
  }
  return 0.0;
}

std::string describe(const EltwiseCase& c, int64_t n) {
  return std::string(md::backend::eltwise_op_name(c.op)) + " alpha=" + std::to_string(c.alpha) +
         " beta=" + std::to_string(c.beta) + " n=" + std::to_string(n);
}

// oneDNN's JIT kernels evaluate exp/tanh/erf with polynomial approximations accurate to a few
// float ulps, so a relative 1e-5 (plus a tiny absolute term for results near 0) is the bar.
constexpr double kEltwiseRtol = 1e-5;
constexpr double kAtol = 1e-6;

// Except oneDNN 2.6's log (jit:avx512_core), which is only accurate to an absolute ~3.7e-6
// (log(1) gives -1.4e-6), and soft_relu = log(1 + exp(x)), which inherits it (max 1.9e-6 on
// [-20, 20], so its relative error is large for very negative x). Measured over 2e6 points.
double forward_atol(EltwiseOp op) { return (op == EltwiseOp::log || op == EltwiseOp::soft_relu) ? 5e-6 : kAtol; }

}  // namespace

TEST_CASE("eltwise_forward matches the std:: formulas for every op", "[backend][eltwise]") {
  std::mt19937 rng(3);
  for (const EltwiseCase& c : kCases) {
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{70000}}) {
      const std::vector<float> x = mdt::random_values(rng, n, c.lo, c.hi);
      std::vector<float> y(n);
      md::backend::eltwise_forward(c.op, x.data(), y.data(), n, c.alpha, c.beta);
      std::vector<double> expected(n);
      for (int64_t i = 0; i < n; ++i) expected[i] = forward_ref(c, x[i]);
      mdt::check_close(y.data(), expected, kEltwiseRtol, forward_atol(c.op), "forward " + describe(c, n));
    }
  }
}

TEST_CASE("eltwise_forward works in place and ignores n = 0", "[backend][eltwise]") {
  std::vector<float> x = {-1.0f, 0.5f, 2.0f};
  md::backend::eltwise_forward(EltwiseOp::relu, x.data(), x.data(), 3);
  CHECK(x == std::vector<float>{0.0f, 0.5f, 2.0f});
  std::vector<float> untouched = {42.0f};
  md::backend::eltwise_forward(EltwiseOp::exp, untouched.data(), untouched.data(), 0);
  md::backend::eltwise_backward(EltwiseOp::log, untouched.data(), nullptr, untouched.data(), untouched.data(), 0);
  CHECK(untouched[0] == 42.0f);
}

TEST_CASE("eltwise_backward matches the analytic derivatives for every op", "[backend][eltwise]") {
  std::mt19937 rng(4);
  for (const EltwiseCase& c : kCases) {
    const bool uses_output = md::backend::eltwise_backward_uses_output(c.op);
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{1000}, int64_t{70000}}) {
      const std::vector<float> x = mdt::random_values(rng, n, c.lo, c.hi);
      const std::vector<float> dy = mdt::random_values(rng, n, -1.0f, 1.0f);
      std::vector<float> y(n), dx(n);
      md::backend::eltwise_forward(c.op, x.data(), y.data(), n, c.alpha, c.beta);
      md::backend::eltwise_backward(c.op, uses_output ? nullptr : x.data(), uses_output ? y.data() : nullptr, dy.data(),
                                    dx.data(), n, c.alpha, c.beta);
      std::vector<double> expected(n);
      for (int64_t i = 0; i < n; ++i) expected[i] = static_cast<double>(dy[i]) * derivative_ref(c, x[i]);
      mdt::check_close(dx.data(), expected, kEltwiseRtol, kAtol, "backward " + describe(c, n));
    }
  }
}

TEST_CASE("eltwise_backward reads the forward output exactly for tanh, exp, sigmoid and sqrt", "[backend][eltwise]") {
  CHECK(md::backend::eltwise_backward_uses_output(EltwiseOp::tanh));
  CHECK(md::backend::eltwise_backward_uses_output(EltwiseOp::exp));
  CHECK(md::backend::eltwise_backward_uses_output(EltwiseOp::sigmoid));
  CHECK(md::backend::eltwise_backward_uses_output(EltwiseOp::sqrt));
  for (EltwiseOp op :
       {EltwiseOp::log, EltwiseOp::relu, EltwiseOp::abs, EltwiseOp::square, EltwiseOp::gelu, EltwiseOp::gelu_tanh,
        EltwiseOp::soft_relu, EltwiseOp::linear, EltwiseOp::clip, EltwiseOp::pow}) {
    INFO(md::backend::eltwise_op_name(op));
    CHECK_FALSE(md::backend::eltwise_backward_uses_output(op));
  }
  // Given y directly (no x at all), the derivative is the formula in y.
  const std::vector<float> y = {0.25f, 0.5f, 0.75f};
  const std::vector<float> dy = {1.0f, 2.0f, -1.0f};
  std::vector<float> dx(3);
  md::backend::eltwise_backward(EltwiseOp::sigmoid, nullptr, y.data(), dy.data(), dx.data(), 3);
  mdt::check_close(dx.data(), {1.0 * 0.25 * 0.75, 2.0 * 0.5 * 0.5, -1.0 * 0.75 * 0.25}, 1e-6, 0.0, "sigmoid from y");
  md::backend::eltwise_backward(EltwiseOp::tanh, nullptr, y.data(), dy.data(), dx.data(), 3);
  mdt::check_close(dx.data(), {1.0 - 0.0625, 2.0 * 0.75, -1.0 * (1.0 - 0.5625)}, 1e-6, 0.0, "tanh from y");
  md::backend::eltwise_backward(EltwiseOp::exp, nullptr, y.data(), dy.data(), dx.data(), 3);
  mdt::check_close(dx.data(), {0.25, 1.0, -0.75}, 1e-6, 0.0, "exp from y");
  md::backend::eltwise_backward(EltwiseOp::sqrt, nullptr, y.data(), dy.data(), dx.data(), 3);
  mdt::check_close(dx.data(), {1.0 / 0.5, 2.0 / 1.0, -1.0 / 1.5}, 1e-6, 0.0, "sqrt from y");
}

TEST_CASE("compute::eltwise and compute::eltwise_backward keep shapes and call the backend", "[compute][eltwise]") {
  std::mt19937 rng(8);
  for (const EltwiseCase& c : kCases) {
    const md::Tensor x = mdt::random_tensor(rng, {2, 3, 4}, c.lo, c.hi);
    const md::Tensor dy = mdt::random_tensor(rng, {2, 3, 4}, -1.0f, 1.0f);
    const md::Tensor y = md::compute::eltwise(c.op, x, c.alpha, c.beta);
    CHECK(y.shape() == md::Shape{2, 3, 4});
    CHECK(y.dtype() == md::DType::float32);
    const std::vector<float> xv = x.to_vector(), dyv = dy.to_vector();
    std::vector<double> fwd(xv.size()), bwd(xv.size());
    for (size_t i = 0; i < xv.size(); ++i) {
      fwd[i] = forward_ref(c, xv[i]);
      bwd[i] = dyv[i] * derivative_ref(c, xv[i]);
    }
    mdt::check_close(y, fwd, kEltwiseRtol, forward_atol(c.op), "compute::eltwise " + describe(c, 24));
    // The tensor the op does not read may be undefined.
    const bool uses_output = md::backend::eltwise_backward_uses_output(c.op);
    const md::Tensor dx = md::compute::eltwise_backward(c.op, uses_output ? md::Tensor() : x,
                                                        uses_output ? y : md::Tensor(), dy, c.alpha, c.beta);
    CHECK(dx.shape() == md::Shape{2, 3, 4});
    mdt::check_close(dx, bwd, kEltwiseRtol, kAtol, "compute::eltwise_backward " + describe(c, 24));
  }
  // A scalar and an empty tensor.
  CHECK(md::compute::eltwise(EltwiseOp::square, md::Tensor::scalar(3.0f)).item() == 9.0f);
  const md::Tensor empty = md::compute::eltwise(EltwiseOp::exp, md::Tensor::zeros({0, 3}));
  CHECK(empty.shape() == md::Shape{0, 3});
  CHECK(empty.size() == 0);
}

TEST_CASE("compute::eltwise_backward rejects a gradient of another shape", "[compute][eltwise][errors]") {
  const md::Tensor x = md::Tensor::ones({2, 3});
  const md::Tensor dy = md::Tensor::ones({3, 2});
  CHECK_THROWS_AS(md::compute::eltwise_backward(EltwiseOp::square, x, md::Tensor(), dy), md::ShapeError);
  CHECK_THROWS_WITH(md::compute::eltwise_backward(EltwiseOp::square, x, md::Tensor(), dy),
                    Catch::Contains("(2, 3)") && Catch::Contains("(3, 2)"));
}
