// The base optimizer: apply() checks and Keras's messages, skipped gradients, iterations,
// learning rates (floats and schedules), shared state of copies, storage versions, and a small
// training loop through a GradientTape.
#include "optim_test_helpers.h"

namespace md = minidl;
using optim_test::Values;

TEST_CASE("apply() refuses mismatched gradients with clear errors", "[optim][apply][errors]") {
  md::optim::SGD opt;
  md::Variable w = optim_test::make_variable();
  md::Variable b = optim_test::make_variable({0.0}, "b");
  const md::Tensor g = optim_test::tensor_of(optim_test::kGrads[0]);

  SECTION("count") {
    REQUIRE_THROWS_AS(opt.apply({g}, {w, b}), md::ValueError);
    REQUIRE_THROWS_WITH(opt.apply({g}, {w, b}),
                        Catch::Contains("received 1 gradients for 2 variables; apply() needs one gradient per "
                                        "variable, in the same order"));
    CHECK_FALSE(opt.built());
  }
  SECTION("shape") {
    b.set_path("dense/bias");
    REQUIRE_THROWS_AS(opt.apply({g, g}, {w, b}), md::ShapeError);
    REQUIRE_THROWS_WITH(opt.apply({g, g}, {w, b}),
                        "The gradient for variable 'dense/bias' (position 1) has shape (3,), but the variable has "
                        "shape (1,).");
    CHECK(opt.iterations() == 0);
  }
  SECTION("no gradient at all") {
    REQUIRE_THROWS_WITH(opt.apply({md::Tensor{}, md::Tensor{}}, {w, b}), "No gradients provided for any variable.");
  }
  SECTION("a variable the optimizer was not built with") {
    opt.apply({g}, {w});
    md::Variable other = optim_test::make_variable(optim_test::kStart, "other");
    REQUIRE_THROWS_WITH(opt.apply({g}, {other}),
                        "Unknown variable: <Variable path=other, shape=(3,), dtype=float32>. This optimizer can only "
                        "be called for the variables it was originally built with. When working with a new set of "
                        "variables, you should recreate a new optimizer instance.");
  }
  SECTION("gradients alone need a built optimizer and one gradient per built variable") {
    REQUIRE_THROWS_WITH(opt.apply({g}),
                        "When passing `grads` without `variables`, the optimizer must already be built on a list of "
                        "variables. Call `optimizer.build(trainable_variables)` first.");
    opt.build({w, b});
    REQUIRE_THROWS_WITH(opt.apply({g}),
                        "When passing `grads` as a list of gradient tensors, the gradients must match "
                        "`optimizer.variables` one-to-one. Received a list of 1 gradients, but the optimizer is "
                        "tracking 2 trainable variables.");
    opt.apply({g, optim_test::tensor_of({1.0})});
    optim_test::check_values(w, {0.995, -1.99, 2.98}, "apply(grads) after build");
    optim_test::check_values(b, {-0.01}, "apply(grads) after build");
  }
  SECTION("empty lists are a no-op, as in Keras") {
    opt.apply({}, {});
    CHECK(opt.iterations() == 0);
    CHECK_FALSE(opt.built());
  }
}

TEST_CASE("Undefined gradients skip their variable; slots exist for every variable", "[optim][apply]") {
  md::optim::Adam opt({.learning_rate = 0.01f});
  md::Variable w = optim_test::make_variable();
  md::Variable b = optim_test::make_variable({5.0}, "b");
  opt.apply({optim_test::tensor_of(optim_test::kGrads[0]), md::Tensor{}}, {w, b});
  CHECK(opt.iterations() == 1);
  optim_test::check_values(b, {5.0}, "b untouched");
  optim_test::check_values(w, {0.99, -1.99, 2.99}, "w stepped");
  CHECK(opt.variables().size() == 2 + 4);  // momentum and velocity for w and for b
  // b's slots stay zero; its first real step is Adam's step 2 (t counts optimizer iterations).
  opt.apply({md::Tensor{}, optim_test::tensor_of({1.0})}, {w, b});
  const double alpha = 0.01 * std::sqrt(1 - 0.999 * 0.999) / (1 - 0.9 * 0.9);
  optim_test::check_values(b, {5.0 - 0.1 * alpha / (std::sqrt(0.001) + 1e-7)}, "b at t = 2");
}

TEST_CASE("Updates bump the variables' storage versions and are not recorded on tapes", "[optim][apply]") {
  md::optim::SGD opt({.learning_rate = 0.1f, .momentum = 0.5});
  md::Variable w = optim_test::make_variable();
  const uint64_t before = w.value().storage_version();
  md::GradientTape tape;
  opt.apply({optim_test::tensor_of(optim_test::kGrads[0])}, {w});
  CHECK(w.value().storage_version() > before);
  // The update is not an op on the tape: w's gradient through nothing is undefined.
  CHECK_FALSE(tape.gradient(md::ops::sum(md::ops::multiply(md::Tensor::ones({3}), 2.0f)), {w})[0].defined());
}

TEST_CASE("iterations, learning_rate and set_learning_rate", "[optim][lr]") {
  md::optim::SGD opt({.learning_rate = 0.5f});
  CHECK(opt.iterations() == 0);
  CHECK(opt.learning_rate() == 0.5f);
  md::Variable w = optim_test::make_variable();
  opt.apply({optim_test::tensor_of({1.0, 1.0, 1.0})}, {w});
  optim_test::check_values(w, {0.5, -2.5, 2.5}, "lr 0.5");
  opt.set_learning_rate(0.25f);
  CHECK(opt.learning_rate() == 0.25f);
  CHECK(opt.get_config()["learning_rate"] == 0.25);
  CHECK(opt.variables()[1].value().item() == 0.25f);  // Keras's learning_rate variable
  opt.apply({optim_test::tensor_of({1.0, 1.0, 1.0})}, {w});
  optim_test::check_values(w, {0.25, -2.75, 2.25}, "lr 0.25");
  CHECK(opt.iterations() == 2);

  // A schedule replaces the float (and its variable); a float cannot replace a schedule.
  opt.set_learning_rate(md::optim::ExponentialDecay({.initial_learning_rate = 1.0, .decay_steps = 1, .decay_rate = 0.5}));
  CHECK(opt.learning_rate() == 0.25f);  // 1.0 * 0.5^2 at iterations = 2
  CHECK(opt.variables().size() == 1);
  REQUIRE_THROWS_AS(opt.set_learning_rate(0.1f), md::TypeError);
  REQUIRE_THROWS_WITH(opt.set_learning_rate(0.1f),
                      "This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` "
                      "constructor argument, hence its learning rate is not settable. If you need the learning rate "
                      "to be settable, you should instantiate the optimizer with a float `learning_rate` argument.");
}

TEST_CASE("learning_rate takes any number: int, float, double, literals and variables", "[optim][lr]") {
  CHECK(md::optim::Adam({.learning_rate = 1}).learning_rate() == 1.0f);
  CHECK(md::optim::SGD({.learning_rate = 0.5}).learning_rate() == 0.5f);
  const double from_flags = 0.125;
  const int64_t steps = 2;
  CHECK(md::optim::RMSprop({.learning_rate = from_flags}).learning_rate() == 0.125f);
  CHECK(md::optim::Adagrad({.learning_rate = steps}).learning_rate() == 2.0f);
  md::optim::AdamW adamw({.learning_rate = 3, .weight_decay = 0});
  adamw.set_learning_rate(2);
  CHECK(adamw.learning_rate() == 2.0f);
  CHECK(adamw.get_config()["learning_rate"] == 2.0);
  // An int where Keras writes a float, through the model API too.
  const md::Tensor in = md::Input({2});
  md::Model model(in, md::layers::Dense({.units = 1})(in));
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 1, .momentum = 0}), .loss = "mse"});
  CHECK(model.optimizer()->learning_rate() == 1.0f);
}

TEST_CASE("A schedule is evaluated at iterations before each step", "[optim][lr][schedules]") {
  // ExponentialDecay(0.1, decay_steps 1, rate 0.5): steps use 0.1, 0.05, 0.025.
  const auto schedule = std::make_shared<md::optim::ExponentialDecay>(
      md::optim::ExponentialDecayOptions{.initial_learning_rate = 0.1, .decay_steps = 1, .decay_rate = 0.5});
  md::optim::SGD opt({.learning_rate = schedule});
  CHECK(opt.learning_rate_schedule() == schedule);
  CHECK(opt.learning_rate() == Approx(0.1));
  optim_test::run_three_steps(
      opt,
      [](Values& w, const Values& g, int t) {
        const double lr = 0.1 * std::pow(0.5, t - 1);
        for (size_t i = 0; i < 3; ++i) w[i] -= lr * g[i];
      },
      "SGD with ExponentialDecay");
  CHECK(opt.learning_rate() == Approx(0.0125));
  // Only `iteration` is state: the schedule is configuration.
  CHECK(opt.variables().size() == 1);
}

TEST_CASE("Copies and clones share the optimizer's state", "[optim][clone]") {
  md::optim::Adam opt({.learning_rate = 0.01f});
  md::Variable w = optim_test::make_variable();
  const std::shared_ptr<md::optim::Optimizer> clone = opt.clone();
  md::optim::Adam copy = opt;
  CHECK(dynamic_cast<md::optim::Adam*>(clone.get()) != nullptr);
  clone->apply({optim_test::tensor_of(optim_test::kGrads[0])}, {w});
  CHECK(opt.iterations() == 1);
  CHECK(copy.iterations() == 1);
  CHECK(opt.built());
  copy.apply({optim_test::tensor_of(optim_test::kGrads[1])}, {w});
  CHECK(opt.iterations() == 2);
  CHECK(opt.variables().size() == clone->variables().size());
  CHECK(opt.variables()[2] == clone->variables()[2]);

  // An AdamW clone stays an AdamW.
  const md::optim::AdamW adamw;
  CHECK(adamw.clone()->class_name() == "AdamW");
  CHECK(dynamic_cast<md::optim::AdamW*>(adamw.clone().get()) != nullptr);

  // from_config gives an independent optimizer with the same settings.
  auto fresh = md::optim::Adam::from_config(opt.get_config());
  CHECK(fresh.iterations() == 0);
  CHECK_FALSE(fresh.built());
}

TEST_CASE("Optimizers train a small least-squares problem through a GradientTape", "[optim][training]") {
  // min ||x w - y||^2 with y = x [2, -1]: each optimizer gets close to w = [2, -1].
  const md::Tensor x = md::Tensor::from_vector({1, 0, 0, 1, 1, 1, 2, -1}, {4, 2});
  const md::Tensor y = md::Tensor::from_vector({2, -1, 1, 5}, {4, 1});
  std::vector<std::shared_ptr<md::optim::Optimizer>> optimizers = {
      std::make_shared<md::optim::SGD>(md::optim::SGDOptions{.learning_rate = 0.05f, .momentum = 0.9}),
      std::make_shared<md::optim::Adam>(md::optim::AdamOptions{.learning_rate = 0.05f}),
      std::make_shared<md::optim::AdamW>(md::optim::AdamWOptions{.learning_rate = 0.05f, .weight_decay = 1e-4}),
      std::make_shared<md::optim::RMSprop>(md::optim::RMSpropOptions{.learning_rate = 0.02f}),
      std::make_shared<md::optim::Adagrad>(md::optim::AdagradOptions{.learning_rate = 0.5f}),
  };
  for (const auto& opt : optimizers) {
    INFO(opt->class_name());
    md::Variable w(md::Tensor::zeros({2, 1}), "w");
    for (int step = 0; step < 400; ++step) {
      md::GradientTape tape;
      const md::Tensor loss = md::ops::mean(md::ops::square(md::ops::subtract(md::ops::matmul(x, w.value()), y)));
      opt->apply(tape.gradient(loss, std::vector<md::Variable>{w}), {w});
    }
    const std::vector<float> got = w.value().to_vector();
    CHECK(got[0] == Approx(2.0).margin(0.05));
    CHECK(got[1] == Approx(-1.0).margin(0.05));
    CHECK(opt->iterations() == 400);
  }
}

TEST_CASE("Large variables take the parallel path and match the serial formula", "[optim][apply]") {
  // 100000 elements is above the OpenMP threshold of every update loop.
  const int64_t n = 100000;
  std::vector<float> start(n), grad(n);
  for (int64_t i = 0; i < n; ++i) {
    start[i] = static_cast<float>((i % 17) - 8) * 0.25f;
    grad[i] = static_cast<float>((i % 13) - 6) * 0.1f;
  }
  md::Variable w(md::Tensor::from_vector(start, {n}), "big");
  md::optim::Adam opt({.learning_rate = 0.01f});
  opt.apply({md::Tensor::from_vector(grad, {n})}, {w});
  const std::vector<float> got = w.value().to_vector();
  for (int64_t i = 0; i < n; i += 997) {
    const double g = grad[i];
    const double m = 0.1 * g, v = 0.001 * g * g;
    const double alpha = 0.01 * std::sqrt(0.001) / 0.1;
    CHECK(got[i] == Approx(start[i] - m * alpha / (std::sqrt(v) + 1e-7)).epsilon(1e-5).margin(1e-6));
  }
}
