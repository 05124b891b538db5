// Ops without gradients (comparisons, logic, argmax, one_hot, integer casts): their values, and
// that a gradient through them is undefined (nothing connects) or zero (a constant factor).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"

namespace md = minidl;

TEST_CASE("comparisons give bool tensors with broadcasting", "[autograd][nondifferentiable]") {
  const md::Tensor a = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const md::Tensor b = md::Tensor::from_vector({2, 2, 7}, {3});
  struct Case {
    const char* name;
    md::Tensor value;
    std::vector<double> expected;
  };
  const std::vector<Case> cases = {
      {"equal", md::ops::equal(a, b), {0, 1, 0, 0, 0, 0}},
      {"not_equal", md::ops::not_equal(a, b), {1, 0, 1, 1, 1, 1}},
      {"less", md::ops::less(a, b), {1, 0, 1, 0, 0, 1}},
      {"less_equal", md::ops::less_equal(a, b), {1, 1, 1, 0, 0, 1}},
      {"greater", md::ops::greater(a, b), {0, 0, 0, 1, 1, 0}},
      {"greater_equal", md::ops::greater_equal(a, b), {0, 1, 0, 1, 1, 0}},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    CHECK(c.value.dtype() == md::DType::bool_);
    CHECK(c.value.shape() == md::Shape{2, 3});
    agt::check_close(c.value, c.expected, 0.0, c.name);
  }
}

TEST_CASE("logical ops treat non-zero as true", "[autograd][nondifferentiable]") {
  const md::Tensor p = md::Tensor::from_vector({0, 0, 1, 1}, {4}, md::DType::bool_);
  const md::Tensor q = md::Tensor::from_vector({0, 2.5f, 0, -1}, {4});
  const md::Tensor band = md::ops::logical_and(p, q);
  const md::Tensor bor = md::ops::logical_or(p, q);
  const md::Tensor bnot = md::ops::logical_not(q);
  CHECK(band.dtype() == md::DType::bool_);
  CHECK(bor.dtype() == md::DType::bool_);
  CHECK(bnot.dtype() == md::DType::bool_);
  agt::check_close(band, std::vector<double>{0, 0, 0, 1}, 0.0, "and");
  agt::check_close(bor, std::vector<double>{0, 1, 1, 1}, 0.0, "or");
  agt::check_close(bnot, std::vector<double>{1, 0, 1, 0}, 0.0, "not");
}

TEST_CASE("argmax picks the first of ties and returns int32", "[autograd][nondifferentiable]") {
  const md::Tensor x = md::Tensor::from_vector({1, 5, 5, 2,  //
                                                7, 0, 7, 7,  //
                                                -1, -2, -3, -0.5f},
                                               {3, 4});
  const md::Tensor rows = md::ops::argmax(x);
  CHECK(rows.dtype() == md::DType::int32);
  CHECK(rows.shape() == md::Shape{3});
  agt::check_close(rows, std::vector<double>{1, 0, 3}, 0.0, "argmax axis -1");
  const md::Tensor cols = md::ops::argmax(x, 0);
  agt::check_close(cols, std::vector<double>{1, 0, 1, 1}, 0.0, "argmax axis 0");
}

TEST_CASE("one_hot rows, zero rows for out-of-range indices", "[autograd][nondifferentiable]") {
  const md::Tensor idx = md::Tensor::from_vector({0, 2, -1, 3, 1, 2}, {2, 3}, md::DType::int32);
  const md::Tensor oh = md::ops::one_hot(idx, 3);
  CHECK(oh.dtype() == md::DType::float32);
  REQUIRE(oh.shape() == md::Shape{2, 3, 3});
  agt::check_close(oh,
                   std::vector<double>{1, 0, 0, 0, 0, 1, 0, 0, 0,  //
                                       0, 0, 0, 0, 1, 0, 0, 0, 1},
                   0.0, "one_hot");
  CHECK(md::ops::one_hot(idx, 0).shape() == md::Shape{2, 3, 0});
}

TEST_CASE("gradients through non-differentiable ops are undefined or zero", "[autograd][nondifferentiable]") {
  const md::Tensor x = md::Tensor::from_vector({0.5f, -1.0f, 2.0f}, {3});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(x);

  SECTION("a comparison cast back to float: nothing connects") {
    const md::Tensor y = md::ops::sum(md::ops::cast(md::ops::greater(x, md::Tensor::scalar(0.0f)), md::DType::float32));
    CHECK(y.item() == 2.0f);
    CHECK_FALSE(tape.gradient(y, {x})[0].defined());
  }
  SECTION("argmax then one_hot: nothing connects") {
    const md::Tensor y = md::ops::sum(md::ops::one_hot(md::ops::argmax(x), 3));
    CHECK(y.item() == 1.0f);
    CHECK_FALSE(tape.gradient(y, {x})[0].defined());
  }
  SECTION("an integer round trip: nothing connects") {
    const md::Tensor y = md::ops::sum(md::ops::cast(md::ops::cast(x * 3.0f, md::DType::int32), md::DType::float32));
    CHECK(y.item() == 1.0f - 3.0f + 6.0f);
    CHECK_FALSE(tape.gradient(y, {x})[0].defined());
  }
  SECTION("a float-to-float cast is the identity, gradient included") {
    const md::Tensor y = md::ops::sum(md::ops::cast(x, md::DType::float32) * 2.0f);
    agt::check_close(tape.gradient(y, {x})[0], std::vector<double>{2, 2, 2}, 0.0, "d/dx");
  }
  SECTION("a mask from a comparison is a constant factor") {
    const md::Tensor mask = md::ops::cast(md::ops::greater(x, md::Tensor::scalar(0.0f)), md::DType::float32);
    const md::Tensor y = md::ops::sum(x * mask);
    agt::check_close(tape.gradient(y, {x})[0], std::vector<double>{1, 0, 1}, 0.0, "d/dx = mask");
  }
  SECTION("where with a comparison condition") {
    const md::Tensor y = md::ops::sum(md::ops::where(md::ops::less(x, md::Tensor::scalar(0.0f)), x * x, x * 3.0f));
    agt::check_close(tape.gradient(y, {x})[0], std::vector<double>{3, -2, 3}, 0.0, "d/dx");
  }
  SECTION("one_hot of float indices that are watched: no gradient to the indices") {
    const md::Tensor idx = md::Tensor::from_vector({0, 2}, {2});
    tape.watch(idx);
    const md::Tensor y = md::ops::sum(md::ops::one_hot(idx, 3) * x);
    const auto g = tape.gradient(y, {x, idx});
    agt::check_close(g[0], std::vector<double>{1, 0, 1}, 0.0, "d/dx");
    CHECK_FALSE(g[1].defined());
  }
}

TEST_CASE("dropout with a fixed seed: the gradient is the mask", "[autograd][dropout]") {
  std::mt19937 rng(801);
  const md::Tensor x = agt::uniform(rng, {4, 4, 3});
  const float rate = 0.4f;
  const uint64_t seed = 1234;
  const md::Tensor mask = md::random::dropout_mask(x.shape(), rate, seed);
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = md::ops::dropout(x, rate, seed);
  const std::vector<float> xv = x.to_vector(), yv = y.to_vector(), mv = mask.to_vector();
  std::vector<double> expected;
  int64_t zeros = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    INFO("element " << i);
    REQUIRE((mv[i] == 0.0f || mv[i] == Approx(1.0f / (1.0f - rate))));
    zeros += mv[i] == 0.0f;
    expected.push_back(static_cast<double>(xv[i]) * mv[i]);
  }
  CHECK(zeros > 0);
  CHECK(zeros < static_cast<int64_t>(xv.size()));
  agt::check_close(y, expected, 1e-6, "dropout forward");
  agt::check_close(tape.gradient(y, {x})[0], mask, 0.0, "gradient = mask");
  // Deterministic: the same seed gives the same mask, another seed a different one.
  agt::check_close(md::ops::dropout(x, rate, seed), y, 0.0, "same seed");
  CHECK(md::ops::dropout(x, rate, seed + 1).to_vector() != yv);
}

TEST_CASE("gradcheck: dropout with a fixed seed", "[autograd][gradcheck][dropout]") {
  std::mt19937 rng(802);
  agt::check_gradients("dropout(0.3)", [](const agt::Inputs& in) { return md::ops::dropout(in[0], 0.3f, 77); },
                       {agt::uniform(rng, {3, 4})});
  agt::check_gradients("tanh(dropout(x, 0.5) * x)",
                       [](const agt::Inputs& in) { return md::ops::tanh(md::ops::dropout(in[0], 0.5f, 78) * in[0]); },
                       {agt::uniform(rng, {3, 4}, -1.0f, 1.0f)});
  // rate 0 is the identity.
  const md::Tensor x = agt::uniform(rng, {2, 2});
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = md::ops::dropout(x, 0.0f, 5);
  agt::check_close(y, x, 0.0, "rate 0");
  agt::check_close(tape.gradient(y, {x})[0], std::vector<double>(4, 1.0), 0.0, "rate 0 gradient");
}
