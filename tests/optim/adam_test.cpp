// Adam, Adam with amsgrad, AdamW: three steps on the fixed problem against Keras's formulas,
// slots, configs and AdamW's weight_decay check.
#include "optim_test_helpers.h"

namespace md = minidl;
using optim_test::Values;

namespace adam_test {

// Keras adam.py update_step, in double:
//   alpha = lr * sqrt(1 - beta_2_power) / (1 - beta_1_power)
//   m.assign_add((gradient - m) * (1 - beta_1))
//   v.assign_add((square(gradient) - v) * (1 - beta_2))
//   if amsgrad: v_hat.assign(maximum(v_hat, v)); v = v_hat
//   variable.assign_sub((m * alpha) / (sqrt(v) + epsilon))
struct Reference {
  double lr, beta_1, beta_2, epsilon;
  bool amsgrad = false;
  double weight_decay = 0.0;  // AdamW: variable - variable * wd * lr first
  Values m = Values(3, 0.0), v = Values(3, 0.0), v_hat = Values(3, 0.0);

  void operator()(Values& w, const Values& g, int t) {
    const double alpha = lr * std::sqrt(1 - std::pow(beta_2, t)) / (1 - std::pow(beta_1, t));
    for (size_t i = 0; i < w.size(); ++i) {
      w[i] = w[i] - w[i] * weight_decay * lr;
      m[i] += (g[i] - m[i]) * (1 - beta_1);
      v[i] += (g[i] * g[i] - v[i]) * (1 - beta_2);
      double denom_v = v[i];
      if (amsgrad) {
        v_hat[i] = std::max(v_hat[i], v[i]);
        denom_v = v_hat[i];
      }
      w[i] -= (m[i] * alpha) / (std::sqrt(denom_v) + epsilon);
    }
  }
};

}  // namespace adam_test

TEST_CASE("Adam: three steps by hand", "[optim][adam]") {
  // Step 1 by hand: m = 0.1*g, v = 0.001*g^2, alpha = lr*sqrt(0.001)/0.1, so the step is
  // lr * g*sqrt(0.001) / (|g|*sqrt(0.001) + 1e-7) ~= lr * sign(g): w1 ~= [0.99, -1.99, 2.99].
  md::optim::Adam first({.learning_rate = 0.01f});
  md::Variable w = optim_test::make_variable();
  first.apply({optim_test::tensor_of(optim_test::kGrads[0])}, {w});
  optim_test::check_values(w, {0.99, -1.99, 2.99}, "step 1 ~ lr * sign(g)");

  md::optim::Adam opt({.learning_rate = 0.01f});
  optim_test::run_three_steps(opt, adam_test::Reference{.lr = 0.01, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7},
                              "Adam");
}

TEST_CASE("Adam epsilon is added to sqrt(v) of the uncorrected v", "[optim][adam]") {
  // A large epsilon makes the placement visible: Keras divides by sqrt(v) + eps with
  // v = (1 - beta_2) g^2 (not bias-corrected), and folds the correction into alpha.
  md::optim::Adam opt({.learning_rate = 0.1f, .epsilon = 0.5});
  md::Variable w = optim_test::make_variable({1.0}, "w");
  opt.apply({optim_test::tensor_of({2.0})}, {w});
  const double alpha = 0.1 * std::sqrt(1 - 0.999) / (1 - 0.9);
  const double m = 0.1 * 2.0, v = 0.001 * 4.0;
  optim_test::check_values(w, {1.0 - m * alpha / (std::sqrt(v) + 0.5)}, "Keras placement");
  // Textbook Adam (eps added to sqrt of the corrected v) would give 1 - 0.1 * 2 / (2 + 0.5) = 0.92.
  CHECK(std::abs(w.value().item() - 0.92f) > 1e-2f);
}

TEST_CASE("Adam with amsgrad: three steps by hand", "[optim][adam]") {
  // Step 2 lowers v for element 1 (g = 0.4 after -1.0), so v_hat keeps the larger value.
  md::optim::Adam opt({.learning_rate = 0.01f, .beta_2 = 0.9, .amsgrad = true});
  optim_test::run_three_steps(
      opt, adam_test::Reference{.lr = 0.01, .beta_1 = 0.9, .beta_2 = 0.9, .epsilon = 1e-7, .amsgrad = true},
      "Adam amsgrad");
  // Without amsgrad the same run differs.
  md::optim::Adam plain({.learning_rate = 0.01f, .beta_2 = 0.9});
  md::Variable a = optim_test::make_variable(), b = optim_test::make_variable();
  md::optim::Adam ams({.learning_rate = 0.01f, .beta_2 = 0.9, .amsgrad = true});
  for (const Values& g : optim_test::kGrads) {
    plain.apply({optim_test::tensor_of(g)}, {a});
    ams.apply({optim_test::tensor_of(g)}, {b});
  }
  CHECK(a.value().to_vector() != b.value().to_vector());
}

TEST_CASE("Adam slots: momentum and velocity interleaved per variable, velocity_hat after", "[optim][adam]") {
  md::Variable kernel(md::Tensor::from_vector({1, 2, 3, 4}, {2, 2}), "kernel");
  kernel.set_path("dense/kernel");
  md::Variable bias(md::Tensor::from_vector({0, 0}, {2}), "bias");
  bias.set_path("dense/bias");
  md::optim::Adam opt({.amsgrad = true, .name = "adam"});
  CHECK(opt.variables().size() == 2);
  opt.build({kernel, bias});
  std::vector<std::string> names, paths;
  for (const md::Variable& v : opt.variables()) {
    names.push_back(v.name());
    paths.push_back(v.path());
    CHECK_FALSE(v.trainable());
  }
  CHECK(names == std::vector<std::string>{"iteration", "learning_rate", "dense_kernel_momentum",
                                          "dense_kernel_velocity", "dense_bias_momentum", "dense_bias_velocity",
                                          "dense_kernel_velocity_hat", "dense_bias_velocity_hat"});
  CHECK(paths[0] == "adam/iteration");
  CHECK(paths[2] == "adam/dense_kernel_momentum");
  CHECK(opt.variables()[2].shape() == md::Shape{2, 2});
  CHECK(opt.variables()[4].shape() == md::Shape{2});
  CHECK(opt.variables()[0].dtype() == md::DType::int32);
}

TEST_CASE("AdamW: decoupled weight decay then Adam, three steps by hand", "[optim][adamw]") {
  // Keras adamw.py is Adam with weight_decay=0.004 by default; base_optimizer applies
  // variable - variable * weight_decay * lr before Adam's update_step.
  md::optim::AdamW opt({.learning_rate = 0.01f, .weight_decay = 0.5});
  optim_test::run_three_steps(
      opt,
      adam_test::Reference{.lr = 0.01, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7, .weight_decay = 0.5},
      "AdamW");

  md::optim::AdamW defaults;
  CHECK(defaults.weight_decay() == 0.004);
  CHECK(defaults.class_name() == "AdamW");
  optim_test::run_three_steps(
      defaults,
      adam_test::Reference{.lr = 0.001, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7, .weight_decay = 0.004},
      "AdamW defaults");
}

TEST_CASE("AdamW exclude_from_weight_decay skips variables by object and by name", "[optim][adamw]") {
  md::Variable kernel = optim_test::make_variable(optim_test::kStart, "kernel");
  md::Variable bias = optim_test::make_variable(optim_test::kStart, "bias");
  md::Variable other = optim_test::make_variable(optim_test::kStart, "other");
  md::optim::AdamW opt({.learning_rate = 0.01f, .weight_decay = 0.5});
  opt.exclude_from_weight_decay({other}, {"bia"});
  const md::Tensor g = optim_test::tensor_of(optim_test::kGrads[0]);
  opt.apply({g, g, g}, {kernel, bias, other});

  Values decayed = optim_test::kStart, plain = optim_test::kStart;
  adam_test::Reference{.lr = 0.01, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7, .weight_decay = 0.5}(
      decayed, optim_test::kGrads[0], 1);
  adam_test::Reference{.lr = 0.01, .beta_1 = 0.9, .beta_2 = 0.999, .epsilon = 1e-7}(plain, optim_test::kGrads[0], 1);
  optim_test::check_values(kernel, decayed, "kernel is decayed");
  optim_test::check_values(bias, plain, "bias excluded by name");
  optim_test::check_values(other, plain, "other excluded by object");

  REQUIRE_THROWS_WITH(opt.exclude_from_weight_decay({}, {"x"}),
                      "`exclude_from_weight_decay()` can only be configured before the optimizer is built.");
}

TEST_CASE("AdamW requires weight_decay with Keras's message", "[optim][adamw][errors]") {
  REQUIRE_THROWS_AS(md::optim::AdamW({.weight_decay = std::nullopt}), md::ValueError);
  REQUIRE_THROWS_WITH(md::optim::AdamW({.weight_decay = std::nullopt}),
                      "Argument `weight_decay` must be a float. Received: weight_decay=None");
  md::json config = md::optim::AdamW().get_config();
  config["weight_decay"] = nullptr;
  REQUIRE_THROWS_WITH(md::optim::AdamW::from_config(config),
                      "Argument `weight_decay` must be a float. Received: weight_decay=None");
  // An absent key is the default, 0.004, as a missing keyword argument in Keras.
  config.erase("weight_decay");
  CHECK(md::optim::AdamW::from_config(config).weight_decay() == 0.004);
}

TEST_CASE("Adam and AdamW configs: Keras's keys, order and values; round trip", "[optim][adam][config]") {
  const md::optim::Adam adam({.name = "adam"});
  CHECK(adam.get_config().dump() ==
        R"({"name":"adam","learning_rate":0.0010000000474974513,"weight_decay":null,"clipnorm":null,)"
        R"("global_clipnorm":null,"clipvalue":null,"use_ema":false,"ema_momentum":0.99,)"
        R"("ema_overwrite_frequency":null,"loss_scale_factor":null,"gradient_accumulation_steps":null,)"
        R"("beta_1":0.9,"beta_2":0.999,"epsilon":1e-07,"amsgrad":false})");
  const std::vector<std::string> adam_keys = optim_test::base_keys_plus({"beta_1", "beta_2", "epsilon", "amsgrad"});
  CHECK(optim_test::keys_of(adam.get_config()) == adam_keys);

  const md::optim::AdamW adamw({.name = "adamw"});
  CHECK(optim_test::keys_of(adamw.get_config()) == adam_keys);
  CHECK(adamw.get_config()["weight_decay"] == 0.004);

  const md::optim::Adam custom({.learning_rate = 3e-4f,
                                .beta_1 = 0.8,
                                .beta_2 = 0.99,
                                .epsilon = 1e-8,
                                .amsgrad = true,
                                .global_clipnorm = 5.0,
                                .name = "my_adam"});
  optim_test::check_round_trip(custom);
  const md::optim::Adam back = md::optim::Adam::from_config(custom.get_config());
  CHECK(back.beta_1() == 0.8);
  CHECK(back.beta_2() == 0.99);
  CHECK(back.epsilon() == 1e-8);
  CHECK(back.amsgrad());
  CHECK(back.global_clipnorm() == 5.0);
  CHECK(back.learning_rate() == 3e-4f);
  optim_test::check_round_trip(md::optim::AdamW({.weight_decay = 0.1, .amsgrad = true}));
}

namespace adam_test {

// Adam with its own update_step replaced by Adam's: every variable then goes through
// update_step one at a time (the base class's update_steps), the path before Adam updated all
// variables of a step in one pass.
class PerVariableAdam : public md::optim::Adam {
 public:
  using Adam::Adam;
  std::shared_ptr<Optimizer> clone() const override { return std::make_shared<PerVariableAdam>(*this); }
  int calls = 0;

 protected:
  void update_step(const md::Tensor& gradient, const md::Variable& variable, float learning_rate) override {
    ++calls;
    Adam::update_step(gradient, variable, learning_rate);
  }
};

}  // namespace adam_test

TEST_CASE("Adam updates a model's variables in one pass exactly as one variable at a time", "[optim][adam]") {
  // Variables large enough to be split between threads, and small ones beside them.
  const std::vector<md::Shape> shapes = {{300, 200}, {200}, {200, 130}, {130}, {130, 10}, {10}};
  for (const bool amsgrad : {false, true}) {
    INFO("amsgrad " << amsgrad);
    md::optim::Adam together({.learning_rate = 1e-3f, .amsgrad = amsgrad});
    adam_test::PerVariableAdam apart({.learning_rate = 1e-3f, .amsgrad = amsgrad});
    std::vector<md::Variable> a, b;
    for (size_t i = 0; i < shapes.size(); ++i) {
      const md::Tensor start = md::random::normal(shapes[i], 0.0f, 1.0f, 40 + i);
      a.emplace_back(start.clone(), "w" + std::to_string(i));
      b.emplace_back(start.clone(), "w" + std::to_string(i));
    }
    for (int step = 0; step < 3; ++step) {
      std::vector<md::Tensor> grads;
      for (size_t i = 0; i < shapes.size(); ++i) grads.push_back(md::random::normal(shapes[i], 0.0f, 0.1f, 100 * step + i));
      together.apply(grads, a);
      apart.apply(grads, b);
    }
    CHECK(apart.calls == 3 * static_cast<int>(shapes.size()));  // the subclass's update_step ran
    for (size_t i = 0; i < shapes.size(); ++i) CHECK(a[i].value().to_vector() == b[i].value().to_vector());
    const std::vector<md::Variable> slots_a = together.variables(), slots_b = apart.variables();
    REQUIRE(slots_a.size() == slots_b.size());
    for (size_t i = 0; i < slots_a.size(); ++i) CHECK(slots_a[i].value().to_vector() == slots_b[i].value().to_vector());
  }
}
