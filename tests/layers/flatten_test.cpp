// Flatten: run_layer_test, channels_first ordering, symbolic shapes, config and errors.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Flatten;

TEST_CASE("Flatten passes run_layer_test", "[layers][flatten]") {
  SECTION("channels_last") {
    lt::run_layer_test<Flatten>({}, {.input_shape = {2, 3, 2, 2}, .expected_output_shape = {2, 12}});
  }
  SECTION("channels_first") {
    lt::run_layer_test<Flatten>({.data_format = "channels_first"},
                                {.input_shape = {2, 3, 2, 2}, .expected_output_shape = {2, 12}});
  }
  SECTION("1-D input: one feature per sample (Keras's test_flatten_with_scalar_channels)") {
    lt::run_layer_test<Flatten>({}, {.input_shape = {4}, .expected_output_shape = {4, 1}});
  }
}

TEST_CASE("Flatten keeps row-major order, after moving channels last for channels_first", "[layers][flatten]") {
  // Keras's test_flatten: channels_last is np.reshape(x, (-1, 75)); channels_first is
  // np.reshape(np.transpose(x, (0, 2, 3, 1)), (-1, 75)).
  const md::Tensor x = md::Tensor::arange(2 * 3 * 2 * 2).reshape({2, 3, 2, 2});
  CHECK(Flatten()(x).to_vector() == x.to_vector());
  const md::Tensor expected = md::ops::reshape(md::ops::transpose(x, {0, 2, 3, 1}), {2, 12});
  CHECK(Flatten({.data_format = "channels_first"})(x).to_vector() == expected.to_vector());
  CHECK(Flatten({.data_format = "channels_first"})(x).shape() == md::Shape{2, 12});
}

TEST_CASE("Flatten on symbolic inputs with unknown dims", "[layers][flatten][symbolic]") {
  // Keras's test_flatten_symbolic_with_dynamic_batch_size and _with_dynamic_dimension.
  CHECK(Flatten()(md::Input(md::layers::InputLayerOptions{.batch_shape = md::Shape{md::None, 2, 3}})).shape() == md::Shape{md::None, 6});
  CHECK(Flatten()(md::Input(md::layers::InputLayerOptions{.batch_shape = md::Shape{5, 2, md::None}})).shape() == md::Shape{5, md::None});
}

TEST_CASE("Flatten writes Keras's config", "[layers][flatten][config]") {
  md::clear_session();
  const md::json expected = {
      {"name", "flatten"}, {"trainable", true}, {"dtype", lt::dtype_policy()}, {"data_format", "channels_last"}};
  CHECK(Flatten().get_config() == expected);
  // data_format is standardised (lower-cased; null is channels_last).
  CHECK(Flatten({.data_format = "Channels_First"}).get_config()["data_format"] == "channels_first");
  md::json config = expected;
  config["data_format"] = nullptr;
  CHECK(Flatten::from_config(config).get_config()["data_format"] == "channels_last");
}

TEST_CASE("Flatten errors", "[layers][flatten][errors]") {
  CHECK_THROWS_WITH(Flatten({.data_format = "nhwc"}),
                    "The `data_format` argument must be one of {'channels_first', 'channels_last'}. Received: "
                    "data_format=nhwc");
  md::clear_session();
  Flatten flat;
  CHECK_THROWS_WITH(flat(md::Tensor::scalar(1.0f)),
                    "Input 0 of layer 'flatten' is incompatible with the layer: expected min_ndim=1, found ndim=0. "
                    "Full shape received: ()");
}

TEST_CASE("Flatten does not support masking: a mask stops there", "[layers][flatten][mask]") {
  Flatten flat;
  CHECK_FALSE(flat.supports_masking());
  const md::Tensor x = md::Tensor::ones({2, 3, 4});
  x.set_keras_mask(md::Tensor::ones({2, 3}, md::DType::bool_));
  CHECK_FALSE(flat(x).keras_mask().defined());
}
