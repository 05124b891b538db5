// Golden fixtures from real Keras for the pooling layers and BatchNormalization (issue 13):
// outputs, masks, input and weight gradients and configs (tests/keras/layer_case.h), plus
// BatchNormalization's moving statistics after the case's one call (training moves them once).
// Source: tests/data/keras/layers_pooling.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax --only layers_pooling.h5 (fixtures/pooling_layer_cases.py) with Keras 3.15.1 on
// JAX 0.10.2 (CPU).
#include <catch2/catch.hpp>

#include "keras/layer_case.h"

TEST_CASE("Keras fixtures: pooling and batch normalization reproduce Keras's outputs and gradients",
          "[keras][layers][pooling]") {
  const kf::FixtureFile file("layers_pooling.h5");
  CHECK(file.attribute("", "keras_version") == "3.15.1");
  const std::vector<std::string> names = kf::required_cases(file);
  CHECK(names.size() >= 25);
  for (const std::string& name : names) {
    DYNAMIC_SECTION(name) { kf::check_layer_case(file, name); }
  }
}

TEST_CASE("Keras fixtures: pooling and batch normalization write Keras's configs back",
          "[keras][layers][pooling][config]") {
  const kf::FixtureFile file("layers_pooling.h5");
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) { kf::check_layer_config(file, name); }
  }
}

TEST_CASE("Keras fixtures: BatchNormalization's moving statistics after one call", "[keras][layers][pooling]") {
  const kf::FixtureFile file("layers_pooling.h5");
  size_t checked = 0;
  for (const std::string& name : kf::required_cases(file)) {
    if (!file.exists(name + "/moving_after")) continue;
    ++checked;
    DYNAMIC_SECTION(name) {
      INFO(kf::describe(file, name));
      std::shared_ptr<md::Layer> layer = md::deserialize(file.json_attribute(name, "config"));
      REQUIRE(layer);
      layer->set_weights(file.tensors(name + "/weights"));
      const md::json kwargs = file.json_attribute(name, "call_kwargs");
      md::CallArgs args = md::CallArgs::of(file.tensor(name + "/inputs/0"));
      md::Tensor mask;
      if (kwargs.contains("mask") && !kwargs["mask"].is_null()) {
        mask = kf::as_bool_mask(file.tensor(name + "/masks/0"));
        args.set_kwarg("mask", args.ref(mask));
      }
      layer->invoke(args, kwargs.at("training").get<bool>());
      const std::vector<md::Tensor> expected = file.tensors(name + "/moving_after");
      const std::vector<md::Variable> moving = layer->non_trainable_weights();
      REQUIRE(moving.size() >= 2);
      // The last two non-trainable weights are moving_mean and moving_variance (a layer that is
      // not trainable lists gamma and beta before them).
      const size_t first = moving.size() - 2;
      kf::check_close(moving[first].value(), expected.at(0), kf::kTolerance, "moving_mean");
      kf::check_close(moving[first + 1].value(), expected.at(1), kf::kTolerance, "moving_variance");
    }
  }
  CHECK(checked >= 10);
}
