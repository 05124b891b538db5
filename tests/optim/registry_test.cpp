// md::optim::get / serialize / deserialize, Keras-written configs, config errors, and user
// optimizers.
#include "optim_test_helpers.h"

namespace md = minidl;

TEST_CASE("get() builds optimizers by name, case-insensitively for built-ins", "[optim][registry]") {
  CHECK(md::optim::get("adam")->class_name() == "Adam");
  CHECK(md::optim::get("Adam")->class_name() == "Adam");
  CHECK(md::optim::get("ADAM")->class_name() == "Adam");
  CHECK(md::optim::get("sgd")->class_name() == "SGD");
  CHECK(md::optim::get("adamw")->class_name() == "AdamW");
  CHECK(md::optim::get("rmsprop")->class_name() == "RMSprop");
  CHECK(md::optim::get(std::string("adagrad"))->class_name() == "Adagrad");
  CHECK(md::optim::get("sgd")->learning_rate() == 0.01f);  // each class's own default
  CHECK(md::optim::get("adam")->learning_rate() == 0.001f);
  CHECK(md::optim::get(md::json("RMSprop"))->class_name() == "RMSprop");

  REQUIRE_THROWS_AS(md::optim::get("adamax"), md::ValueError);
  // Keras's words, then the names that work (user-registered classes join the list).
  REQUIRE_THROWS_WITH(md::optim::get("adamax"),
                      Catch::StartsWith("Could not interpret optimizer identifier: adamax. Valid names: adagrad, adam, "
                                        "adamw, rmsprop, sgd (in any case)"));
  REQUIRE_THROWS_WITH(md::optim::get(md::json(3)), Catch::StartsWith("Could not interpret optimizer identifier: 3. "
                                                                     "Valid names: adagrad, adam,"));

  // An instance is returned as itself: a copy sharing its state.
  md::optim::Adam mine;
  const auto same = md::optim::get(mine);
  md::Variable w = optim_test::make_variable();
  same->apply({optim_test::tensor_of(optim_test::kGrads[0])}, {w});
  CHECK(mine.iterations() == 1);
}

TEST_CASE("serialize() writes Keras's envelope; deserialize() reads it back", "[optim][registry][config]") {
  const md::optim::Adam adam({.learning_rate = 0.01f, .amsgrad = true, .name = "adam"});
  const md::json envelope = md::optim::serialize(adam);
  CHECK(optim_test::keys_of(envelope) == std::vector<std::string>{"module", "class_name", "config", "registered_name"});
  CHECK(envelope["module"] == "keras.optimizers");
  CHECK(envelope["class_name"] == "Adam");
  CHECK(envelope["registered_name"].is_null());
  CHECK(envelope["config"] == adam.get_config());
  const auto back = md::optim::deserialize(envelope);
  CHECK(back->class_name() == "Adam");
  CHECK(back->name() == "adam");
  CHECK(md::optim::serialize(*back) == envelope);
  CHECK(md::optim::get(envelope)->class_name() == "Adam");

  for (const auto& opt : std::vector<std::shared_ptr<md::optim::Optimizer>>{
           md::optim::get("sgd"), md::optim::get("adamw"), md::optim::get("rmsprop"), md::optim::get("adagrad")}) {
    INFO(opt->class_name());
    const md::json e = md::optim::serialize(*opt);
    CHECK(e["module"] == "keras.optimizers");
    CHECK(md::optim::serialize(*md::optim::deserialize(e)).dump() == e.dump());
  }
}

TEST_CASE("Configs as Keras 3 and Keras 2 write them are read", "[optim][registry][config]") {
  // From a Keras 3 model.keras compile_config (with `decay`, which Keras ignores).
  const md::json keras3 = md::json::parse(R"({
    "module": "keras.optimizers", "class_name": "Adam",
    "config": {"name": "adam", "learning_rate": 0.0010000000474974513, "weight_decay": null,
               "clipnorm": null, "global_clipnorm": null, "clipvalue": null, "use_ema": false,
               "ema_momentum": 0.99, "ema_overwrite_frequency": null, "loss_scale_factor": null,
               "gradient_accumulation_steps": null, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-07,
               "amsgrad": false, "decay": 0.0},
    "registered_name": null})");
  const auto adam = md::optim::deserialize(keras3);
  CHECK(adam->class_name() == "Adam");
  CHECK(adam->learning_rate() == 0.001f);
  md::json expected = keras3["config"];
  expected.erase("decay");
  CHECK(adam->get_config().dump() == expected.dump());

  // Keras 2 style: no module, lowercase class name, only some keys.
  const auto sgd = md::optim::deserialize(
      md::json::parse(R"({"class_name": "sgd", "config": {"learning_rate": 0.5, "momentum": 0.9}})"));
  CHECK(sgd->class_name() == "SGD");
  CHECK(sgd->learning_rate() == 0.5f);
  CHECK(dynamic_cast<md::optim::SGD&>(*sgd).momentum() == 0.9);
  // An integer learning rate in hand-written JSON is accepted.
  CHECK(md::optim::deserialize(md::json::parse(R"({"class_name": "SGD", "config": {"learning_rate": 1}})"))
            ->learning_rate() == 1.0f);
}

TEST_CASE("Bad optimizer configs fail with Keras's words or name the key", "[optim][registry][errors]") {
  md::json config = md::optim::SGD().get_config();
  SECTION("unknown key") {
    config["foo"] = 1;
    REQUIRE_THROWS_AS(md::optim::SGD::from_config(config), md::ValueError);
    REQUIRE_THROWS_WITH(md::optim::SGD::from_config(config), "Argument(s) not recognized: {'foo': 1}");
  }
  SECTION("learning_rate of the wrong type") {
    config["learning_rate"] = "fast";
    REQUIRE_THROWS_WITH(md::optim::SGD::from_config(config),
                        "Argument `learning_rate` should be float, or an instance of LearningRateSchedule, or a "
                        "callable (that takes in the current iteration value and returns the corresponding learning "
                        "rate value). Received instead: learning_rate='fast'");
  }
  SECTION("mistyped value") {
    config["nesterov"] = "yes";
    REQUIRE_THROWS_AS(md::optim::SGD::from_config(config), md::TypeError);
    REQUIRE_THROWS_WITH(md::optim::SGD::from_config(config),
                        "SGD config key 'nesterov' must be a boolean; received \"yes\".");
  }
  SECTION("features minidl does not implement") {
    config["use_ema"] = true;
    REQUIRE_THROWS_AS(md::optim::SGD::from_config(config), md::NotImplementedError);
    REQUIRE_THROWS_WITH(md::optim::SGD::from_config(config),
                        "SGD config key 'use_ema' is not supported by minidl (it must be false); received true.");
  }
  SECTION("not an object") {
    REQUIRE_THROWS_AS(md::optim::Adam::from_config(md::json::array()), md::TypeError);
  }
  SECTION("unknown class") {
    REQUIRE_THROWS_WITH(md::optim::deserialize(md::json::parse(R"({"class_name": "Lion", "config": {}})")),
                        Catch::StartsWith("Could not locate class 'Lion'."));
  }
}

namespace registry_test {

// SignSGD: w -= lr * sign(g). A user optimizer with a setting of its own.
class SignSGD : public md::optim::Optimizer {
 public:
  explicit SignSGD(const md::optim::OptimizerOptions& options = {}, double scale = 1.0)
      : Optimizer("SignSGD", options), scale_(scale) {}
  std::shared_ptr<Optimizer> clone() const override { return std::make_shared<SignSGD>(*this); }
  md::json get_config() const override {
    md::json config = Optimizer::get_config();
    config["scale"] = scale_;
    return config;
  }

 protected:
  void build_slots(const std::vector<md::Variable>& variables) override { add_optimizer_variables(variables, "seen"); }
  void update_step(const md::Tensor& gradient, const md::Variable& variable, float learning_rate) override {
    float* w = mutable_values(variable);
    float* seen = mutable_values(slot("seen", variable_index(variable)));
    for (int64_t i = 0; i < gradient.size(); ++i) {
      const float g = gradient.data()[i];
      w[i] -= static_cast<float>(scale_) * learning_rate * static_cast<float>((g > 0) - (g < 0));
      seen[i] += 1.0f;
    }
  }

 private:
  double scale_;
};

}  // namespace registry_test

TEST_CASE("User optimizers: subclass, register, serialize", "[optim][registry][custom]") {
  md::optim::register_optimizer("SignSGD", [](const md::json& config) {
    md::optim::OptimizerOptions options;
    options.learning_rate = config.value("learning_rate", 0.001);
    options.name = config.value("name", std::string());
    return std::make_shared<registry_test::SignSGD>(options, config.value("scale", 1.0));
  });
  registry_test::SignSGD opt({.learning_rate = 0.1f, .name = "sign"}, 2.0);
  md::Variable w = optim_test::make_variable();
  opt.apply({optim_test::tensor_of(optim_test::kGrads[2])}, {w});  // g3 = [0.2, 0, -1.5]
  optim_test::check_values(w, {0.8, -2.0, 3.2}, "sign step");
  CHECK(opt.variables().back().name() == "w_seen");

  const md::json envelope = md::optim::serialize(opt);
  CHECK(envelope["module"] == "minidl.custom");
  CHECK(envelope["registered_name"] == "Custom>SignSGD");
  CHECK(envelope["config"]["scale"] == 2.0);
  const auto back = md::optim::deserialize(envelope);
  CHECK(back->class_name() == "SignSGD");
  CHECK(md::optim::serialize(*back).dump() == envelope.dump());
  CHECK(md::optim::get("SignSGD")->class_name() == "SignSGD");
}
