// Learning-rate schedules: values at several steps against the closed forms, configs (keys,
// order, envelope), round trips and Keras's errors.
#include <numbers>

#include "optim_test_helpers.h"

namespace md = minidl;

TEST_CASE("ExponentialDecay matches initial * rate^(step / decay_steps)", "[optim][schedules]") {
  const md::optim::ExponentialDecay smooth({.initial_learning_rate = 0.1, .decay_steps = 10, .decay_rate = 0.5});
  for (int64_t step : {0, 1, 5, 10, 25, 1000}) {
    INFO("step " << step);
    CHECK(smooth(step) == Approx(0.1 * std::pow(0.5, step / 10.0)).epsilon(1e-12));
  }
  CHECK(smooth(10) == Approx(0.05));
  const md::optim::ExponentialDecay stairs(
      {.initial_learning_rate = 0.1, .decay_steps = 10, .decay_rate = 0.5, .staircase = true});
  CHECK(stairs(0) == Approx(0.1));
  CHECK(stairs(9) == Approx(0.1));
  CHECK(stairs(10) == Approx(0.05));
  CHECK(stairs(25) == Approx(0.025));  // floor(2.5) = 2
}

TEST_CASE("CosineDecay matches the cosine closed form, with and without warmup", "[optim][schedules]") {
  // decayed = (1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha
  const md::optim::CosineDecay cosine({.initial_learning_rate = 1.0, .decay_steps = 100, .alpha = 0.1});
  auto closed = [](double step) {
    const double s = std::min(step, 100.0);
    return 1.0 * ((1 - 0.1) * 0.5 * (1 + std::cos(std::numbers::pi * s / 100.0)) + 0.1);
  };
  for (int64_t step : {0, 1, 25, 50, 99, 100, 250}) {
    INFO("step " << step);
    CHECK(cosine(step) == Approx(closed(static_cast<double>(step))).epsilon(1e-12));
  }
  CHECK(cosine(0) == Approx(1.0));
  CHECK(cosine(50) == Approx(0.55));
  CHECK(cosine(100) == Approx(0.1));
  CHECK(cosine(1000) == Approx(0.1));

  // Warmup: linear from initial (0) to warmup_target (1) over 10 steps, then cosine from the
  // target over decay_steps, then constant at target * alpha.
  const md::optim::CosineDecay warm(
      {.initial_learning_rate = 0.0, .decay_steps = 100, .warmup_target = 1.0, .warmup_steps = 10});
  CHECK(warm(0) == Approx(0.0));
  CHECK(warm(5) == Approx(0.5));
  CHECK(warm(9) == Approx(0.9));
  CHECK(warm(10) == Approx(1.0));
  CHECK(warm(60) == Approx(0.5));
  CHECK(warm(110) == Approx(0.0).margin(1e-15));
  CHECK(warm(500) == Approx(0.0).margin(1e-15));
  // warmup_target without warmup steps: decay starts from the target.
  const md::optim::CosineDecay target_only({.initial_learning_rate = 0.3, .decay_steps = 4, .warmup_target = 2.0});
  CHECK(target_only(0) == Approx(2.0));
  CHECK(target_only(2) == Approx(1.0));
}

TEST_CASE("PiecewiseConstantDecay: value i applies after boundary i-1 up to boundary i", "[optim][schedules]") {
  const md::optim::PiecewiseConstantDecay pc({.boundaries = {10, 20}, .values = {1.0, 0.5, 0.1}});
  CHECK(pc(0) == 1.0);
  CHECK(pc(10) == 1.0);
  CHECK(pc(11) == 0.5);
  CHECK(pc(20) == 0.5);
  CHECK(pc(21) == 0.1);
  CHECK(pc(100000) == 0.1);
  // Keras's indicator sum, reproduced for boundaries out of order: step 5 is both <= 10 and
  // > 2 (the last boundary), so it gets values[0] + values[2].
  const md::optim::PiecewiseConstantDecay odd({.boundaries = {10, 2}, .values = {1.0, 0.5, 0.25}});
  CHECK(odd(5) == 1.25);
}

TEST_CASE("Schedule configs: Keras's keys, order, envelope; round trips", "[optim][schedules][config]") {
  const md::optim::ExponentialDecay exp_decay(
      {.initial_learning_rate = 0.1, .decay_steps = 1000, .decay_rate = 0.96, .staircase = true});
  CHECK(md::optim::serialize(exp_decay).dump() ==
        R"({"module":"keras.optimizers.schedules","class_name":"ExponentialDecay","config":)"
        R"({"initial_learning_rate":0.1,"decay_steps":1000,"decay_rate":0.96,"staircase":true,)"
        R"("name":"ExponentialDecay"},"registered_name":null})");

  const md::optim::CosineDecay cosine({.initial_learning_rate = 0.1, .decay_steps = 500, .alpha = 0.01});
  CHECK(cosine.get_config().dump() ==
        R"({"initial_learning_rate":0.1,"decay_steps":500,"alpha":0.01,"name":"CosineDecay",)"
        R"("warmup_target":null,"warmup_steps":0})");

  const md::optim::PiecewiseConstantDecay pc({.boundaries = {100000, 110000}, .values = {1.0, 0.5, 0.1}});
  CHECK(pc.get_config().dump() ==
        R"({"boundaries":[100000,110000],"values":[1.0,0.5,0.1],"name":"PiecewiseConstant"})");

  const md::optim::CosineDecay warm(
      {.initial_learning_rate = 0.0, .decay_steps = 100, .name = "warm", .warmup_target = 0.2, .warmup_steps = 10});
  for (const md::optim::LearningRateSchedule* s :
       std::vector<const md::optim::LearningRateSchedule*>{&exp_decay, &cosine, &pc, &warm}) {
    INFO(s->class_name());
    const md::json envelope = md::optim::serialize(*s);
    const auto back = md::optim::deserialize_schedule(envelope);
    CHECK(back->class_name() == s->class_name());
    CHECK(md::optim::serialize(*back).dump() == envelope.dump());
    for (int64_t step : {0, 7, 50, 105, 200000}) CHECK((*back)(step) == (*s)(step));
  }
  CHECK(md::optim::CosineDecay::from_config(warm.get_config()).warmup_target() == 0.2);
  // Keras 2's form without module, and a float decay_steps with an integral value.
  const auto k2 = md::optim::deserialize_schedule(md::json::parse(
      R"({"class_name": "ExponentialDecay", "config": {"initial_learning_rate": 0.5, "decay_steps": 10.0,
          "decay_rate": 0.1}})"));
  CHECK((*k2)(10) == Approx(0.05));
}

TEST_CASE("An optimizer with a schedule writes the schedule's envelope as learning_rate", "[optim][schedules][config]") {
  md::optim::SGD opt(
      {.learning_rate = md::optim::CosineDecay({.initial_learning_rate = 0.1, .decay_steps = 10}), .name = "sgd"});
  const md::json config = opt.get_config();
  CHECK(config["learning_rate"].dump() ==
        R"({"module":"keras.optimizers.schedules","class_name":"CosineDecay","config":{"initial_learning_rate":0.1,)"
        R"("decay_steps":10,"alpha":0.0,"name":"CosineDecay","warmup_target":null,"warmup_steps":0},)"
        R"("registered_name":null})");
  optim_test::check_round_trip(opt);
  const md::optim::SGD back = md::optim::SGD::from_config(config);
  REQUIRE(back.learning_rate_schedule() != nullptr);
  CHECK(back.learning_rate_schedule()->class_name() == "CosineDecay");
  CHECK(back.learning_rate() == Approx(0.1));
}

TEST_CASE("Schedule errors use Keras's messages and name what is missing", "[optim][schedules][errors]") {
  REQUIRE_THROWS_AS(md::optim::ExponentialDecay({.initial_learning_rate = 0.1, .decay_rate = 0.5}), md::ValueError);
  REQUIRE_THROWS_WITH(md::optim::ExponentialDecay({.initial_learning_rate = 0.1, .decay_rate = 0.5}),
                      "Argument `decay_steps` must be > 0. Received: decay_steps=0");
  REQUIRE_THROWS_WITH(md::optim::CosineDecay({.initial_learning_rate = 0.1, .decay_steps = -3}),
                      "Argument `decay_steps` must be > 0. Received: decay_steps=-3");
  REQUIRE_THROWS_WITH(md::optim::ExponentialDecay({.decay_steps = 10, .decay_rate = 0.5}),
                      "ExponentialDecay requires `initial_learning_rate` (a float); it was not set.");
  REQUIRE_THROWS_WITH(md::optim::ExponentialDecay({.initial_learning_rate = 0.1, .decay_steps = 10}),
                      "ExponentialDecay requires `decay_rate` (a float); it was not set.");
  REQUIRE_THROWS_WITH(md::optim::PiecewiseConstantDecay({.boundaries = {100000, 110000}, .values = {1.0, 0.5}}),
                      "The length of boundaries should be 1 less than the length of values. Received: "
                      "boundaries=[100000, 110000] of length 2, and values=[1.0, 0.5] of length 2.");
  REQUIRE_THROWS_WITH(md::optim::deserialize_schedule(md::json::parse(R"({"class_name": "Nope", "config": {}})")),
                      Catch::StartsWith("Could not locate class 'Nope'. Make sure custom classes are decorated with "
                                        "`@keras.saving.register_keras_serializable()`. Full object config: "));
  REQUIRE_THROWS_WITH(md::optim::ExponentialDecay::from_config(md::json::parse(R"({"decay_steps": 10})")),
                      "ExponentialDecay config is missing the required key 'initial_learning_rate' (a number).");
  REQUIRE_THROWS_WITH(
      md::optim::ExponentialDecay::from_config(
          md::json::parse(R"({"initial_learning_rate": 0.1, "decay_steps": 2.5, "decay_rate": 0.5})")),
      "ExponentialDecay config key 'decay_steps' must be an integer; received 2.5.");
  REQUIRE_THROWS_WITH(
      md::optim::CosineDecay::from_config(
          md::json::parse(R"({"initial_learning_rate": 0.1, "decay_steps": 10, "warmup": 3})")),
      "Argument(s) not recognized: {'warmup': 3}");
}

namespace schedules_test {

struct Halving : md::optim::LearningRateSchedule {
  explicit Halving(double start = 1.0) : LearningRateSchedule("Halving"), start_(start) {}
  double operator()(int64_t step) const override { return start_ / static_cast<double>(int64_t{1} << (step / 10)); }
  md::json get_config() const override { return {{"start", start_}}; }
  double start_;
};

struct NoConfig : md::optim::LearningRateSchedule {
  NoConfig() : LearningRateSchedule("NoConfig") {}
  double operator()(int64_t) const override { return 0.1; }
};

}  // namespace schedules_test

TEST_CASE("User schedules: one class and one registration", "[optim][schedules][custom]") {
  md::optim::register_schedule("Halving", [](const md::json& c) {
    return std::make_shared<schedules_test::Halving>(c.at("start").get<double>());
  });
  md::optim::SGD opt({.learning_rate = schedules_test::Halving(0.8), .name = "sgd"});
  CHECK(opt.learning_rate() == Approx(0.8));
  const md::json envelope = md::optim::serialize(*opt.learning_rate_schedule());
  CHECK(envelope.dump() ==
        R"({"module":"minidl.custom","class_name":"Halving","config":{"start":0.8},"registered_name":"Custom>Halving"})");
  const md::optim::SGD back = md::optim::SGD::from_config(opt.get_config());
  CHECK((*back.learning_rate_schedule())(25) == Approx(0.2));

  md::optim::SGD unsaveable({.learning_rate = schedules_test::NoConfig()});
  CHECK(unsaveable.learning_rate() == Approx(0.1));
  REQUIRE_THROWS_AS(unsaveable.get_config(), md::NotImplementedError);
  REQUIRE_THROWS_WITH(unsaveable.get_config(),
                      "Learning rate schedule 'NoConfig' must override `get_config()` in order to be serializable.");
  REQUIRE_THROWS_WITH(md::optim::SGD({.learning_rate = std::shared_ptr<md::optim::ExponentialDecay>()}),
                      Catch::StartsWith("Argument `learning_rate` should be float, or an instance of "
                                        "LearningRateSchedule, or a callable"));
}
