// Golden fixtures from real Keras: every loss of optim/losses.h as a Loss object, with each
// reduction (sum, sum_over_batch_size, mean, mean_with_sample_weight, "none" and None), sample
// weights of rank 0, 1 and 2, masks on y_pred, from_logits, label_smoothing, axis, delta and
// ignore_class. Each case deserializes Keras's serialized loss (which must serialize back to
// it, with the arguments Keras's config leaves out: see check_loss_case), calls it on Keras's
// y_true and y_pred (the mask attached to y_pred, the sample weight given), and compares the
// loss and the gradient of sum(loss * cotangent) with respect to y_pred, within kf::kTolerance:
// |minidl - Keras| <= 1e-5 * max(1, |Keras|).
// Source: tests/data/keras/losses.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax with Keras 3.15.1 on JAX 0.10.2 (CPU) (fixtures/loss_cases.py; jax.grad).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "keras/layer_case.h"

namespace {

void check_loss_case(const kf::FixtureFile& file, const std::string& name) {
  INFO(kf::describe(file, name));
  // Keras 3.15's Huber.get_config leaves out delta and SparseCategoricalCrossentropy's leaves
  // out axis, so Keras's own configs lose them (Huber(delta=0.5) reloads with delta 1). minidl
  // writes both (Keras's from_config takes them): its config must be Keras's plus exactly those
  // arguments, and the loss is built from that config.
  const md::json keras_config = file.json_attribute(name, "config");
  CHECK(md::losses::deserialize(keras_config)->class_name() == file.attribute(name, "class_name"));
  md::json config = keras_config;
  const md::json left_out = file.json_attribute(name, "arguments_not_in_config");
  for (auto it = left_out.begin(); it != left_out.end(); ++it) config["config"][it.key()] = it.value();
  const std::shared_ptr<md::losses::Loss> loss = kf::round_trip<md::losses::Loss>(
      config, file.attribute(name, "class_name"), md::losses::deserialize, md::losses::serialize);

  const std::vector<md::Tensor> inputs = file.tensors(name + "/inputs", 2);
  const md::Tensor& y_true = inputs.at(0);
  const md::Tensor& y_pred = inputs.at(1);
  const md::Tensor sample_weight =
      file.exists(name + "/sample_weight") ? file.tensor(name + "/sample_weight") : md::Tensor();
  if (file.exists(name + "/masks/1")) y_pred.set_keras_mask(kf::as_bool_mask(file.tensor(name + "/masks/1")));

  md::GradientTape tape;
  tape.watch(y_pred);
  const md::Tensor output = (*loss)(y_true, y_pred, sample_weight);
  kf::check_close(output, file.tensor(name + "/outputs/0"), kf::kTolerance, "loss");
  const md::Tensor scalar = kf::weighted_sum({output}, {file.tensor(name + "/cotangents/0")});
  const std::vector<md::Tensor> grads = tape.gradient(scalar, {y_pred});
  const md::Tensor expected = file.tensor(name + "/grad_inputs/1");
  kf::check_close(grads.at(0).defined() ? grads[0] : md::Tensor::zeros(y_pred.shape()), expected, kf::kTolerance,
                  "gradient w.r.t. y_pred");
}

}  // namespace

TEST_CASE("Keras fixtures: losses give Keras's values and gradients", "[keras][losses]") {
  kf::for_each_case("losses.h5", check_loss_case);
}
