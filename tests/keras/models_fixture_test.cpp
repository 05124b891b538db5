// Golden fixtures from real Keras: functional models with a layer shared between two inputs and
// two outputs (and a Sequential model), replayed as layer cases are (tests/keras/layer_case.h:
// md::deserialize Keras's config, Keras's weights, both inputs; both outputs, and the gradients of
// sum_i sum(outputs[i] * cotangents[i]) with respect to both inputs and every trainable weight,
// within |a - b| <= 1e-5 * max(1, |b|)), and their configs written back.
// Source: tests/data/keras/models.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax with Keras 3.15.1 on JAX 0.10.2 (CPU) (fixtures/model_cases.py).
#include <catch2/catch.hpp>

#include "keras/layer_case.h"

TEST_CASE("Keras fixtures: functional models reproduce Keras's outputs and gradients", "[keras][models]") {
  kf::for_each_case("models.h5",
                    [](const kf::FixtureFile& file, const std::string& name) { kf::check_layer_case(file, name); });
}

TEST_CASE("Keras fixtures: functional models write Keras's configs back", "[keras][models][config]") {
  kf::for_each_case("models.h5",
                    [](const kf::FixtureFile& file, const std::string& name) { kf::check_layer_config(file, name); });
}
