#pragma once
// Metrics: stateful running values over batches, with Keras 3's names, formulas and configs
// (keras/src/metrics). Metrics are bookkeeping, not part of the gradient: they read their
// inputs' values and never record on a GradientTape. Results accumulate in double.
//
//   md::metrics::SparseCategoricalAccuracy acc;
//   acc.update_state(labels, probabilities);         // one batch; call again for the next
//   double a = acc.result();                          // fraction correct so far
//   acc.reset_state();                                // e.g. at the start of an epoch
//
//   auto m = md::metrics::resolve_metric("accuracy", "sparse_categorical_crossentropy");
//   // -> a SparseCategoricalAccuracy named "accuracy", as Keras's compile() does
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "minidl/core/json.h"
#include "minidl/core/shape.h"
#include "minidl/core/tensor.h"

namespace minidl::losses {
class Loss;
}

namespace minidl::metrics {

// The base of every metric. Label-vs-prediction metrics implement the three-argument
// update_state; Mean takes plain values instead (see there).
class Metric {
 public:
  virtual ~Metric() = default;

  // Accumulates one batch. sample_weight (undefined = all 1) is a scalar or per sample,
  // (B,) or (B, 1); a weight of 0 leaves a sample out.
  virtual void update_state(const Tensor& y_true, const Tensor& y_pred, const Tensor& sample_weight = {});
  // The value over everything accumulated since the last reset (0 before any data).
  virtual double result() const = 0;
  virtual void reset_state() = 0;
  // Keras's class name ("SparseCategoricalAccuracy"), used by serialize().
  virtual std::string class_name() const = 0;
  // A fresh copy, state included.
  virtual std::shared_ptr<Metric> clone() const = 0;
  // {"name", "dtype": "float32"} plus the class's own keys, in Keras's order.
  virtual json get_config() const;

  const std::string& name() const { return name_; }
  // compile() names a metric after the identifier it was given ("acc" stays "acc"), as Keras.
  void set_name(std::string name) { name_ = std::move(name); }

 protected:
  explicit Metric(std::string name) : name_(std::move(name)) {}

 private:
  std::string name_;
};

struct MeanOptions {
  std::string name = "mean";
};

// The (weighted) running mean of values: sum(values * w) / sum(w). fit() tracks the loss with
// one, weighted by batch size:
//   md::metrics::Mean loss_tracker({.name = "loss"});
//   loss_tracker.update_state(loss.item(), /*weight=*/batch_size);
class Mean : public Metric {
 public:
  using Options = MeanOptions;
  explicit Mean(const Options& options = {});
  static Mean from_config(const json& config);

  // Keras's Mean.update_state(values, sample_weight): values of any shape are first reduced
  // to one value per sample (the mean over the trailing axes), as Keras's
  // reduce_to_samplewise_values does; each sample counts with its weight (default 1). A Keras
  // mask on `values` zeroes the weights of the masked samples when a sample_weight is given
  // (as in Keras, which ignores the mask without one).
  void update_state(const Tensor& values, const Tensor& sample_weight = {});
  // One value with a weight.
  void update_state(double value, double weight = 1.0);
  // Not Mean's form (it has no labels): throws NotImplementedError pointing at the one above.
  void update_state(const Tensor& y_true, const Tensor& y_pred, const Tensor& sample_weight) override;

  double result() const override;  // total / count, 0 when count is 0 (divide_no_nan)
  void reset_state() override;
  std::string class_name() const override { return "Mean"; }
  std::shared_ptr<Metric> clone() const override { return std::make_shared<Mean>(*this); }

  double total() const { return total_; }
  double count() const { return count_; }

 private:
  double total_ = 0.0;
  double count_ = 0.0;
};

// A Mean of a per-sample function of (y_true, y_pred) (Keras's MeanMetricWrapper). A keras_mask
// on y_pred leaves masked samples out.
//   md::metrics::MeanMetricWrapper m(md::metrics::binary_accuracy_fn(0.7), "acc_at_0_7");
class MeanMetricWrapper : public Mean {
 public:
  using Function = std::function<Tensor(const Tensor& y_true, const Tensor& y_pred)>;
  MeanMetricWrapper(Function fn, std::string name);
  void update_state(const Tensor& y_true, const Tensor& y_pred, const Tensor& sample_weight = {}) override;
  json get_config() const override;  // {"name", "dtype"}; the function is not serialized
  std::string class_name() const override { return "MeanMetricWrapper"; }
  std::shared_ptr<Metric> clone() const override { return std::make_shared<MeanMetricWrapper>(*this); }

 private:
  Function fn_;
};

// ---- per-sample metric functions (1 where right, 0 where wrong) ----------------------------
// y_true == y_pred elementwise.
Tensor accuracy(const Tensor& y_true, const Tensor& y_pred);
// y_true == (y_pred > threshold).
Tensor binary_accuracy(const Tensor& y_true, const Tensor& y_pred, double threshold = 0.5);
// argmax(y_true) == argmax(y_pred) over the last axis (one-hot labels; logits work too).
Tensor categorical_accuracy(const Tensor& y_true, const Tensor& y_pred);
// y_true == argmax(y_pred) over the last axis; y_true of shape (B,) or (B, 1), classes as float.
Tensor sparse_categorical_accuracy(const Tensor& y_true, const Tensor& y_pred);
// binary_accuracy with a fixed threshold, for MeanMetricWrapper.
MeanMetricWrapper::Function binary_accuracy_fn(double threshold);

// ---- the accuracy family and the regression metrics (all MeanMetricWrappers) ---------------
struct AccuracyOptions {
  std::string name = "accuracy";
};
struct BinaryAccuracyOptions {
  std::string name = "binary_accuracy";
  double threshold = 0.5;
};
struct CategoricalAccuracyOptions {
  std::string name = "categorical_accuracy";
};
struct SparseCategoricalAccuracyOptions {
  std::string name = "sparse_categorical_accuracy";
};
struct MeanSquaredErrorOptions {
  std::string name = "mean_squared_error";
};
struct MeanAbsoluteErrorOptions {
  std::string name = "mean_absolute_error";
};

// Exact equality of labels and predictions: md::metrics::Accuracy acc;
class Accuracy : public MeanMetricWrapper {
 public:
  using Options = AccuracyOptions;
  explicit Accuracy(const Options& options = {});
  static Accuracy from_config(const json& config);
  std::string class_name() const override { return "Accuracy"; }
  std::shared_ptr<Metric> clone() const override { return std::make_shared<Accuracy>(*this); }
};

// md::metrics::BinaryAccuracy acc({.threshold = 0.5});   config adds "threshold"
class BinaryAccuracy : public MeanMetricWrapper {
 public:
  using Options = BinaryAccuracyOptions;
  explicit BinaryAccuracy(const Options& options = {});
  static BinaryAccuracy from_config(const json& config);
  json get_config() const override;
  std::string class_name() const override { return "BinaryAccuracy"; }
  std::shared_ptr<Metric> clone() const override { return std::make_shared<BinaryAccuracy>(*this); }
  double threshold() const { return threshold_; }

 private:
  double threshold_;
};

// One-hot labels: md::metrics::CategoricalAccuracy acc;
class CategoricalAccuracy : public MeanMetricWrapper {
 public:
  using Options = CategoricalAccuracyOptions;
  explicit CategoricalAccuracy(const Options& options = {});
  static CategoricalAccuracy from_config(const json& config);
  std::string class_name() const override { return "CategoricalAccuracy"; }
  std::shared_ptr<Metric> clone() const override { return std::make_shared<CategoricalAccuracy>(*this); }
};

// Integer labels: md::metrics::SparseCategoricalAccuracy acc;
class SparseCategoricalAccuracy : public MeanMetricWrapper {
 public:
  using Options = SparseCategoricalAccuracyOptions;
  explicit SparseCategoricalAccuracy(const Options& options = {});
  static SparseCategoricalAccuracy from_config(const json& config);
  std::string class_name() const override { return "SparseCategoricalAccuracy"; }
  std::shared_ptr<Metric> clone() const override { return std::make_shared<SparseCategoricalAccuracy>(*this); }
};

// The running mean of losses::mean_squared_error: md::metrics::MeanSquaredError mse;
class MeanSquaredError : public MeanMetricWrapper {
 public:
  using Options = MeanSquaredErrorOptions;
  explicit MeanSquaredError(const Options& options = {});
  static MeanSquaredError from_config(const json& config);
  std::string class_name() const override { return "MeanSquaredError"; }
  std::shared_ptr<Metric> clone() const override { return std::make_shared<MeanSquaredError>(*this); }
};

// The running mean of losses::mean_absolute_error: md::metrics::MeanAbsoluteError mae;
class MeanAbsoluteError : public MeanMetricWrapper {
 public:
  using Options = MeanAbsoluteErrorOptions;
  explicit MeanAbsoluteError(const Options& options = {});
  static MeanAbsoluteError from_config(const json& config);
  std::string class_name() const override { return "MeanAbsoluteError"; }
  std::shared_ptr<Metric> clone() const override { return std::make_shared<MeanAbsoluteError>(*this); }
};

// ---- lookup ---------------------------------------------------------------------------------
// A metric from a Keras identifier: a class name ("SparseCategoricalAccuracy"), its snake_case
// ("sparse_categorical_accuracy", "accuracy", "mean") or "mse"/"mae". The metric keeps its
// default name, as Keras's metrics.get() does. Unknown names are a ValueError listing the
// valid ones. ("acc" is compile()'s shorthand: see resolve_metric.)
//   auto m = md::metrics::get("sparse_categorical_accuracy");
std::shared_ptr<Metric> get(const std::string& identifier);
// A string (as above) or a serialized metric ({"class_name": ..., "config": {...}}).
std::shared_ptr<Metric> get(const json& identifier);
inline std::shared_ptr<Metric> get(const char* identifier) { return get(std::string(identifier)); }
// The names get() accepts.
std::vector<std::string> names();

// What Keras's compile() makes of a metric identifier: "accuracy" / "acc" become the accuracy
// that fits the loss (sparse_categorical_crossentropy -> SparseCategoricalAccuracy,
// categorical_crossentropy -> CategoricalAccuracy, binary_crossentropy -> BinaryAccuracy);
// any other identifier goes through get(). The metric is named after the identifier.
// A loss that does not tell (e.g. "mse") is a ValueError: use the shape overload then.
//   auto acc = md::metrics::resolve_metric("accuracy", "sparse_categorical_crossentropy");
std::shared_ptr<Metric> resolve_metric(const std::string& identifier, const std::string& loss_identifier);
// The same, from a loss object's class (a renamed SparseCategoricalCrossentropy still counts).
std::shared_ptr<Metric> resolve_metric(const std::string& identifier, const losses::Loss& loss);
// Keras 3's own rule (compile_utils.get_metric), decided on the first batch's shapes: y_pred's
// last dim 1 -> BinaryAccuracy; y_true of lower rank, or last dim 1 against > 1 ->
// SparseCategoricalAccuracy; otherwise CategoricalAccuracy.
//   auto acc = md::metrics::resolve_metric("acc", y.shape(), p.shape());
std::shared_ptr<Metric> resolve_metric(const std::string& identifier, const Shape& y_true_shape,
                                       const Shape& y_pred_shape);

// Keras's envelope: {"module": "keras.metrics", "class_name", "config", "registered_name": null}
// for a built-in; a registered user class is written as "Custom>Name", an unregistered one
// under its class name (Keras's rule).
json serialize(const Metric& metric);
// The inverse of serialize() for the built-in and registered metrics.
std::shared_ptr<Metric> deserialize(const json& object);
// Makes a user metric class deserializable:
//   md::metrics::register_metric("Hits", [](const md::json& c) { return std::make_shared<Hits>(...); });
using MetricFactory = std::function<std::shared_ptr<Metric>(const json& config)>;
void register_metric(const std::string& class_name, MetricFactory factory);

}  // namespace minidl::metrics
