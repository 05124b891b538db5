// Golden fixtures from real Keras: three epochs of model.fit on a fixed dataset with
// shuffle=False (the same batches in the same order, the last one partial), from Keras's own
// initial weights. Each case deserializes Keras's model config, sets Keras's initial weights,
// compiles from Keras's compile config (optimizer, loss, metrics), fits (validation_split where
// Keras used it), and must reproduce Keras's per-epoch logs (loss, metrics and val_ ones) within
// 1e-4 relative, and the final weights, the optimizer variables, model.evaluate's results and
// model.predict's outputs after fit within 1e-4 (|minidl - Keras| <= 1e-4 * max(1, |Keras|)).
// Models: Dense MLPs (regression with SGD momentum; sparse and one-hot classification with Adam
// and Adagrad; binary with AdamW, a schedule and clipnorm; with validation_split and centered
// RMSprop), a Sequential with SGD nesterov and global_clipnorm (whose weight paths, built by its
// constructor, must be Keras's too), and the demo's layers (Dense, AdditiveAttention,
// GlobalAveragePooling1D) with RMSprop.
// Source: tests/data/keras/training.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax with Keras 3.15.1 on JAX 0.10.2 (CPU) (fixtures/model_cases.py).
#include <catch2/catch.hpp>

#include "keras/training_case.h"

TEST_CASE("Keras fixtures: three epochs of fit reproduce Keras's logs and weights", "[keras][training]") {
  kf::for_each_case("training.h5", kf::check_training_case);
}
