// Golden fixtures from real Keras: every activation of layers/activations.h on a grid from -1e4
// to 1e4 (kinks included), its values and its gradient (vector-Jacobian product with a fixed
// cotangent), within |a - b| <= 1e-5 * max(1, |b|); infinities must match exactly.
// Source: tests/data/keras/activations.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax with Keras 3.15.1 on JAX 0.10.2 (CPU): keras.activations.get(name), jax.grad.
#include <catch2/catch.hpp>

#include "keras/layer_case.h"

TEST_CASE("Keras fixtures: activations match Keras's values and gradients", "[keras][activations]") {
  const kf::FixtureFile file("activations.h5");
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) {
      INFO("activation " << name << " (Keras " << file.attribute(name, "keras_version") << ")");
      // Keras's serialized function deserializes to the activation minidl knows by that name.
      const md::Activation by_name = md::activations::get(name);
      const md::Activation from_config = md::activations::deserialize(file.json_attribute(name, "config"));
      CHECK(from_config.name() == by_name.name());
      CHECK(md::activations::serialize(by_name) == file.json_attribute(name, "config")["config"]);

      const md::Tensor x = file.tensor(name + "/inputs/0");
      md::GradientTape tape;
      tape.watch(x);
      const md::Tensor y = by_name(x);
      kf::check_close(y, file.tensor(name + "/outputs/0"), kf::kTolerance, "output");
      const md::Tensor loss = md::ops::sum(md::ops::multiply(y, file.tensor(name + "/cotangents/0")));
      const std::vector<md::Tensor> grad = tape.gradient(loss, {x});
      const md::Tensor expected = file.tensor(name + "/grad_inputs/0");
      kf::check_close(grad.at(0).defined() ? grad[0] : md::Tensor::zeros(x.shape()), expected, kf::kTolerance,
                      "gradient");
    }
  }
}
