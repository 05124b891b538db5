// Golden fixtures from real Keras: every minidl layer in the configurations of tests/layers,
// replayed value for value and gradient for gradient (tests/keras/layer_case.h says how).
// Source: tests/data/keras/layers.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax with Keras 3.15.1 on JAX 0.10.2 (CPU).
#include <catch2/catch.hpp>

#include "keras/layer_case.h"

TEST_CASE("Keras fixtures: layers reproduce Keras's outputs, masks and gradients", "[keras][layers]") {
  const kf::FixtureFile file("layers.h5");
  CHECK(file.attribute("", "keras_version") == "3.15.1");
  size_t called = 0;
  for (const std::string& name : kf::required_cases(file)) {
    if (file.attribute(name, "input_structure") == "none") continue;  // config-only (InputLayer)
    ++called;
    DYNAMIC_SECTION(name) { kf::check_layer_case(file, name); }
  }
  CHECK(called > 0);
}

TEST_CASE("Keras fixtures: layers write Keras's configs back", "[keras][layers][config]") {
  const kf::FixtureFile file("layers.h5");
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) { kf::check_layer_config(file, name); }
  }
}
