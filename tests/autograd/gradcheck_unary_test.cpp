// Unary elementwise ops: tape gradients against finite differences (first and second order),
// on scalars and random shapes up to rank 3, with inputs kept away from kinks and domain edges.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <numbers>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

// A scalar, a vector and two random shapes of rank 2 and 3.
std::vector<agt::Dims> unary_shapes(std::mt19937& rng) {
  return {agt::Dims{}, agt::random_shape(rng, 1), agt::random_shape(rng, 2), agt::random_shape(rng, 3)};
}

using UnaryFn = md::Tensor (*)(const md::Tensor&);

struct Case {
  const char* name;
  UnaryFn fn;
  float lo, hi;              // input range
  std::vector<float> kinks;  // points to keep 0.05 away from
  bool smooth;               // also gradgradcheck
};

}  // namespace

TEST_CASE("gradcheck: unary elementwise ops on random shapes", "[autograd][gradcheck][unary]") {
  const std::vector<Case> cases = {
      {"negative", [](const md::Tensor& x) { return md::ops::negative(x); }, -2.0f, 2.0f, {}, true},
      {"square", [](const md::Tensor& x) { return md::ops::square(x); }, -2.0f, 2.0f, {}, true},
      {"sqrt", [](const md::Tensor& x) { return md::ops::sqrt(x); }, 0.5f, 2.0f, {}, true},
      {"exp", [](const md::Tensor& x) { return md::ops::exp(x); }, -2.0f, 1.5f, {}, true},
      {"log", [](const md::Tensor& x) { return md::ops::log(x); }, 0.5f, 3.0f, {}, true},
      {"abs", [](const md::Tensor& x) { return md::ops::abs(x); }, -2.0f, 2.0f, {0.0f}, true},
      {"tanh", [](const md::Tensor& x) { return md::ops::tanh(x); }, -2.0f, 2.0f, {}, true},
      {"sigmoid", [](const md::Tensor& x) { return md::ops::sigmoid(x); }, -3.0f, 3.0f, {}, true},
      {"relu", [](const md::Tensor& x) { return md::ops::relu(x); }, -2.0f, 2.0f, {0.0f}, true},
      {"softplus", [](const md::Tensor& x) { return md::ops::softplus(x); }, -3.0f, 3.0f, {}, true},
      {"gelu (erf)", [](const md::Tensor& x) { return md::ops::gelu(x, /*approximate=*/false); }, -3.0f, 3.0f, {}, true},
      {"gelu (tanh)",
       [](const md::Tensor& x) { return md::ops::gelu(x, /*approximate=*/true); },
       -3.0f,
       3.0f,
       {},
       true},
      {"clip(-0.5, 0.7)",
       [](const md::Tensor& x) { return md::ops::clip(x, -0.5f, 0.7f); },
       -1.5f,
       1.5f,
       {-0.5f, 0.7f},
       true},
  };
  std::mt19937 rng(101);
  for (const Case& c : cases) {
    for (const agt::Dims& shape : unary_shapes(rng)) {
      const md::Tensor x = agt::away_from(rng, shape, c.kinks, 0.05f, c.lo, c.hi);
      const UnaryFn f = c.fn;
      agt::check_gradients(
          c.name, [f](const agt::Inputs& in) { return f(in[0]); }, {x}, c.smooth);
    }
  }
}

TEST_CASE("gradcheck: power with several exponents", "[autograd][gradcheck][unary]") {
  std::mt19937 rng(102);
  for (float exponent : {2.0f, 3.0f, 0.5f, -1.0f, -1.5f, 2.5f, 1.0f, 0.0f}) {
    for (const agt::Dims& shape : unary_shapes(rng)) {
      const md::Tensor x = agt::uniform(rng, shape, 0.5f, 2.0f);
      agt::check_gradients("power(x, " + std::to_string(exponent) + ")",
                           [exponent](const agt::Inputs& in) { return md::ops::power(in[0], exponent); }, {x});
    }
  }
  // Integer exponents are defined for negative bases too.
  for (float exponent : {2.0f, 3.0f}) {
    const md::Tensor x = agt::away_from(rng, {2, 3}, {0.0f}, 0.05f, -2.0f, 2.0f);
    agt::check_gradients("power(x, " + std::to_string(exponent) + ") on negative bases",
                         [exponent](const agt::Inputs& in) { return md::ops::power(in[0], exponent); }, {x});
  }
}

TEST_CASE("gradcheck: chains of unary ops", "[autograd][gradcheck][unary]") {
  std::mt19937 rng(103);
  const md::Tensor x = agt::uniform(rng, {2, 3}, -1.5f, 1.5f);
  agt::check_gradients(
      "tanh(exp(x) * sigmoid(x))",
      [](const agt::Inputs& in) { return md::ops::tanh(md::ops::exp(in[0]) * md::ops::sigmoid(in[0])); }, {x});
  agt::check_gradients(
      "log(softplus(x) + 0.5) * gelu(x)",
      [](const agt::Inputs& in) { return md::ops::log(md::ops::softplus(in[0]) + 0.5f) * md::ops::gelu(in[0], false); }, {x});
  agt::check_gradients("sqrt(square(x) + 1)",
                       [](const agt::Inputs& in) { return md::ops::sqrt(md::ops::square(in[0]) + 1.0f); }, {x});
  // The same input used by several ops: gradients accumulate.
  agt::check_gradients("x * exp(x) - tanh(x)",
                       [](const agt::Inputs& in) { return in[0] * md::ops::exp(in[0]) - md::ops::tanh(in[0]); }, {x});
}

TEST_CASE("unary gradients match their closed forms", "[autograd][unary]") {
  const std::vector<float> xs = {-1.7f, -0.6f, 0.3f, 1.2f};
  const md::Tensor x = md::Tensor::from_vector(xs, {4});
  auto grad_of = [&](UnaryFn f) {
    md::GradientTape tape;
    tape.watch(x);
    return tape.gradient(f(x), {x})[0];
  };
  std::vector<double> relu, absv, sig, softplus, gelu, clip;
  for (float v : xs) {
    const double s = 1.0 / (1.0 + std::exp(-v));
    relu.push_back(v > 0 ? 1.0 : 0.0);
    absv.push_back(v > 0 ? 1.0 : -1.0);
    sig.push_back(s * (1 - s));
    softplus.push_back(s);
    gelu.push_back(0.5 * (1 + std::erf(v / std::sqrt(2.0))) +
                   v * std::exp(-0.5 * v * v) / std::sqrt(2 * std::numbers::pi));
    clip.push_back(v >= -1.0 && v <= 1.0 ? 1.0 : 0.0);
  }
  agt::check_close(grad_of([](const md::Tensor& t) { return md::ops::relu(t); }), relu, 1e-6, "relu'");
  agt::check_close(grad_of([](const md::Tensor& t) { return md::ops::abs(t); }), absv, 1e-6, "abs'");
  agt::check_close(grad_of([](const md::Tensor& t) { return md::ops::sigmoid(t); }), sig, 1e-5, "sigmoid'");
  agt::check_close(grad_of([](const md::Tensor& t) { return md::ops::softplus(t); }), softplus, 1e-5, "softplus'");
  agt::check_close(grad_of([](const md::Tensor& t) { return md::ops::gelu(t, false); }), gelu, 1e-4, "gelu'");
  agt::check_close(grad_of([](const md::Tensor& t) { return md::ops::clip(t, -1.0f, 1.0f); }), clip, 0.0, "clip'");
}

TEST_CASE("clip passes the gradient on its bounds (TensorFlow's rule)", "[autograd][unary]") {
  const md::Tensor x = md::Tensor::from_vector({-2.0f, -1.0f, 0.0f, 1.0f, 2.0f}, {5});
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = md::ops::clip(x, -1.0f, 1.0f);
  agt::check_close(y, std::vector<double>{-1, -1, 0, 1, 1}, 0.0, "clip forward");
  agt::check_close(tape.gradient(y, {x})[0], std::vector<double>{0, 1, 1, 1, 0}, 0.0, "clip gradient");
}
