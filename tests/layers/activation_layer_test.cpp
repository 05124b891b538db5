// The Activation layer: run_layer_test, Keras's config, values, and activations given as
// Keras's serialized-function objects.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Activation;

TEST_CASE("Activation passes run_layer_test", "[layers][activation]") {
  SECTION("relu (Keras's test_activation_basics)") {
    lt::run_layer_test<Activation>({.activation = "relu"}, {.input_shape = {2, 3},
                                                             .expected_output_shape = {2, 3},
                                                             .supports_masking = true,
                                                             .built_after_construction = true,
                                                             .gradcheck = false});
  }
  SECTION("gelu, smooth: finite differences too") {
    lt::run_layer_test<Activation>({.activation = "gelu"}, {.input_shape = {2, 2},
                                                             .expected_output_shape = {2, 2},
                                                             .supports_masking = true,
                                                             .built_after_construction = true});
  }
  SECTION("tanh on a masked 3-D input: the mask passes through") {
    const md::Tensor mask = md::Tensor::from_vector({1, 1, 0, 1, 0, 0}, {2, 3}, md::DType::bool_);
    lt::run_layer_test<Activation>({.activation = "tanh"}, {.input_shape = {2, 3, 2},
                                                             .input_masks = {mask},
                                                             .expected_output_shape = {2, 3, 2},
                                                             .supports_masking = true,
                                                             .built_after_construction = true,
                                                             .expected_output_mask = mask});
  }
}

TEST_CASE("Activation computes its function", "[layers][activation]") {
  const md::Tensor x = md::Tensor::from_vector({-2.0f, -0.5f, 0.0f, 3.0f}, {1, 4});
  CHECK(Activation({.activation = "relu"})(x).to_vector() == std::vector<float>{0, 0, 0, 3});
  CHECK(Activation({.activation = "linear"})(x).to_vector() == x.to_vector());
  const std::vector<float> s = Activation({.activation = "sigmoid"})(x).to_vector();
  for (size_t i = 0; i < s.size(); ++i) CHECK(s[i] == Approx(1.0 / (1.0 + std::exp(-x.to_vector()[i]))));
}

TEST_CASE("Activation writes Keras's config", "[layers][activation][config]") {
  md::clear_session();
  const Activation act({.activation = "relu"});
  // keras.layers.Activation("relu").get_config() in Keras 3.16.
  const md::json expected = {
      {"name", "activation"}, {"trainable", true}, {"dtype", lt::dtype_policy()}, {"activation", "relu"}};
  CHECK(act.get_config() == expected);
  // "swish" is Keras's alias of silu, which serializes as "silu".
  CHECK(Activation({.activation = "swish"}).get_config()["activation"] == "silu");
}

TEST_CASE("Activation loads activations written as Keras function objects", "[layers][activation][config]") {
  // What keras.saving.serialize_keras_object(keras.activations.relu) writes.
  const md::json object = {{"module", "keras.activations"},
                           {"class_name", "function"},
                           {"config", "relu"},
                           {"registered_name", "relu"}};
  md::json config = {{"name", "act"}, {"trainable", true}, {"dtype", lt::dtype_policy()}, {"activation", object}};
  const Activation act = Activation::from_config(config);
  CHECK(act.options().activation.name() == "relu");
  CHECK(act.get_config()["activation"] == "relu");
  // Keras's "builtins" form and a null activation (linear).
  config["activation"] = {{"module", "builtins"}, {"class_name", "function"}, {"config", "tanh"}, {"registered_name", nullptr}};
  CHECK(Activation::from_config(config).options().activation.name() == "tanh");
  config["activation"] = nullptr;
  CHECK(Activation::from_config(config).options().activation.name() == "linear");
  // The same helper serves Dense.
  const md::json dense = {{"name", "d"}, {"units", 2}, {"activation", object}};
  CHECK(md::layers::Dense::from_config(dense).get_config()["activation"] == "relu");
  // Errors.
  config["activation"] = "no_such_function";
  CHECK_THROWS_WITH(Activation::from_config(config),
                    "Could not interpret activation function identifier: no_such_function");
  config["activation"] = {{"module", "keras.activations"}, {"class_name", "function"}, {"config", "nope"}};
  CHECK_THROWS_WITH(Activation::from_config(config),
                    Catch::StartsWith("Could not interpret activation function identifier: {"));
  config["activation"] = 3;
  CHECK_THROWS_AS(Activation::from_config(config), md::TypeError);
  CHECK_THROWS_WITH(Activation::from_config(config),
                    "Activation config key 'activation' must be a string or a serialized activation function; received "
                    "3.");
}
