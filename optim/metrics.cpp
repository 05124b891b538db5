// Metrics: Keras 3's Mean / MeanMetricWrapper bookkeeping (keras/src/metrics/reduction_metrics.py)
// and accuracy functions (keras/src/metrics/accuracy_metrics.py).
#include "minidl/optim/metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <set>

#include "minidl/autograd/ops.h"
#include "minidl/autograd/tape.h"
#include "minidl/core/error.h"
#include "minidl/core/class_table.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/keras_envelope.h"
#include "minidl/optim/losses.h"

namespace minidl::metrics {

namespace {

// Metrics read values only: a handle no tape follows, in float32.
Tensor metric_values(const Tensor& x, const char* what, const std::string& metric) {
  if (!x.defined()) throw ValueError(fmt::format("{}: {} is an undefined tensor.", metric, what));
  if (!x.is_concrete()) {
    throw ValueError(fmt::format("{}: metrics need concrete tensors; {} is symbolic (shape {}).", metric, what,
                                 shape_to_string(x.shape())));
  }
  Tensor v = stop_gradient(x);
  return v.dtype() == DType::float32 ? v : v.astype(DType::float32);
}

std::vector<int64_t> metric_trailing_axes(int64_t from, int64_t ndim) {
  std::vector<int64_t> axes;
  for (int64_t a = from; a < ndim; ++a) axes.push_back(a);
  return axes;
}

double metric_sum(const Tensor& x) {
  double s = 0.0;
  const float* p = x.data();
  for (int64_t i = 0; i < x.size(); ++i) s += p[i];
  return s;
}

// Keras's apply_mask with reduction "sum": masked samples get weight 0.
Tensor metric_apply_mask(const Tensor& sample_weight, const Tensor& mask) {
  if (!mask.defined()) return sample_weight;
  const Tensor float_mask = ops::where(mask, Tensor::scalar(1.0f), Tensor::scalar(0.0f));
  if (!sample_weight.defined()) return float_mask;
  auto [fm, sw] = losses::squeeze_or_expand_to_same_rank(float_mask, sample_weight);
  return ops::multiply(sw, fm);
}

// A metric config read with the one ConfigReader: name, dtype (float32 only) and the class's own
// keys, nothing else.
ConfigReader metric_config(const json& config, const std::string& class_name, std::set<std::string> keys) {
  ConfigReader r(config, class_name);
  keys.insert({"name", "dtype"});
  r.allow_only(keys);
  r.require_float32_dtype("minidl's metrics are float32");
  return r;
}

}  // namespace

// ---- Metric, Mean, MeanMetricWrapper -------------------------------------------------------

void Metric::update_state(const Tensor&, const Tensor&, const Tensor&) {
  throw NotImplementedError(
      fmt::format("{} '{}' does not implement update_state(y_true, y_pred, sample_weight).", class_name(), name_));
}

json Metric::get_config() const { return json{{"name", name_}, {"dtype", "float32"}}; }

Mean::Mean(const Options& options) : Metric(options.name) {}

Mean Mean::from_config(const json& config) {
  const ConfigReader r = metric_config(config, "Mean", {});
  return Mean({.name = r.optional<std::string>("name", "mean")});
}

void Mean::update_state(const Tensor& values_in, const Tensor& sample_weight_in) {
  // Keras's reduce_to_samplewise_values with reduce_fn = mean, then total += sum, count +=
  // the weights (or the number of samples).
  Tensor values = metric_values(values_in, "values", name());
  Tensor weights = sample_weight_in.defined() ? metric_values(sample_weight_in, "sample_weight", name()) : Tensor();
  if (weights.defined()) {
    // A Keras mask on the values joins the weights; without weights Keras ignores it.
    weights = metric_apply_mask(weights, values_in.keras_mask());
    auto [v, w] = losses::squeeze_or_expand_to_same_rank(values, weights);
    const int64_t weight_ndim = w.ndim();
    if (v.ndim() > weight_ndim) v = ops::mean(v, metric_trailing_axes(weight_ndim, v.ndim()));
    try {
      w = ops::broadcast_to(w, v.shape());
    } catch (const ShapeError&) {
      throw ShapeError(fmt::format("{}: sample_weight of shape {} does not broadcast to the values' shape {}.", name(),
                                   shape_to_string(sample_weight_in.shape()), shape_to_string(values_in.shape())));
    }
    v = ops::multiply(v, w);
    if (weight_ndim > 1) w = ops::mean(w, metric_trailing_axes(1, weight_ndim));
    values = v;
    weights = w;
  }
  if (values.ndim() > 1) values = ops::mean(values, metric_trailing_axes(1, values.ndim()));
  total_ += metric_sum(values);
  if (weights.defined()) {
    count_ += metric_sum(weights);
  } else {
    count_ += values.ndim() >= 1 ? static_cast<double>(values.shape()[0]) : 1.0;
  }
}

void Mean::update_state(double value, double weight) {
  total_ += value * weight;
  count_ += weight;
}

void Mean::update_state(const Tensor&, const Tensor&, const Tensor&) {
  throw NotImplementedError(fmt::format(
      "Mean '{}' averages plain values: call update_state(values, sample_weight) or update_state(value, weight); "
      "for a metric of (y_true, y_pred) use a MeanMetricWrapper or an accuracy metric.",
      name()));
}

double Mean::result() const { return count_ == 0.0 ? 0.0 : total_ / count_; }

void Mean::reset_state() {
  total_ = 0.0;
  count_ = 0.0;
}

MeanMetricWrapper::MeanMetricWrapper(Function fn, std::string name)
    : Mean({.name = std::move(name)}), fn_(std::move(fn)) {
  if (!fn_) throw ValueError("MeanMetricWrapper: the metric function is empty.");
}

void MeanMetricWrapper::update_state(const Tensor& y_true, const Tensor& y_pred, const Tensor& sample_weight) {
  const Tensor t = metric_values(y_true, "y_true", name());
  const Tensor p = metric_values(y_pred, "y_pred", name());
  const Tensor mask = y_pred.keras_mask();
  const Tensor values = fn_(t, p);
  Tensor weights = sample_weight.defined() ? metric_values(sample_weight, "sample_weight", name()) : Tensor();
  Mean::update_state(values, metric_apply_mask(weights, mask));
}

json MeanMetricWrapper::get_config() const { return Metric::get_config(); }

// ---- per-sample functions --------------------------------------------------------------------

Tensor accuracy(const Tensor& y_true, const Tensor& y_pred) {
  auto [t, p] = losses::squeeze_or_expand_to_same_rank(y_true, y_pred);
  return ops::equal(t, p).astype(DType::float32);
}

Tensor binary_accuracy(const Tensor& y_true, const Tensor& y_pred, double threshold) {
  auto [t, p] = losses::squeeze_or_expand_to_same_rank(y_true, y_pred);
  const Tensor predicted = ops::greater(p, Tensor::scalar(static_cast<float>(threshold)));
  return ops::equal(t, predicted).astype(DType::float32);
}

Tensor categorical_accuracy(const Tensor& y_true, const Tensor& y_pred) {
  Tensor t = ops::argmax(y_true, -1);
  const Shape original = t.shape();
  bool reshape_matches = false;
  if (t.ndim() == y_pred.ndim()) {
    t = ops::squeeze(t, -1);
    reshape_matches = true;
  }
  Tensor matches = ops::equal(t, ops::argmax(y_pred, -1)).astype(DType::float32);
  if (reshape_matches) matches = matches.reshape(original);
  return matches;
}

Tensor sparse_categorical_accuracy(const Tensor& y_true, const Tensor& y_pred) {
  Tensor t = y_true;
  const Shape original = t.shape();
  bool reshape_matches = false;
  if (t.ndim() == y_pred.ndim() && t.ndim() > 0 && t.shape().back() == 1) {
    t = ops::squeeze(t, -1);
    reshape_matches = true;
  }
  const Tensor predicted = ops::argmax(y_pred, -1);
  if (t.shape() != predicted.shape()) {
    throw ShapeError(fmt::format(
        "sparse_categorical_accuracy: y_true must hold one class index per sample of y_pred, shape {} or {} + (1,); "
        "received y_true.shape={}, y_pred.shape={}",
        shape_to_string(predicted.shape()), shape_to_string(predicted.shape()), shape_to_string(y_true.shape()),
        shape_to_string(y_pred.shape())));
  }
  Tensor matches = ops::equal(t, predicted).astype(DType::float32);
  if (reshape_matches) matches = matches.reshape(original);
  if (matches.ndim() > 1 && matches.shape().back() == 1) matches = ops::squeeze(matches, -1);
  return matches;
}

MeanMetricWrapper::Function binary_accuracy_fn(double threshold) {
  return [threshold](const Tensor& t, const Tensor& p) { return binary_accuracy(t, p, threshold); };
}

// ---- concrete metrics ----------------------------------------------------------------------

Accuracy::Accuracy(const Options& options) : MeanMetricWrapper(&accuracy, options.name) {}
Accuracy Accuracy::from_config(const json& config) {
  const ConfigReader r = metric_config(config, "Accuracy", {});
  return Accuracy({.name = r.optional<std::string>("name", "accuracy")});
}

BinaryAccuracy::BinaryAccuracy(const Options& options)
    : MeanMetricWrapper(binary_accuracy_fn(options.threshold), options.name), threshold_(options.threshold) {}
BinaryAccuracy BinaryAccuracy::from_config(const json& config) {
  const ConfigReader r = metric_config(config, "BinaryAccuracy", {"threshold"});
  return BinaryAccuracy({.name = r.optional<std::string>("name", "binary_accuracy"), .threshold = r.optional<double>("threshold", 0.5)});
}
json BinaryAccuracy::get_config() const {
  json config = Metric::get_config();
  config["threshold"] = threshold_;
  return config;
}

CategoricalAccuracy::CategoricalAccuracy(const Options& options)
    : MeanMetricWrapper(&categorical_accuracy, options.name) {}
CategoricalAccuracy CategoricalAccuracy::from_config(const json& config) {
  const ConfigReader r = metric_config(config, "CategoricalAccuracy", {});
  return CategoricalAccuracy({.name = r.optional<std::string>("name", "categorical_accuracy")});
}

SparseCategoricalAccuracy::SparseCategoricalAccuracy(const Options& options)
    : MeanMetricWrapper(&sparse_categorical_accuracy, options.name) {}
SparseCategoricalAccuracy SparseCategoricalAccuracy::from_config(const json& config) {
  const ConfigReader r = metric_config(config, "SparseCategoricalAccuracy", {});
  return SparseCategoricalAccuracy({.name = r.optional<std::string>("name", "sparse_categorical_accuracy")});
}

MeanSquaredError::MeanSquaredError(const Options& options)
    : MeanMetricWrapper(&losses::mean_squared_error, options.name) {}
MeanSquaredError MeanSquaredError::from_config(const json& config) {
  const ConfigReader r = metric_config(config, "MeanSquaredError", {});
  return MeanSquaredError({.name = r.optional<std::string>("name", "mean_squared_error")});
}

MeanAbsoluteError::MeanAbsoluteError(const Options& options)
    : MeanMetricWrapper(&losses::mean_absolute_error, options.name) {}
MeanAbsoluteError MeanAbsoluteError::from_config(const json& config) {
  const ConfigReader r = metric_config(config, "MeanAbsoluteError", {});
  return MeanAbsoluteError({.name = r.optional<std::string>("name", "mean_absolute_error")});
}

// ---- lookup --------------------------------------------------------------------------------

namespace {

template <class T>
std::pair<std::string, ClassTable<Metric>::Factory> builtin(const char* class_name) {
  return {class_name, [](const json& c) -> std::shared_ptr<Metric> { return std::make_shared<T>(T::from_config(c)); }};
}

ClassTable<Metric>& metric_classes() {
  static ClassTable<Metric> table("metric", "keras.metrics",
                                  {builtin<Mean>("Mean"), builtin<Accuracy>("Accuracy"),
                                   builtin<BinaryAccuracy>("BinaryAccuracy"),
                                   builtin<CategoricalAccuracy>("CategoricalAccuracy"),
                                   builtin<SparseCategoricalAccuracy>("SparseCategoricalAccuracy"),
                                   builtin<MeanSquaredError>("MeanSquaredError"),
                                   builtin<MeanAbsoluteError>("MeanAbsoluteError")});
  return table;
}

std::shared_ptr<Metric> metric_from_class(const std::string& class_name, const json& config) {
  if (auto factory = metric_classes().find(class_name)) return factory(config);
  return nullptr;
}

// Keras's ALL_OBJECTS_DICT for the metrics minidl has: class names, their snake_case, and the
// mse/mae aliases.
const std::map<std::string, std::string>& metric_table() {
  static const std::map<std::string, std::string> table = {
      {"Mean", "Mean"},
      {"mean", "Mean"},
      {"Accuracy", "Accuracy"},
      {"accuracy", "Accuracy"},
      {"BinaryAccuracy", "BinaryAccuracy"},
      {"binary_accuracy", "BinaryAccuracy"},
      {"CategoricalAccuracy", "CategoricalAccuracy"},
      {"categorical_accuracy", "CategoricalAccuracy"},
      {"SparseCategoricalAccuracy", "SparseCategoricalAccuracy"},
      {"sparse_categorical_accuracy", "SparseCategoricalAccuracy"},
      {"MeanSquaredError", "MeanSquaredError"},
      {"mean_squared_error", "MeanSquaredError"},
      {"mse", "MeanSquaredError"},
      {"MSE", "MeanSquaredError"},
      {"MeanAbsoluteError", "MeanAbsoluteError"},
      {"mean_absolute_error", "MeanAbsoluteError"},
      {"mae", "MeanAbsoluteError"},
      {"MAE", "MeanAbsoluteError"},
  };
  return table;
}

bool metric_is_accuracy_shorthand(const std::string& identifier) {
  std::string lower = identifier;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower == "accuracy" || lower == "acc";
}

std::shared_ptr<Metric> metric_named(std::shared_ptr<Metric> metric, const std::string& name) {
  metric->set_name(name);
  return metric;
}

// The accuracy a crossentropy class implies, or nullptr.
std::shared_ptr<Metric> metric_accuracy_for_loss_class(const std::string& loss_class) {
  if (loss_class == "SparseCategoricalCrossentropy") return std::make_shared<SparseCategoricalAccuracy>();
  if (loss_class == "CategoricalCrossentropy") return std::make_shared<CategoricalAccuracy>();
  if (loss_class == "BinaryCrossentropy") return std::make_shared<BinaryAccuracy>();
  return nullptr;
}

}  // namespace

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const auto& [name, class_name] : metric_table()) out.push_back(name);
  return out;
}

std::shared_ptr<Metric> get(const std::string& identifier) {
  auto it = metric_table().find(identifier);
  if (it == metric_table().end()) {
    const std::string hint = metric_is_accuracy_shorthand(identifier)
                                 ? " ('acc' is compile()'s shorthand for the accuracy that fits the loss: use "
                                   "md::metrics::resolve_metric.)"
                                 : "";
    throw ValueError(fmt::format("Could not interpret metric identifier: '{}'. Valid names: {}.{}", identifier,
                                 fmt::join(names(), ", "), hint));
  }
  return metric_from_class(it->second, json::object());
}

std::shared_ptr<Metric> get(const json& identifier) {
  if (identifier.is_string()) return get(identifier.get<std::string>());
  if (identifier.is_object()) return deserialize(identifier);
  throw ValueError(fmt::format("Could not interpret metric identifier: {}", identifier.dump()));
}

std::shared_ptr<Metric> resolve_metric(const std::string& identifier, const std::string& loss_identifier) {
  if (!metric_is_accuracy_shorthand(identifier)) return metric_named(get(identifier), identifier);
  std::shared_ptr<Metric> metric;
  try {
    metric = metric_accuracy_for_loss_class(losses::get(loss_identifier)->class_name());
  } catch (const ValueError&) {
    metric = nullptr;  // not a loss name minidl knows: reported below
  }
  if (!metric) {
    throw ValueError(fmt::format(
        "Metric '{}' means the accuracy that fits the loss, and loss '{}' does not say which (only the "
        "crossentropies do). Name the metric (binary_accuracy, categorical_accuracy, sparse_categorical_accuracy) "
        "or resolve it from the shapes of y_true and y_pred.",
        identifier, loss_identifier));
  }
  return metric_named(metric, identifier);
}

std::shared_ptr<Metric> resolve_metric(const std::string& identifier, const losses::Loss& loss) {
  if (!metric_is_accuracy_shorthand(identifier)) return metric_named(get(identifier), identifier);
  auto metric = metric_accuracy_for_loss_class(loss.class_name());
  if (!metric) {
    throw ValueError(fmt::format(
        "Metric '{}' means the accuracy that fits the loss, and loss '{}' ({}) does not say which (only the "
        "crossentropies do). Name the metric (binary_accuracy, categorical_accuracy, sparse_categorical_accuracy) "
        "or resolve it from the shapes of y_true and y_pred.",
        identifier, loss.name(), loss.class_name()));
  }
  return metric_named(metric, identifier);
}

std::shared_ptr<Metric> resolve_metric(const std::string& identifier, const Shape& y_true_shape,
                                       const Shape& y_pred_shape) {
  if (!metric_is_accuracy_shorthand(identifier)) return metric_named(get(identifier), identifier);
  if (y_true_shape.empty() || y_pred_shape.empty()) {
    throw ValueError(fmt::format("Metric '{}': y_true and y_pred must have rank >= 1; received shapes {} and {}.",
                                 identifier, shape_to_string(y_true_shape), shape_to_string(y_pred_shape)));
  }
  const int64_t true_last = y_true_shape.back(), pred_last = y_pred_shape.back();
  const bool is_binary = pred_last == 1;
  const bool is_sparse = y_true_shape.size() < y_pred_shape.size() || (true_last == 1 && pred_last > 1);
  std::shared_ptr<Metric> metric;
  if (is_binary) {
    metric = std::make_shared<BinaryAccuracy>();
  } else if (is_sparse) {
    metric = std::make_shared<SparseCategoricalAccuracy>();
  } else {
    metric = std::make_shared<CategoricalAccuracy>();
  }
  return metric_named(metric, identifier);
}

json serialize(const Metric& metric) { return metric_classes().serialize(metric.class_name(), metric.get_config()); }

std::shared_ptr<Metric> deserialize(const json& object) { return metric_classes().deserialize(object); }

void register_metric(const std::string& class_name, MetricFactory factory) {
  metric_classes().add(class_name, std::move(factory));
}

}  // namespace minidl::metrics
