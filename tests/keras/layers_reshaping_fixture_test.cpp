// Golden fixtures from real Keras for the reshaping layers (ZeroPadding, Cropping, UpSampling,
// SpatialDropout) and for Dense, Embedding and LayerNormalization with every regularizer and
// constraint option: outputs, input and weight gradients within 1e-5 (tests/keras/layer_case.h
// says how), and configs equal to Keras's.
// Source: tests/data/keras/layers_reshaping.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax with Keras 3.15.1 on JAX 0.10.2 (CPU) (fixtures/reshaping_layer_cases.py).
#include <catch2/catch.hpp>

#include "keras/layer_case.h"

TEST_CASE("Keras fixtures: reshaping layers reproduce Keras's outputs and gradients", "[keras][layers][reshaping]") {
  kf::for_each_case("layers_reshaping.h5", [](const kf::FixtureFile& file, const std::string& name) {
    kf::check_layer_case(file, name);
  });
}

TEST_CASE("Keras fixtures: reshaping and regularized layers write Keras's configs back",
          "[keras][layers][reshaping][config]") {
  kf::for_each_case("layers_reshaping.h5", kf::check_layer_config);
}
