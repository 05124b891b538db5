// Golden fixtures from real Keras: every optimizer of optim/*.h (SGD with and without (Nesterov)
// momentum, Adam and AdamW with and without amsgrad, RMSprop with momentum and/or centered,
// Adagrad), each plain and with clipnorm, clipvalue, global_clipnorm, weight_decay and every
// schedule of optim/schedules.h, and all of clipvalue, weight decay and a schedule together, for
// five steps from Keras's weights and fixed gradients; plus gradients missing at some steps and
// exclude_from_weight_decay. Each case:
//   1. md::optim::deserialize(Keras's serialized optimizer), which must serialize back to it;
//   2. three variables with Keras's names and paths ("dense/kernel", "dense/bias" and the 0-d
//      "dense/scale");
//   3. five apply() calls with Keras's gradients (undefined where Keras's was None): before
//      each, the learning rate; after each, the weights and every optimizer variable (Keras's
//      paths, order and values: iteration, learning_rate, the slots).
// Within kf::kTolerance: |minidl - Keras| <= 1e-5 * max(1, |Keras|).
// Every schedule is also checked on its own: its config, and its values on steps 0 to 1000.
// Source: tests/data/keras/optimizers.h5 and schedules.h5, written by
// tools/keras_reference/generate_fixtures.py --backend jax with Keras 3.15.1 on JAX 0.10.2 (CPU)
// (fixtures/optimizer_cases.py).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "keras/layer_case.h"

namespace {

void check_optimizer_case(const kf::FixtureFile& file, const std::string& name) {
  INFO(kf::describe(file, name));
  const md::json config = file.json_attribute(name, "config");
  const std::shared_ptr<md::optim::Optimizer> optimizer = kf::round_trip<md::optim::Optimizer>(
      config, file.attribute(name, "class_name"), md::optim::deserialize, md::optim::serialize);

  const std::vector<std::string> paths = kf::string_list(file, name, "weight_paths");
  const std::vector<std::string> names = kf::string_list(file, name, "weight_names");
  const std::vector<md::Tensor> weights = file.tensors(name + "/weights");
  const std::vector<md::Tensor> gradients = file.tensors(name + "/gradients");
  REQUIRE(weights.size() == paths.size());
  REQUIRE(gradients.size() == paths.size());
  std::vector<md::Variable> variables;
  for (size_t i = 0; i < weights.size(); ++i) {
    md::Variable v(kf::row(weights[i], 0), names.at(i));
    v.set_path(paths[i]);
    variables.push_back(v);
  }
  if (file.has_attribute(name, "exclude_names")) {
    optimizer->exclude_from_weight_decay({}, kf::string_list(file, name, "exclude_names"));
  }

  const int64_t steps = std::stoll(file.attribute(name, "steps"));
  REQUIRE(steps > 0);
  const md::Tensor given = file.exists(name + "/gradient_mask") ? file.tensor(name + "/gradient_mask")
                                                                : md::Tensor::ones({steps, int64_t(paths.size())});
  const std::vector<float> gradient_given = given.to_vector();
  const md::Tensor learning_rates = file.tensor(name + "/learning_rates");
  const std::vector<std::string> variable_paths = kf::string_list(file, name, "variable_paths");
  const std::vector<md::Tensor> optimizer_variables = file.tensors(name + "/variables");
  REQUIRE(optimizer_variables.size() == variable_paths.size());

  for (int64_t step = 0; step < steps; ++step) {
    INFO("step " << step + 1 << " of " << steps);
    kf::check_close(md::Tensor::scalar(optimizer->learning_rate()), kf::row(learning_rates, step), kf::kTolerance,
                    "learning rate");
    std::vector<md::Tensor> grads;
    for (size_t i = 0; i < variables.size(); ++i) {
      const bool present = gradient_given.at(static_cast<size_t>(step) * variables.size() + i) != 0.0f;
      grads.push_back(present ? kf::row(gradients[i], step) : md::Tensor());
    }
    optimizer->apply(grads, variables);
    for (size_t i = 0; i < variables.size(); ++i) {
      kf::check_close(variables[i].value(), kf::row(weights[i], step + 1), kf::kTolerance, "weight " + paths[i]);
    }
    std::vector<md::Tensor> expected;
    for (const md::Tensor& stacked : optimizer_variables) expected.push_back(kf::row(stacked, step));
    kf::check_variables(optimizer->variables(), variable_paths, expected, kf::kTolerance, "optimizer");
  }
  kf::check_same_config(md::optim::serialize(*optimizer), config, "config after five steps");
}

}  // namespace

TEST_CASE("Keras fixtures: optimizers take Keras's steps", "[keras][optimizers]") {
  kf::for_each_case("optimizers.h5", check_optimizer_case);
}

TEST_CASE("Keras fixtures: learning-rate schedules give Keras's rates and configs", "[keras][schedules]") {
  kf::for_each_case("schedules.h5", [](const kf::FixtureFile& file, const std::string& name) {
    INFO(kf::describe(file, name));
    const std::shared_ptr<md::optim::LearningRateSchedule> schedule = kf::round_trip<md::optim::LearningRateSchedule>(
        file.json_attribute(name, "config"), file.attribute(name, "class_name"), md::optim::deserialize_schedule,
        md::optim::serialize);
    const std::vector<double> steps = file.doubles(name + "/steps");
    const md::Tensor expected = file.tensor(name + "/values");
    REQUIRE(expected.size() == static_cast<int64_t>(steps.size()));
    std::vector<float> values;
    for (double step : steps) values.push_back(static_cast<float>((*schedule)(static_cast<int64_t>(step))));
    kf::check_close(md::Tensor::from_vector(values, expected.shape()), expected, kf::kTolerance, "rates");
  });
}
