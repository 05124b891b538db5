// Golden fixtures from real Keras for recurrent layers called with initial_state (issue 14):
// LSTM [h, c], GRU and SimpleRNN [h], RNN over a cell, Bidirectional's forward then backward
// states; with masks and go_backwards. Outputs, masks, and the gradients with respect to x, the
// initial states and every weight (tests/keras/layer_case.h), through the fused sequence ops where
// the layers take them and through the composed cell loop.
// Source: tests/data/keras/layers_recurrent_state.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax --only layers_recurrent_state.h5 (fixtures/recurrent_state_layer_cases.py) with
// Keras 3.15.1 on JAX 0.10.2 (CPU).
#include <catch2/catch.hpp>
#include <minidl/minidl.h>

#include "keras/layer_case.h"

TEST_CASE("Keras fixtures: recurrent layers from initial states reproduce Keras's outputs and gradients",
          "[keras][layers][recurrent][initial_state]") {
  const kf::FixtureFile file("layers_recurrent_state.h5");
  CHECK(file.attribute("", "keras_version") == "3.15.1");
  const std::vector<std::string> names = kf::required_cases(file);
  CHECK(names.size() == 13);
  for (const std::string& name : names) {
    DYNAMIC_SECTION(name) { kf::check_layer_case(file, name); }
    DYNAMIC_SECTION(name << " (composed cell loop)") {
      const md::layers::ComposedRecurrenceGuard composed;
      kf::check_layer_case(file, name);
    }
  }
}

TEST_CASE("Keras fixtures: recurrent layers with initial states write Keras's configs back",
          "[keras][layers][recurrent][initial_state][config]") {
  const kf::FixtureFile file("layers_recurrent_state.h5");
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) { kf::check_layer_config(file, name); }
  }
}
