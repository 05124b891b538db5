#pragma once
// One layer fixture case (layers.h5, attention_*.h5), replayed in minidl:
//   1. md::deserialize the config Keras wrote (build_config included: the layer comes built);
//   2. set_weights with Keras's weights;
//   3. call it on Keras's inputs with the same masks and keyword arguments, under a
//      GradientTape watching the float inputs;
//   4. compare every output, and the mask Keras attaches to each output;
//   5. take the gradient of L = sum_i sum(outputs[i] * cotangents[i]) with respect to each
//      float input and each trainable weight, and compare with Keras's (jax.grad or
//      tf.GradientTape).
// Values and gradients within kf::kTolerance, relative: |a - b| <= 1e-5 * max(1, |b|).
#include <string>
#include <vector>

#include "keras/keras_fixture.h"

namespace kf {

struct LayerCaseChecks {
  // Whether step 4 covers the masks of the outputs after the first (see
  // check_later_output_masks for the known divergence there).
  bool later_output_masks = true;
};

// Steps 1-5 above; failures are Catch2 checks naming the case and the tensor.
void check_layer_case(const FixtureFile& file, const std::string& name, const LayerCaseChecks& checks = {});

// Steps 1-3, then the masks of outputs 1, 2, ... alone.
void check_later_output_masks(const FixtureFile& file, const std::string& name);

// serialize(deserialize(Keras's object)) gives back Keras's config and build_config (as JSON
// values; key order aside). For config-only cases (InputLayer) also the output's shape.
void check_layer_config(const FixtureFile& file, const std::string& name);

}  // namespace kf
