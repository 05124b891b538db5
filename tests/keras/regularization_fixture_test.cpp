// Golden fixtures from real Keras for regularizers and constraints:
//   regularizer.*  each regularizer (by class and by name) on fixed weights: its config round
//                  trip, its value and its gradient (jax.value_and_grad) within 1e-5;
//   constraint.*   each constraint: config round trip and its projection within 1e-5;
//   losses.dense   a Dense layer's `losses` after one call (the activity penalty, then the
//                  kernel and bias penalties), within 1e-5;
//   training.*     three epochs of fit of a model with kernel/bias/activity penalties and
//                  MaxNorm/UnitNorm constraints (tests/keras/training_case.h), within 1e-4.
// Source: tests/data/keras/regularization.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax with Keras 3.15.1 on JAX 0.10.2 (CPU) (fixtures/reshaping_layer_cases.py).
#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "keras/training_case.h"

namespace {

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

void check_regularizer(const kf::FixtureFile& file, const std::string& name) {
  const md::json object = file.json_attribute(name, "object");
  std::shared_ptr<md::regularizers::Regularizer> regularizer = md::regularizers::deserialize(object);
  if (file.has_attribute(name, "identifier")) {
    regularizer = md::regularizers::get(file.attribute(name, "identifier"));
  }
  kf::check_same_config(md::regularizers::serialize(*regularizer), object);
  const md::Variable w(file.tensor(name + "/input/0"));
  md::Tensor value;
  md::GradientTape tape;
  value = (*regularizer)(w.value());
  md::Tensor grad = tape.gradient(value, std::vector<md::Variable>{w}).at(0);
  // L1L2(0, 0) does not depend on w: the tape gives no gradient where JAX gives zeros.
  if (!grad.defined()) grad = md::Tensor::zeros(w.shape());
  kf::check_close(value, file.tensor(name + "/value/0"), kf::kTolerance, "value");
  kf::check_close(grad, file.tensor(name + "/gradient/0"), kf::kTolerance, "gradient");
}

void check_constraint(const kf::FixtureFile& file, const std::string& name) {
  const md::json object = file.json_attribute(name, "object");
  std::shared_ptr<md::constraints::Constraint> constraint = md::constraints::deserialize(object);
  if (file.has_attribute(name, "identifier")) constraint = md::constraints::get(file.attribute(name, "identifier"));
  kf::check_same_config(md::constraints::serialize(*constraint), object);
  kf::check_close((*constraint)(file.tensor(name + "/input/0")), file.tensor(name + "/output/0"), kf::kTolerance,
                  "output");
}

void check_losses(const kf::FixtureFile& file, const std::string& name) {
  const md::json object = file.json_attribute(name, "config");
  const auto layer = std::dynamic_pointer_cast<md::Layer>(md::deserialize(object));
  REQUIRE(layer);
  kf::check_same_config(md::serialize(*layer), object);
  layer->set_weights(file.tensors(name + "/weights"));
  (*layer)(file.tensor(name + "/inputs/0"));
  const std::vector<md::Tensor> losses = layer->losses();
  const std::vector<md::Tensor> expected = file.tensors(name + "/losses");
  REQUIRE(losses.size() == expected.size());
  for (size_t i = 0; i < losses.size(); ++i) {
    kf::check_close(losses[i], expected[i], kf::kTolerance, "loss " + std::to_string(i));
  }
}

}  // namespace

TEST_CASE("Keras fixtures: regularizers, constraints, layer losses and regularized training",
          "[keras][regularizers][constraints]") {
  kf::for_each_case("regularization.h5", [](const kf::FixtureFile& file, const std::string& name) {
    INFO(kf::describe(file, name));
    if (starts_with(name, "regularizer.")) {
      check_regularizer(file, name);
    } else if (starts_with(name, "constraint.")) {
      check_constraint(file, name);
    } else if (starts_with(name, "losses.")) {
      check_losses(file, name);
    } else if (starts_with(name, "training.")) {
      kf::check_training_case(file, name);
    } else {
      FAIL("unknown case kind: " << name);
    }
  });
}

TEST_CASE("Keras fixtures: regularization.h5 covers every regularizer and constraint", "[keras][regularizers]") {
  const kf::FixtureFile file("regularization.h5");
  std::set<std::string> classes;
  size_t trainings = 0;
  for (const std::string& name : kf::required_cases(file)) {
    if (file.has_attribute(name, "object")) classes.insert(file.json_attribute(name, "object").at("class_name"));
    if (starts_with(name, "training.")) ++trainings;
  }
  CHECK(classes == std::set<std::string>{"L1", "L2", "L1L2", "OrthogonalRegularizer", "MaxNorm", "NonNeg",
                                         "UnitNorm", "MinMaxNorm"});
  CHECK(trainings == 2);
}
