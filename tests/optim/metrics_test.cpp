// Metrics: values against hand computation and Keras's docstring examples
// (keras/src/metrics/accuracy_metrics.py, reduction_metrics.py), accumulation over batches,
// reset, sample weights, masks, compile()'s "accuracy" resolution, configs and lookup.
#include <minidl/minidl.h>
#include <minidl/optim/losses.h>
#include <minidl/optim/metrics.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace md = minidl;

namespace metrics_test_helpers {

md::Tensor mt(const std::vector<float>& values, const md::Shape& shape) {
  return md::Tensor::from_vector(values, shape);
}

template <class F>
std::string metric_error_text(F&& f) {
  try {
    f();
  } catch (const md::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace metrics_test_helpers

using namespace metrics_test_helpers;
using Catch::Matchers::Contains;

TEST_CASE("metrics: Mean is a weighted running mean", "[optim][metrics]") {
  md::metrics::Mean m;
  CHECK(m.name() == "mean");
  CHECK(m.result() == 0.0);  // nothing seen: 0, not NaN
  // Keras's docstring: [1, 3, 5, 7] -> 4; with sample_weight [1, 1, 0, 0] -> 2.
  m.update_state(mt({1, 3, 5, 7}, {4}));
  CHECK(m.result() == Approx(4.0));
  m.reset_state();
  CHECK(m.result() == 0.0);
  CHECK(m.count() == 0.0);
  m.update_state(mt({1, 3, 5, 7}, {4}), mt({1, 1, 0, 0}, {4}));
  CHECK(m.result() == Approx(2.0));
  CHECK(m.total() == Approx(4.0));
  CHECK(m.count() == Approx(2.0));

  // Accumulation over batches: (1 + 3 + 5 + 7 + 10) / 5, whatever the batch split.
  md::metrics::Mean batches;
  batches.update_state(mt({1, 3}, {2}));
  batches.update_state(mt({5, 7, 10}, {3}));
  CHECK(batches.result() == Approx(26.0 / 5));

  // Scalars with weights, as fit() tracks the loss: batch means 0.5 (64 samples) and 0.2 (16).
  md::metrics::Mean loss_tracker({.name = "loss"});
  loss_tracker.update_state(0.5, 64);
  loss_tracker.update_state(0.2, 16);
  CHECK(loss_tracker.name() == "loss");
  CHECK(loss_tracker.result() == Approx((0.5 * 64 + 0.2 * 16) / 80));
  // A scalar tensor value with a scalar weight does the same.
  md::metrics::Mean tensor_tracker;
  tensor_tracker.update_state(md::Tensor::scalar(0.5f), md::Tensor::scalar(64.0f));
  tensor_tracker.update_state(md::Tensor::scalar(0.2f), md::Tensor::scalar(16.0f));
  CHECK(tensor_tracker.result() == Approx(loss_tracker.result()));

  // Per-sample values of higher rank are averaged over their trailing axes first
  // (Keras's reduce_to_samplewise_values): samples 2 and 5, weights 3 and 1.
  md::metrics::Mean rows;
  rows.update_state(mt({1, 3, 4, 6}, {2, 2}), mt({3, 1}, {2}));
  CHECK(rows.result() == Approx((2.0 * 3 + 5.0 * 1) / 4));
  md::metrics::Mean unweighted_rows;
  unweighted_rows.update_state(mt({1, 3, 4, 6}, {2, 2}));
  CHECK(unweighted_rows.count() == 2.0);
  CHECK(unweighted_rows.result() == Approx(3.5));

  // Mean has no (y_true, y_pred) form.
  md::metrics::Metric& base = m;
  CHECK_THAT(metric_error_text([&] { base.update_state(mt({1}, {1}), mt({1}, {1}), md::Tensor()); }),
             Contains("update_state(values, sample_weight)"));
  CHECK_THROWS_AS(m.update_state(mt({1, 2}, {2}), mt({1, 2, 3}, {3})), md::ShapeError);
}

TEST_CASE("metrics: Accuracy matches exact equality (Keras's docstring)", "[optim][metrics]") {
  md::metrics::Accuracy acc;
  CHECK(acc.name() == "accuracy");
  acc.update_state(mt({1, 2, 3, 4}, {4, 1}), mt({0, 2, 3, 4}, {4, 1}));
  CHECK(acc.result() == Approx(0.75));
  acc.reset_state();
  acc.update_state(mt({1, 2, 3, 4}, {4, 1}), mt({0, 2, 3, 4}, {4, 1}), mt({1, 1, 0, 0}, {4}));
  CHECK(acc.result() == Approx(0.5));
}

TEST_CASE("metrics: BinaryAccuracy thresholds predictions (Keras's docstring)", "[optim][metrics]") {
  md::metrics::BinaryAccuracy acc;
  CHECK(acc.name() == "binary_accuracy");
  CHECK(acc.threshold() == 0.5);
  const md::Tensor y = mt({1, 1, 0, 0}, {4, 1});
  const md::Tensor p = mt({0.98f, 1, 0, 0.6f}, {4, 1});
  acc.update_state(y, p);
  CHECK(acc.result() == Approx(0.75));
  acc.reset_state();
  acc.update_state(y, p, mt({1, 0, 0, 1}, {4}));
  CHECK(acc.result() == Approx(0.5));
  // Strictly greater than the threshold: 0.5 counts as 0. Labels (B,) meet predictions (B, 1).
  md::metrics::BinaryAccuracy at_half;
  at_half.update_state(mt({0, 1}, {2}), mt({0.5f, 0.51f}, {2, 1}));
  CHECK(at_half.result() == Approx(1.0));
  md::metrics::BinaryAccuracy strict({.threshold = 0.99});
  strict.update_state(y, p);
  CHECK(strict.result() == Approx(0.75));  // 0.98 -> 0 (wrong), 1 -> 1, 0 -> 0, 0.6 -> 0 (right)
  // Several outputs per sample: the per-sample value is their mean.
  md::metrics::BinaryAccuracy multi;
  multi.update_state(mt({1, 0, 1, 1}, {2, 2}), mt({0.9f, 0.8f, 0.7f, 0.6f}, {2, 2}));
  CHECK(multi.result() == Approx(0.75));
}

TEST_CASE("metrics: CategoricalAccuracy compares argmaxes (Keras's docstring)", "[optim][metrics]") {
  md::metrics::CategoricalAccuracy acc;
  CHECK(acc.name() == "categorical_accuracy");
  const md::Tensor y = mt({0, 0, 1, 0, 1, 0}, {2, 3});
  const md::Tensor p = mt({0.1f, 0.9f, 0.8f, 0.05f, 0.95f, 0}, {2, 3});
  acc.update_state(y, p);
  CHECK(acc.result() == Approx(0.5));
  acc.reset_state();
  acc.update_state(y, p, mt({0.7f, 0.3f}, {2}));
  CHECK(acc.result() == Approx(0.3));
  // Logits work as well as probabilities.
  md::metrics::CategoricalAccuracy logits;
  logits.update_state(y, mt({-2, 3, 1, 0, 5, -1}, {2, 3}));
  CHECK(logits.result() == Approx(0.5));
}

TEST_CASE("metrics: SparseCategoricalAccuracy (Keras's docstring, hand counts, batches)", "[optim][metrics]") {
  md::metrics::SparseCategoricalAccuracy acc;
  CHECK(acc.name() == "sparse_categorical_accuracy");
  const md::Tensor p = mt({0.1f, 0.6f, 0.3f, 0.05f, 0.95f, 0}, {2, 3});
  acc.update_state(mt({2, 1}, {2, 1}), p);
  CHECK(acc.result() == Approx(0.5));
  acc.reset_state();
  acc.update_state(mt({2, 1}, {2, 1}), p, mt({0.7f, 0.3f}, {2}));
  CHECK(acc.result() == Approx(0.3));

  // Accumulated over three batches of labels (B,): 2/3, 1/2 and 0/1 right -> 3/6.
  md::metrics::SparseCategoricalAccuracy running;
  running.update_state(mt({0, 1, 2}, {3}), mt({5, 1, 0, 0, 2, 1, 0, 3, 1}, {3, 3}));  // argmax 0, 1, 1
  CHECK(running.result() == Approx(2.0 / 3));
  running.update_state(mt({2, 2}, {2}), mt({0, 0, 1, 1, 0, 0}, {2, 3}));  // argmax 2, 0
  CHECK(running.result() == Approx(3.0 / 5));
  running.update_state(mt({1}, {1}), mt({0.5f, 0.2f, 0.3f}, {1, 3}));  // argmax 0
  CHECK(running.result() == Approx(3.0 / 6));
  // Weighted: weights 2, 1, 1 on right, right, wrong -> 3 / 4.
  md::metrics::SparseCategoricalAccuracy weighted;
  weighted.update_state(mt({0, 1, 2}, {3}), mt({5, 1, 0, 0, 2, 1, 0, 3, 1}, {3, 3}), mt({2, 1, 1}, {3}));
  CHECK(weighted.result() == Approx(3.0 / 4));
  // Ties go to the first class, as NumPy's argmax.
  md::metrics::SparseCategoricalAccuracy ties;
  ties.update_state(mt({0}, {1}), mt({0.5f, 0.5f}, {1, 2}));
  CHECK(ties.result() == Approx(1.0));
  // Sequence outputs: labels (B, T), predictions (B, T, C); a sample is the mean over T.
  md::metrics::SparseCategoricalAccuracy seq;
  seq.update_state(mt({0, 1, 1, 1}, {2, 2}), mt({1, 0, 0, 1, 1, 0, 1, 0}, {2, 2, 2}));
  CHECK(seq.result() == Approx(0.5));
  CHECK(seq.count() == 2.0);

  CHECK_THAT(metric_error_text([] {
               md::metrics::SparseCategoricalAccuracy bad;
               bad.update_state(mt({0, 1, 2}, {3}), mt({1, 0, 0, 1}, {2, 2}));
             }),
             Contains("y_true.shape=(3,)") && Contains("y_pred.shape=(2, 2)"));
}

TEST_CASE("metrics: a keras_mask on y_pred leaves samples out", "[optim][metrics]") {
  md::Tensor p = mt({0.9f, 0.1f, 0.2f, 0.8f, 0.6f, 0.4f}, {3, 2});
  p.set_keras_mask(mt({1, 0, 1}, {3}).astype(md::DType::bool_));
  md::metrics::SparseCategoricalAccuracy acc;
  acc.update_state(mt({0, 0, 1}, {3}), p);  // right, (masked), wrong
  CHECK(acc.result() == Approx(0.5));
  CHECK(acc.count() == 2.0);
}

TEST_CASE("metrics: Mean applies a keras_mask on its values together with a sample_weight", "[optim][metrics]") {
  // Keras's reduce_to_samplewise_values joins the values' mask to the sample weights, and
  // ignores it when there are none (tests/data/keras/metrics.h5, Mean.masked_values).
  md::Tensor values = mt({1, 3, 5, 7}, {4});
  values.set_keras_mask(mt({1, 0, 1, 1}, {4}).astype(md::DType::bool_));
  md::metrics::Mean weighted;
  weighted.update_state(values, mt({1, 2, 3, 4}, {4}));
  CHECK(weighted.total() == Approx(1 * 1 + 5 * 3 + 7 * 4));
  CHECK(weighted.count() == Approx(1 + 3 + 4));
  md::metrics::Mean unweighted;
  unweighted.update_state(values);
  CHECK(unweighted.total() == Approx(16));
  CHECK(unweighted.count() == 4.0);
}

TEST_CASE("metrics: metrics never record on a tape and accept int labels", "[optim][metrics]") {
  md::Tensor logits = mt({2, 1, 0, 0, 1, 2}, {2, 3});
  md::GradientTape tape;
  tape.watch(logits);
  md::metrics::SparseCategoricalAccuracy acc;
  acc.update_state(mt({0, 1}, {2}).astype(md::DType::int32), logits);
  CHECK(acc.result() == Approx(0.5));
  CHECK(tape.num_records() == 0);
}

TEST_CASE("metrics: regression metrics wrap the loss functions", "[optim][metrics]") {
  md::metrics::MeanSquaredError mse;
  mse.update_state(mt({1, 9, 2, -5, -2, 6}, {2, 3}), mt({4, 8, 12, 8, 1, 3}, {2, 3}));
  CHECK(mse.result() == Approx(49.5));
  md::metrics::MeanAbsoluteError mae;
  mae.update_state(mt({1, 9, 2, -5, -2, 6}, {2, 3}), mt({4, 8, 12, 8, 1, 3}, {2, 3}), mt({1, 0}, {2}));
  CHECK(mae.result() == Approx(14.0 / 3));
  md::metrics::MeanMetricWrapper at_07(md::metrics::binary_accuracy_fn(0.7), "acc_at_0_7");
  at_07.update_state(mt({1, 0}, {2}), mt({0.65f, 0.2f}, {2}));
  CHECK(at_07.result() == Approx(0.5));
  CHECK(at_07.get_config() == md::json({{"name", "acc_at_0_7"}, {"dtype", "float32"}}));
}

TEST_CASE("metrics: resolve_metric picks the accuracy for the loss, like Keras's compile", "[optim][metrics]") {
  const auto sparse = md::metrics::resolve_metric("accuracy", "sparse_categorical_crossentropy");
  CHECK(sparse->class_name() == "SparseCategoricalAccuracy");
  CHECK(sparse->name() == "accuracy");
  const auto categorical = md::metrics::resolve_metric("acc", "categorical_crossentropy");
  CHECK(categorical->class_name() == "CategoricalAccuracy");
  CHECK(categorical->name() == "acc");  // Keras names the metric after the identifier
  CHECK(md::metrics::resolve_metric("accuracy", "binary_crossentropy")->class_name() == "BinaryAccuracy");
  CHECK(md::metrics::resolve_metric("Accuracy", "bce")->class_name() == "BinaryAccuracy");
  CHECK(md::metrics::resolve_metric("accuracy", "SparseCategoricalCrossentropy")->class_name() ==
        "SparseCategoricalAccuracy");
  // From a loss object: its class decides, not its name.
  md::losses::SparseCategoricalCrossentropy renamed({.from_logits = true, .name = "my_loss"});
  CHECK(md::metrics::resolve_metric("accuracy", renamed)->class_name() == "SparseCategoricalAccuracy");
  // Other identifiers go through get() and take the identifier as their name.
  const auto explicit_metric = md::metrics::resolve_metric("sparse_categorical_accuracy", "mse");
  CHECK(explicit_metric->class_name() == "SparseCategoricalAccuracy");
  const auto by_class = md::metrics::resolve_metric("CategoricalAccuracy", "mse");
  CHECK(by_class->name() == "CategoricalAccuracy");
  // A loss that does not say which accuracy.
  CHECK_THAT(metric_error_text([] { md::metrics::resolve_metric("accuracy", "mse"); }),
             Contains("'mse'") && Contains("sparse_categorical_accuracy"));
  CHECK_THAT(metric_error_text([] { md::metrics::resolve_metric("accuracy", md::losses::Huber()); }),
             Contains("Huber"));

  // Keras 3's shape rule.
  CHECK(md::metrics::resolve_metric("accuracy", md::Shape{32}, md::Shape{32, 10})->class_name() ==
        "SparseCategoricalAccuracy");
  CHECK(md::metrics::resolve_metric("accuracy", md::Shape{32, 1}, md::Shape{32, 10})->class_name() ==
        "SparseCategoricalAccuracy");
  CHECK(md::metrics::resolve_metric("accuracy", md::Shape{32, 10}, md::Shape{32, 10})->class_name() ==
        "CategoricalAccuracy");
  CHECK(md::metrics::resolve_metric("acc", md::Shape{32, 1}, md::Shape{32, 1})->class_name() == "BinaryAccuracy");
  CHECK(md::metrics::resolve_metric("acc", md::Shape{32}, md::Shape{32, 1})->name() == "acc");
}

TEST_CASE("metrics: get(), configs and serialization", "[optim][metrics][config]") {
  CHECK(md::metrics::get("accuracy")->class_name() == "Accuracy");
  CHECK(md::metrics::get("sparse_categorical_accuracy")->class_name() == "SparseCategoricalAccuracy");
  CHECK(md::metrics::get("SparseCategoricalAccuracy")->name() == "sparse_categorical_accuracy");
  CHECK(md::metrics::get("mean")->class_name() == "Mean");
  // Keras's metrics.get keeps the class's default name for aliases too.
  CHECK(md::metrics::get("mse")->name() == "mean_squared_error");
  CHECK_THAT(metric_error_text([] { md::metrics::get("acc"); }),
             Contains("Could not interpret metric identifier: 'acc'") && Contains("resolve_metric"));
  CHECK_THAT(metric_error_text([] { md::metrics::get("f1"); }),
             Contains("'f1'") && Contains("sparse_categorical_accuracy") && Contains("binary_accuracy"));

  CHECK(md::metrics::BinaryAccuracy().get_config().dump() ==
        R"({"name":"binary_accuracy","dtype":"float32","threshold":0.5})");
  CHECK(md::metrics::SparseCategoricalAccuracy().get_config().dump() ==
        R"({"name":"sparse_categorical_accuracy","dtype":"float32"})");
  CHECK(md::metrics::Mean({.name = "loss"}).get_config().dump() == R"({"name":"loss","dtype":"float32"})");

  const std::vector<std::shared_ptr<md::metrics::Metric>> all = {
      std::make_shared<md::metrics::Mean>(md::metrics::Mean({.name = "loss"})),
      std::make_shared<md::metrics::Accuracy>(),
      std::make_shared<md::metrics::BinaryAccuracy>(md::metrics::BinaryAccuracy({.name = "b", .threshold = 0.3})),
      std::make_shared<md::metrics::CategoricalAccuracy>(),
      std::make_shared<md::metrics::SparseCategoricalAccuracy>(md::metrics::SparseCategoricalAccuracy({.name = "acc"})),
      std::make_shared<md::metrics::MeanSquaredError>(),
      std::make_shared<md::metrics::MeanAbsoluteError>(),
  };
  for (const auto& metric : all) {
    INFO(metric->class_name());
    const md::json object = md::metrics::serialize(*metric);
    CHECK(object.at("module") == "keras.metrics");
    CHECK(object.at("class_name") == metric->class_name());
    const auto again = md::metrics::deserialize(object);
    CHECK(again->class_name() == metric->class_name());
    CHECK(again->get_config() == metric->get_config());
  }
  CHECK_THAT(metric_error_text([] {
               md::metrics::BinaryAccuracy::from_config({{"threshold", "high"}});
             }),
             Contains("BinaryAccuracy") && Contains("'threshold'"));
  CHECK_THAT(metric_error_text([] {
               md::metrics::deserialize({{"class_name", "AUC"}});
             }),
             Contains("Could not locate class 'AUC'"));

  // clone() copies the state; the copy then runs on its own.
  md::metrics::SparseCategoricalAccuracy original;
  original.update_state(mt({0}, {1}), mt({1, 0}, {1, 2}));
  const auto copy = original.clone();
  CHECK(copy->result() == 1.0);
  copy->reset_state();
  CHECK(original.result() == 1.0);
}
