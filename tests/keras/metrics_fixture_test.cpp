// Golden fixtures from real Keras: every metric of optim/metrics.h, fed several batches with
// update_state (sample weights of rank 0 to 2, masks on y_pred and on Mean's values): after each
// batch its state (Keras's variables total and count) and result(), and both again after
// reset_state(). Each case deserializes Keras's serialized metric, which must serialize back to it. Values within
// kf::kTolerance: |minidl - Keras| <= 1e-5 * max(1, |Keras|) (Keras accumulates in float32,
// minidl in double).
// Source: tests/data/keras/metrics.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax with Keras 3.15.1 on JAX 0.10.2 (CPU) (fixtures/metric_cases.py).
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "keras/layer_case.h"

namespace {

// Keras's metric.variables, [total, count], as minidl's Mean holds them.
md::Tensor metric_state(const md::metrics::Metric& metric) {
  const auto* mean = dynamic_cast<const md::metrics::Mean*>(&metric);
  REQUIRE(mean != nullptr);
  return md::Tensor::from_vector({static_cast<float>(mean->total()), static_cast<float>(mean->count())}, {2});
}

void check_metric_case(const kf::FixtureFile& file, const std::string& name) {
  INFO(kf::describe(file, name));
  const std::shared_ptr<md::metrics::Metric> metric =
      kf::round_trip<md::metrics::Metric>(file.json_attribute(name, "config"), file.attribute(name, "class_name"),
                                          md::metrics::deserialize, md::metrics::serialize);
  REQUIRE(kf::string_list(file, name, "variable_names") == std::vector<std::string>{"total", "count"});

  const bool values_form = file.attribute(name, "update_form") == "values";
  const int64_t updates = std::stoll(file.attribute(name, "updates"));
  REQUIRE(updates > 0);
  const md::Tensor results = file.tensor(name + "/results");
  const md::Tensor states = file.tensor(name + "/states");
  for (int64_t u = 0; u < updates; ++u) {
    INFO("after update_state call " << u + 1 << " of " << updates);
    const std::string base = name + "/updates/" + std::to_string(u);
    const std::vector<md::Tensor> inputs = file.tensors(base + "/inputs", values_form ? 1 : 2);
    const md::Tensor sample_weight =
        file.exists(base + "/sample_weight") ? file.tensor(base + "/sample_weight") : md::Tensor();
    // The mask goes on y_pred, or on the values (Mean).
    const size_t masked = values_form ? 0 : 1;
    const std::string mask_path = base + "/masks/" + std::to_string(masked);
    if (file.exists(mask_path)) inputs.at(masked).set_keras_mask(kf::as_bool_mask(file.tensor(mask_path)));
    if (values_form) {
      auto* mean = dynamic_cast<md::metrics::Mean*>(metric.get());
      REQUIRE(mean != nullptr);
      mean->update_state(inputs.at(0), sample_weight);
    } else {
      metric->update_state(inputs.at(0), inputs.at(1), sample_weight);
    }
    kf::check_close(md::Tensor::scalar(static_cast<float>(metric->result())), kf::row(results, u), kf::kTolerance,
                    "result()");
    kf::check_close(metric_state(*metric), kf::row(states, u), kf::kTolerance, "[total, count]");
  }
  metric->reset_state();
  kf::check_close(md::Tensor::scalar(static_cast<float>(metric->result())), file.tensor(name + "/reset_result"),
                  kf::kTolerance, "result() after reset_state()");
  kf::check_close(metric_state(*metric), file.tensor(name + "/reset_states"), kf::kTolerance,
                  "[total, count] after reset_state()");
}

}  // namespace

TEST_CASE("Keras fixtures: metrics keep Keras's state and results", "[keras][metrics]") {
  kf::for_each_case("metrics.h5", check_metric_case);
}
