// Golden fixtures from real Keras for the recurrent layers (issue 14): SimpleRNN, LSTM, GRU, RNN
// over each cell, masks, Bidirectional, TimeDistributed and Masking; outputs, masks, input and
// weight gradients and configs (tests/keras/layer_case.h).
// Source: tests/data/keras/layers_recurrent.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax --only layers_recurrent.h5 (fixtures/recurrent_layer_cases.py) with Keras 3.15.1 on
// JAX 0.10.2 (CPU).
#include <catch2/catch.hpp>
#include <minidl/minidl.h>

#include "keras/layer_case.h"

TEST_CASE("Keras fixtures: recurrent layers reproduce Keras's outputs and gradients",
          "[keras][layers][recurrent]") {
  const kf::FixtureFile file("layers_recurrent.h5");
  CHECK(file.attribute("", "keras_version") == "3.15.1");
  const std::vector<std::string> names = kf::required_cases(file);
  CHECK(names.size() >= 45);
  for (const std::string& name : names) {
    DYNAMIC_SECTION(name) { kf::check_layer_case(file, name); }
  }
}

// SimpleRNN, LSTM and GRU take their fused sequence op where it fits (above); the composed cell
// loop must agree with Keras as well, on every case.
TEST_CASE("Keras fixtures: recurrent layers reproduce Keras through the composed cell loop too",
          "[keras][layers][recurrent][composed]") {
  const kf::FixtureFile file("layers_recurrent.h5");
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) {
      const md::layers::ComposedRecurrenceGuard composed;
      kf::check_layer_case(file, name);
    }
  }
}

TEST_CASE("Keras fixtures: recurrent layers write Keras's configs back",
          "[keras][layers][recurrent][config]") {
  const kf::FixtureFile file("layers_recurrent.h5");
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) { kf::check_layer_config(file, name); }
  }
}
