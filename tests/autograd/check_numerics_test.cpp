// md::debug::enable_check_numerics (issue 18, numerical faults): the first op whose output or
// gradient holds NaN or infinity throws FloatingPointError naming it; off, the values pass
// through as IEEE arithmetic gives them (nan_propagation_test.cpp).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <vector>

namespace md = minidl;

namespace {

// The switch is global: every test turns it off again, even when a check fails.
struct CheckNumericsOn {
  CheckNumericsOn() { md::debug::enable_check_numerics(); }
  ~CheckNumericsOn() { md::debug::disable_check_numerics(); }
};

}  // namespace

TEST_CASE("check_numerics: off by default, values pass through", "[autograd][check_numerics]") {
  CHECK_FALSE(md::debug::check_numerics_enabled());
  const md::Tensor y = md::ops::log(md::Tensor::from_vector({0.0f, -1.0f, 2.0f}, {3}));
  CHECK(std::isinf(y.to_vector()[0]));
  CHECK(std::isnan(y.to_vector()[1]));
}

TEST_CASE("check_numerics: the op that produced the value, how many and where", "[autograd][check_numerics]") {
  const CheckNumericsOn on;
  const md::Tensor x = md::Tensor::from_vector({0.0f, -1.0f, 2.0f}, {3});
  CHECK_THROWS_AS(md::ops::log(x), md::FloatingPointError);
  CHECK_THROWS_WITH(md::ops::log(x),
                    "op 'Log' produced NaN in output 0 (1 of 3 values NaN, 1 infinite; the first at index 0, shape "
                    "(3,)) from finite inputs (md::debug::check_numerics).");
  CHECK_THROWS_WITH(md::ops::exp(md::Tensor::from_vector({1.0f, 200.0f}, {1, 2})),
                    "op 'Exp' produced an infinite value in output 0 (0 of 2 values NaN, 1 infinite; the first at "
                    "index 1, shape (1, 2)) from finite inputs (md::debug::check_numerics).");
  // Finite results pass, and the check leaves them alone.
  CHECK(md::ops::exp(md::Tensor::from_vector({0.0f}, {1})).to_vector() == std::vector<float>{1.0f});
}

TEST_CASE("check_numerics: a NaN from outside the ops names the input it came in", "[autograd][check_numerics]") {
  const CheckNumericsOn on;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(md::ops::add(md::Tensor::from_vector({1.0f, 2.0f}, {2}), md::Tensor::from_vector({3.0f, nan}, {2})),
                    "op 'Add' received NaN in input 1 (1 of 2 values NaN, 0 infinite; the first at index 1, shape (2,)), "
                    "a value no checked op produced: it came from the data or a weight (md::debug::check_numerics).");
}

TEST_CASE("check_numerics: a gradient rule's NaN or infinity names the op differentiated", "[autograd][check_numerics]") {
  const md::Tensor x = md::Tensor::from_vector({0.0f, 4.0f}, {2});
  SECTION("off: d sqrt(x)/dx at 0 is infinite, silently") {
    md::GradientTape tape;
    tape.watch(x);
    const md::Tensor y = md::ops::sum(md::ops::sqrt(x));
    CHECK(std::isinf(tape.gradient(y, {x})[0].to_vector()[0]));
  }
  SECTION("on: the error says whose gradient") {
    const CheckNumericsOn on;
    md::GradientTape tape;
    tape.watch(x);
    const md::Tensor y = md::ops::sum(md::ops::sqrt(x));  // sqrt(0) = 0: the forward is finite
    CHECK_THROWS_AS(tape.gradient(y, {x}), md::FloatingPointError);
  }
  SECTION("on: the message") {
    const CheckNumericsOn on;
    md::GradientTape tape;
    tape.watch(x);
    const md::Tensor y = md::ops::sum(md::ops::sqrt(x));
    CHECK_THROWS_WITH(tape.gradient(y, {x}), Catch::StartsWith("in the gradient of op 'Sqrt': ") &&
                                                 Catch::Contains("infinite value") &&
                                                 Catch::EndsWith("(md::debug::check_numerics)."));
  }
}

TEST_CASE("check_numerics: inside fit the message names the step and the layer", "[autograd][check_numerics]") {
  const md::Tensor in = md::Input({1});
  const md::Tensor h = md::layers::Dense({.units = 1, .name = "boom"})(in);
  md::Model model(in, md::layers::Activation({.activation = "exponential", .name = "blow_up"})(h));
  // A rate of 0 keeps the weights: the second batch's 10 overflows exp(100 x).
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 0.0}), .loss = "mse"});
  model.get_layer("boom")->set_weights({md::Tensor::from_vector({100.0f}, {1, 1}), md::Tensor::zeros({1})});
  const md::Tensor x = md::Tensor::from_vector({0.1f, 0.2f, 10.0f, 0.3f}, {4, 1});
  const md::Tensor y = md::Tensor::zeros({4, 1});
  SECTION("off: the loss check of fit stops it") {
    CHECK_THROWS_WITH(model.fit(x, y, {.epochs = 2, .batch_size = 2, .verbose = 0, .shuffle = false}),
                      Catch::StartsWith("The loss became infinite at epoch 1/2, step 2/2"));
  }
  SECTION("on: the first op, in its layer, at its step") {
    const CheckNumericsOn on;
    CHECK_THROWS_WITH(model.fit(x, y, {.epochs = 2, .batch_size = 2, .verbose = 0, .shuffle = false}),
                      Catch::StartsWith("epoch 1/2, step 2/2: layer '") &&
                          Catch::Contains("layer 'blow_up' (Activation): op 'Exp' produced an infinite value"));
  }
}
