// md::serialize / md::deserialize: Keras's envelope, errors that name what is wrong, and a
// user-defined layer registered with MINIDL_REGISTER_LAYER.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;

// A user layer: one class plus one registration line. y = x * factor (one weight per feature).
struct ScaleOptions {
  double initial = 1.0;
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Scale : public md::LayerOf<Scale> {
 public:
  using Options = ScaleOptions;
  explicit Scale(const ScaleOptions& options = {})
      : LayerOf("Scale", options.name, options.trainable, options.dtype), options_(options) {}
  static Scale from_config(const md::json& config) {
    md::ConfigReader r(config, "Scale");
    return Scale({.initial = r.optional<double>("initial", 1.0),
                  .name = r.name(),
                  .trainable = r.trainable(),
                  .dtype = r.dtype()});
  }
  md::json get_config() const override {
    md::json config = md::Layer::get_config();
    config["initial"] = options_.initial;
    return config;
  }
  bool supports_masking() const override { return true; }

 protected:
  void build_weights(const md::ShapeSpec& input_shape) override {
    state_->factor = add_weight("factor", {input_shape.shape().back()}, md::Initializer::constant(options_.initial));
  }
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
    return {md::ops::multiply(args.input(), state_->factor.value())};
  }

 private:
  ScaleOptions options_;
  struct State {
    md::Variable factor;
  };
  md::Shared<State> state_;
};
MINIDL_REGISTER_LAYER(Scale);

// The shortest user layer: no options, no config of its own (rebuilt from its name).
class Twice : public md::LayerOf<Twice> {
 public:
  explicit Twice(std::string name = {}) : LayerOf("Twice", std::move(name)) {}

 protected:
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
    return {md::ops::multiply(args.input(), 2.0f)};
  }
};
MINIDL_REGISTER_LAYER(Twice);

TEST_CASE("a custom layer round-trips through md::serialize / md::deserialize", "[layers][serialization][custom]") {
  md::clear_session();
  Scale scale({.initial = 0.5});
  (void)scale(md::Tensor::ones({2, 3}));
  const md::json object = md::serialize(scale);
  CHECK(object["class_name"] == "Scale");
  CHECK(object["registered_name"] == "Custom>Scale");
  CHECK(object["module"] == "minidl.custom");
  CHECK(object["config"] == md::json{{"name", "scale"}, {"trainable", true}, {"dtype", lt::dtype_policy()},
                                     {"initial", 0.5}});
  CHECK(object["build_config"] == md::json{{"input_shape", {2, 3}}});
  // Keras's key order.
  std::vector<std::string> keys;
  for (auto it = object.begin(); it != object.end(); ++it) keys.push_back(it.key());
  CHECK(keys == std::vector<std::string>{"module", "class_name", "config", "registered_name", "build_config"});

  const std::shared_ptr<md::Layer> again = md::deserialize(md::json::parse(object.dump()));
  REQUIRE(dynamic_cast<Scale*>(again.get()) != nullptr);
  CHECK(again->built());
  CHECK(again->weights().size() == 1);
  CHECK(again->weights()[0].value().to_vector() == std::vector<float>(3, 0.5f));
  CHECK(md::serialize(*again) == object);
  // Found by its registered name alone too.
  md::json by_registered = object;
  by_registered["class_name"] = "SomethingElse";
  by_registered["module"] = nullptr;
  CHECK(md::deserialize(by_registered)->class_name() == "Scale");

  const Twice twice;
  const std::shared_ptr<md::Layer> twice_again = md::deserialize(md::serialize(twice));
  CHECK(twice_again->name() == twice.name());
  CHECK((*twice_again)(md::Tensor::ones({1, 2})).to_vector() == std::vector<float>{2, 2});
}

TEST_CASE("a custom layer passes run_layer_test", "[layers][serialization][custom]") {
  lt::run_layer_test<Scale>({.initial = 2.0}, {.input_shape = {2, 3},
                                               .expected_output_shape = {2, 3},
                                               .expected_trainable_weights = 1,
                                               .supports_masking = true});
}

TEST_CASE("md::deserialize reads Keras's built-in envelopes", "[layers][serialization]") {
  md::clear_session();
  md::layers::Dense dense({.units = 4, .activation = "relu"});
  dense.build(md::Shape{md::None, 3});
  // serialize_keras_object(Dense(4, activation="relu")) after build((None, 3)), Keras 3.16.
  auto init = [](const char* cls, const md::json& config) {
    return md::json{{"module", "keras.initializers"}, {"class_name", cls}, {"config", config}, {"registered_name", nullptr}};
  };
  const md::json expected = {
      {"module", "keras.layers"},
      {"class_name", "Dense"},
      {"config",
       {{"name", "dense"},
        {"trainable", true},
        {"dtype", lt::dtype_policy()},
        {"units", 4},
        {"activation", "relu"},
        {"use_bias", true},
        {"kernel_initializer", init("GlorotUniform", {{"seed", nullptr}, {"input_axes", nullptr}, {"output_axes", nullptr}})},
        {"bias_initializer", init("Zeros", md::json::object())},
        {"kernel_regularizer", nullptr},
        {"bias_regularizer", nullptr},
        {"kernel_constraint", nullptr},
        {"bias_constraint", nullptr},
        {"quantization_config", nullptr}}},
      {"registered_name", nullptr},
      {"build_config", {{"input_shape", {nullptr, 3}}}}};
  CHECK(md::serialize(dense) == expected);
  const auto again = md::deserialize(expected);
  CHECK(again->built());
  CHECK(again->weights()[0].shape() == md::Shape{3, 4});
  // Keras 2's form: {"class_name", "config"} only, dtype as a string.
  const auto old = md::deserialize({{"class_name", "Dense"}, {"config", {{"name", "old"}, {"units", 2}, {"dtype", "float32"}}}});
  CHECK(old->name() == "old");
  CHECK_FALSE(old->built());
}

TEST_CASE("md::deserialize errors name the problem", "[layers][serialization][errors]") {
  // Unknown class: Keras's "Could not locate class" text.
  CHECK_THROWS_AS(md::deserialize({{"class_name", "NoSuchLayer"}, {"config", md::json::object()}}), md::ValueError);
  CHECK_THROWS_WITH(md::deserialize({{"module", "keras.layers"}, {"class_name", "NoSuchLayer"}, {"config", md::json::object()}}),
                    Catch::StartsWith("Could not locate class 'NoSuchLayer'."));
  // Missing or malformed envelope keys.
  CHECK_THROWS_WITH(md::deserialize({{"class_name", "Dense"}}), Catch::Contains("'config'"));
  CHECK_THROWS_WITH(md::deserialize({{"class_name", "Dense"}, {"config", 3}}), Catch::Contains("'config'"));
  CHECK_THROWS_WITH(md::deserialize({{"config", md::json::object()}}), Catch::Contains("'class_name'"));
  CHECK_THROWS_AS(md::deserialize(md::json::array()), md::TypeError);
  // A wrong value type names the key, the expected type and the class.
  const md::json bad_units = {{"class_name", "Dense"}, {"config", {{"name", "d"}, {"units", "3"}}}};
  CHECK_THROWS_WITH(md::deserialize(bad_units), Catch::Contains("Dense config key 'units' must be an integer; received \"3\"."));
  CHECK_THROWS_WITH(md::deserialize(bad_units), Catch::StartsWith("Error when deserializing class 'Dense' using config="));
  const md::json bad_rate = {{"class_name", "Dropout"}, {"config", {{"rate", true}}}};
  CHECK_THROWS_WITH(md::deserialize(bad_rate), Catch::Contains("Dropout config key 'rate' must be a number; received true."));
  const md::json bad_mask = {{"class_name", "Embedding"}, {"config", {{"input_dim", 3}, {"output_dim", 2}, {"mask_zero", 1}}}};
  CHECK_THROWS_WITH(md::deserialize(bad_mask),
                    Catch::Contains("Embedding config key 'mask_zero' must be a boolean; received 1."));
  const md::json missing = {{"class_name", "Embedding"}, {"config", {{"output_dim", 2}}}};
  CHECK_THROWS_WITH(md::deserialize(missing),
                    Catch::Contains("Embedding config is missing the required key 'input_dim' (an integer)."));
  // An unsupported Keras feature is refused, not ignored.
  const md::json quantized = {{"class_name", "Dense"}, {"config", {{"units", 2}, {"quantization_config", {{"mode", "int8"}}}}}};
  CHECK_THROWS_WITH(md::deserialize(quantized),
                    Catch::Contains("Dense config key 'quantization_config' is not supported by minidl (it must be null)."));
  // A regularizer minidl does not know names the key.
  const md::json regularized = {{"class_name", "Dense"}, {"config", {{"units", 2}, {"kernel_regularizer", {{"class_name", "L7"}}}}}};
  CHECK_THROWS_WITH(md::deserialize(regularized),
                    Catch::Contains("Dense config, key 'kernel_regularizer': Could not locate class 'L7'"));
  // A bad build_config.
  md::json bad_build = md::serialize(md::layers::Dense({.units = 2}));
  bad_build["build_config"] = {{"input_shape", {nullptr, "x"}}};
  CHECK_THROWS_AS(md::deserialize(bad_build), md::TypeError);
}

TEST_CASE("every built-in layer is registered under its Keras name", "[layers][serialization]") {
  for (const char* name : {"Dense", "Activation", "Dropout", "Flatten", "Reshape", "Embedding", "LayerNormalization",
                           "GlobalAveragePooling1D", "Add", "Concatenate", "InputLayer"}) {
    INFO(name);
    CHECK(md::Registry::instance().contains(name, "keras.layers"));
    CHECK(md::Registry::instance().module_of(name) == "keras.layers");
    CHECK_FALSE(md::Registry::instance().registered_name_of(name).has_value());
  }
}
