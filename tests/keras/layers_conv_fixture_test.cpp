// Golden fixtures from real Keras for the convolution layers (Conv1D, Conv2D, Conv2DTranspose,
// DepthwiseConv2D, SeparableConv2D): outputs, input and weight gradients, and configs.
// Source: tests/data/keras/layers_conv.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax --only layers_conv.h5 (cases in fixtures/conv_layer_cases.py) with Keras 3.15.1
// on JAX 0.10.2 (CPU).
#include <catch2/catch.hpp>

#include "keras/layer_case.h"

TEST_CASE("Keras fixtures: convolution layers reproduce Keras's outputs and gradients", "[keras][layers][conv]") {
  const kf::FixtureFile file("layers_conv.h5");
  CHECK(file.attribute("", "keras_version") == "3.15.1");
  const std::vector<std::string> names = kf::required_cases(file);
  CHECK(names.size() >= 25);
  for (const std::string& name : names) {
    DYNAMIC_SECTION(name) { kf::check_layer_case(file, name); }
  }
}

TEST_CASE("Keras fixtures: convolution layers write Keras's configs back", "[keras][layers][conv][config]") {
  const kf::FixtureFile file("layers_conv.h5");
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) { kf::check_layer_config(file, name); }
  }
}
