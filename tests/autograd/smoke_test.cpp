#include <catch2/catch.hpp>
#include <minidl/minidl.h>

namespace md = minidl;

TEST_CASE("tanh gradient and second derivative through nested tapes", "[autograd]") {
  md::Tensor x = md::Tensor::from_vector({0.5f, -1.0f, 2.0f}, {3});
  md::GradientTape outer;
  outer.watch(x);
  md::GradientTape inner;
  inner.watch(x);
  md::Tensor y = md::ops::tanh(x);
  md::Tensor dy = inner.gradient(y, {x})[0];
  md::Tensor d2y = outer.gradient(dy, {x})[0];
  for (int i = 0; i < 3; ++i) {
    const float v = x.to_vector()[i];
    const float t = std::tanh(v);
    CHECK(dy.to_vector()[i] == Approx(1 - t * t).margin(1e-6));
    CHECK(d2y.to_vector()[i] == Approx(-2 * t * (1 - t * t)).margin(1e-5));
  }
}

TEST_CASE("gradcheck of a small expression", "[autograd]") {
  md::Tensor a = md::random::normal({3, 4}, 0, 1, 1);
  md::Tensor b = md::random::normal({4, 2}, 0, 1, 2);
  auto f = [](const std::vector<md::Tensor>& in) { return md::ops::softmax(md::ops::tanh(md::ops::matmul(in[0], in[1])), -1); };
  auto r = md::testing::gradcheck(f, {a, b});
  INFO(r.describe());
  CHECK(r.max_relative_error < 1e-2);
  auto r2 = md::testing::gradgradcheck(f, {a, b});
  INFO(r2.describe());
  CHECK(r2.max_relative_error < 1e-2);
}
