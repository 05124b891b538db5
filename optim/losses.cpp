// Losses: Keras 3's formulas (keras/src/losses/losses.py, the backends' nn.py) and reduction
// rules (keras/src/losses/loss.py), composed of differentiable md::ops.
#include "minidl/optim/losses.h"

#include <fmt/format.h>

#include <cmath>
#include <map>
#include <set>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/class_table.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/keras_envelope.h"

namespace minidl::losses {

namespace {

Tensor loss_as_float(const Tensor& x) { return x.dtype() == DType::float32 ? x : ops::cast(x, DType::float32); }

// Shapes equal, an unknown (None) dim matching anything.
bool loss_shapes_match(const Shape& a, const Shape& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i] && a[i] != None && b[i] != None) return false;
  }
  return true;
}

void loss_require_defined(const char* fn, const Tensor& y_true, const Tensor& y_pred) {
  if (!y_true.defined() || !y_pred.defined()) {
    throw ValueError(
        fmt::format("{}: y_true and y_pred must both be defined tensors; received {} y_true and {} y_pred.", fn,
                    y_true.defined() ? "a" : "an undefined", y_pred.defined() ? "a" : "an undefined"));
  }
}

void loss_require_rank(const char* fn, const Tensor& y_pred) {
  if (y_pred.ndim() < 1) {
    throw ShapeError(fmt::format("{}: y_pred must have rank >= 1 (the loss reduces an axis); received y_pred.shape={}.",
                                 fn, shape_to_string(y_pred.shape())));
  }
}

// The shared front of the regression losses: cast, Keras's rank fix, then equal shapes.
std::pair<Tensor, Tensor> loss_regression_inputs(const char* fn, const Tensor& y_true, const Tensor& y_pred) {
  loss_require_defined(fn, y_true, y_pred);
  auto [t, p] = squeeze_or_expand_to_same_rank(loss_as_float(y_true), loss_as_float(y_pred));
  if (!loss_shapes_match(t.shape(), p.shape())) {
    throw ShapeError(
        fmt::format("{}: y_true and y_pred must have the same shape (a trailing axis of size 1 may differ). "
                    "Received: y_true.shape={}, y_pred.shape={}",
                    fn, shape_to_string(y_true.shape()), shape_to_string(y_pred.shape())));
  }
  loss_require_rank(fn, p);
  return {t, p};
}

// Keras's backend check for the crossentropies, with its words.
void loss_require_same_shape(const char* fn, const Tensor& target, const Tensor& output) {
  if (!loss_shapes_match(target.shape(), output.shape())) {
    throw ShapeError(fmt::format(
        "{}: Arguments `target` and `output` must have the same shape. Received: target.shape={}, output.shape={}", fn,
        shape_to_string(target.shape()), shape_to_string(output.shape())));
  }
}

void loss_check_label_smoothing(const char* fn, double label_smoothing) {
  if (!(label_smoothing >= 0.0 && label_smoothing <= 1.0)) {
    throw ValueError(fmt::format("{}: label_smoothing must be in [0, 1]; received {}.", fn, label_smoothing));
  }
}

// log(p) of probabilities normalised along `axis` and clipped to [eps, 1 - eps] (Keras's
// categorical path), or log_softmax of logits.
Tensor loss_log_probabilities(const Tensor& y_pred, bool from_logits, int64_t axis) {
  if (from_logits) return ops::log_softmax(y_pred, axis);
  const Tensor normalised = ops::divide(y_pred, ops::sum(y_pred, {axis}, /*keepdims=*/true));
  return ops::log(ops::clip(normalised, kEpsilon, 1.0f - kEpsilon));
}

std::string loss_index_string(const Shape& shape, int64_t flat) {
  std::vector<int64_t> index(shape.size());
  for (size_t i = shape.size(); i-- > 0;) {
    index[i] = flat % shape[i];
    flat /= shape[i];
  }
  return fmt::format("y_true[{}]", fmt::join(index, ", "));
}

// Labels must be whole numbers in [0, num_classes) (or ignore_class). TensorFlow reports the
// same mistake as "Received a label value of 10 which is outside the valid range of [0, 10)".
void loss_check_sparse_labels(const Tensor& labels, int64_t num_classes, std::optional<int64_t> ignore_class) {
  if (!labels.is_concrete()) return;
  const float* p = labels.data();
  const int64_t n = labels.size();
  for (int64_t i = 0; i < n; ++i) {
    const float v = p[i];
    if (ignore_class && v == static_cast<float>(*ignore_class)) continue;
    if (!std::isfinite(v) || v != std::trunc(v)) {
      throw ValueError(fmt::format(
          "sparse_categorical_crossentropy: Received a label value of {} at {} which is not an integer class index; "
          "labels must be whole numbers in [0, {}).",
          v, loss_index_string(labels.shape(), i), num_classes));
    }
    if (v < 0.0f || v >= static_cast<float>(num_classes)) {
      throw ValueError(fmt::format(
          "sparse_categorical_crossentropy: Received a label value of {} at {} which is outside the valid range of "
          "[0, {}): y_pred has {} classes (its last dimension).",
          static_cast<int64_t>(v), loss_index_string(labels.shape(), i), num_classes, num_classes));
    }
  }
}

// divide_no_nan(numerator, divisor) for a concrete divisor: 0 (and no gradient) when it is 0.
Tensor loss_divide_no_nan(const Tensor& numerator, const Tensor& divisor) {
  if (divisor.is_concrete() && divisor.item() == 0.0f) {
    return ops::where(Tensor::scalar(0.0f, DType::bool_), numerator, Tensor::scalar(0.0f));
  }
  return ops::divide(numerator, divisor);
}

bool loss_is_mean_reduction(const std::string& reduction) {
  return reduction == "sum_over_batch_size" || reduction == "mean" || reduction == "mean_with_sample_weight";
}

// Keras's apply_mask: the mask joins the sample weights. For the mean reductions kept entries
// are scaled by total / kept, so that dividing by the entry count divides by the kept count.
Tensor loss_apply_mask(const Tensor& sample_weight, const Tensor& mask, const std::string& reduction) {
  if (!mask.defined()) return sample_weight;
  if (!mask.is_concrete()) {
    throw NotImplementedError("Loss reduction with a mask needs concrete tensors; the mask is symbolic.");
  }
  Tensor float_mask;
  if (reduction == "mean" || reduction == "sum_over_batch_size") {
    const float* m = mask.data();
    int64_t kept = 0;
    for (int64_t i = 0; i < mask.size(); ++i) kept += m[i] != 0.0f ? 1 : 0;
    const float weight = kept == 0 ? 0.0f : static_cast<float>(mask.size()) / static_cast<float>(kept);
    float_mask = ops::where(mask, Tensor::scalar(weight), Tensor::scalar(0.0f));
  } else {
    float_mask = ops::where(mask, Tensor::scalar(1.0f), Tensor::scalar(0.0f));
  }
  if (!sample_weight.defined()) return float_mask;
  auto [fm, sw] = squeeze_or_expand_to_same_rank(float_mask, sample_weight);
  return ops::multiply(sw, fm);
}

Tensor loss_reduce_values(const Tensor& values, const Tensor& sample_weight, const std::string& reduction) {
  if (reduction == "none" || values.ndim() == 0 || (values.ndim() == 1 && values.shape()[0] == 0)) return values;
  if (!values.is_concrete()) {
    // Traced: the entry count may be unknown until data arrives, so let the graph average.
    if (reduction == "sum") return ops::sum(values);
    if (reduction == "mean_with_sample_weight" && sample_weight.defined()) {
      return ops::divide(ops::sum(values), ops::sum(sample_weight));
    }
    return ops::mean(values);
  }
  const Tensor total = ops::sum(values);
  if (!loss_is_mean_reduction(reduction)) return total;
  if (reduction == "mean_with_sample_weight" && sample_weight.defined()) {
    return loss_divide_no_nan(total, ops::sum(sample_weight));
  }
  return loss_divide_no_nan(total, Tensor::scalar(static_cast<float>(values.size())));
}

// ---- configs -------------------------------------------------------------------------------
// A loss config read with the one ConfigReader: the class's own keys plus name, reduction and
// dtype (float32), and nothing else, as Keras rebuilds a loss with cls(**config).
ConfigReader loss_config(const json& config, const std::string& class_name, std::set<std::string> keys) {
  ConfigReader r(config, class_name);
  keys.insert({"name", "reduction", "dtype"});
  r.allow_only(keys);
  r.require_float32_dtype("minidl computes losses in float32");
  return r;
}

// The reduction as the config gives it: null (Keras's None) is std::nullopt.
std::optional<std::string> loss_reduction(const ConfigReader& r) {
  if (const json* value = r.find("reduction"); value != nullptr && value->is_null()) return std::nullopt;
  return standardize_reduction(r.optional<std::string>("reduction", "sum_over_batch_size"));
}

}  // namespace

// ---- plumbing ------------------------------------------------------------------------------

std::pair<Tensor, Tensor> squeeze_or_expand_to_same_rank(const Tensor& x1, const Tensor& x2, bool expand_rank_1) {
  Tensor a = x1, b = x2;
  const int64_t r1 = a.ndim(), r2 = b.ndim();
  if (r1 == r2) return {a, b};
  if (r1 == r2 + 1 && a.shape().back() == 1) {
    if (r2 == 1 && expand_rank_1) {
      b = ops::expand_dims(b, -1);
    } else {
      a = ops::squeeze(a, -1);
    }
  }
  if (r2 == r1 + 1 && x2.shape().back() == 1) {
    if (r1 == 1 && expand_rank_1) {
      a = ops::expand_dims(a, -1);
    } else {
      b = ops::squeeze(b, -1);
    }
  }
  return {a, b};
}

std::string standardize_reduction(const std::string& reduction) {
  static const std::set<std::string> allowed = {"sum_over_batch_size", "sum", "none", "mean",
                                                "mean_with_sample_weight"};
  if (!allowed.count(reduction)) {
    throw ValueError(
        fmt::format("Invalid value for argument `reduction`. Expected one of {{'sum_over_batch_size', 'sum', 'mean', "
                    "'mean_with_sample_weight', 'none'}}. Received: reduction={}",
                    reduction));
  }
  return reduction;
}

Tensor reduce_weighted_values(const Tensor& values, const Tensor& sample_weight, const Tensor& mask,
                              const std::string& reduction_name) {
  const std::string reduction = standardize_reduction(reduction_name);
  Tensor v = loss_as_float(values);
  Tensor sw = sample_weight.defined() ? loss_as_float(sample_weight) : Tensor();
  sw = loss_apply_mask(sw, mask, reduction);
  if (sw.defined()) {
    auto [vv, ss] = squeeze_or_expand_to_same_rank(v, sw);
    v = ops::multiply(vv, ss);
    sw = ss;
  }
  return loss_reduce_values(v, sw, reduction);
}

// ---- per-sample functions ------------------------------------------------------------------

Tensor mean_squared_error(const Tensor& y_true, const Tensor& y_pred) {
  auto [t, p] = loss_regression_inputs("mean_squared_error", y_true, y_pred);
  return ops::mean(ops::square(ops::subtract(t, p)), {-1});
}

Tensor mean_absolute_error(const Tensor& y_true, const Tensor& y_pred) {
  auto [t, p] = loss_regression_inputs("mean_absolute_error", y_true, y_pred);
  return ops::mean(ops::abs(ops::subtract(t, p)), {-1});
}

Tensor huber(const Tensor& y_true, const Tensor& y_pred, double delta_value) {
  if (!(delta_value > 0.0)) throw ValueError(fmt::format("huber: delta must be positive; received {}.", delta_value));
  auto [t, p] = loss_regression_inputs("huber", y_true, y_pred);
  const float delta = static_cast<float>(delta_value);
  const Tensor error = ops::subtract(p, t);
  const Tensor abs_error = ops::abs(error);
  // where() sends the gradient only to the chosen branch, so |error| (kinked at 0) is only
  // differentiated on the linear side, away from 0.
  const Tensor quadratic = ops::multiply(ops::square(error), 0.5f);
  const Tensor linear = ops::subtract(ops::multiply(abs_error, delta), 0.5f * delta * delta);
  return ops::mean(ops::where(ops::less_equal(abs_error, Tensor::scalar(delta)), quadratic, linear), {-1});
}

Tensor binary_crossentropy(const Tensor& y_true, const Tensor& y_pred, bool from_logits, double label_smoothing,
                           int64_t axis) {
  loss_require_defined("binary_crossentropy", y_true, y_pred);
  loss_check_label_smoothing("binary_crossentropy", label_smoothing);
  Tensor z = loss_as_float(y_true);
  const Tensor x = loss_as_float(y_pred);
  loss_require_same_shape("binary_crossentropy", z, x);
  loss_require_rank("binary_crossentropy", x);
  if (label_smoothing != 0.0) {
    const auto s = static_cast<float>(label_smoothing);
    z = ops::add(ops::multiply(z, 1.0f - s), 0.5f * s);
  }
  Tensor elementwise;
  if (from_logits) {
    // max(x, 0) - x z + log(1 + exp(-|x|)): exp never sees a positive argument. The max and
    // the |x| are where()s on one condition, so at x = 0 the pieces' gradients add up to
    // sigmoid(0) - z instead of relu's and abs's one-sided 0.
    const Tensor non_negative = ops::greater_equal(x, Tensor::scalar(0.0f));
    const Tensor positive_part = ops::where(non_negative, x, Tensor::scalar(0.0f));
    const Tensor minus_abs = ops::where(non_negative, ops::negative(x), x);
    elementwise = ops::add(ops::subtract(positive_part, ops::multiply(x, z)), ops::softplus(minus_abs));
  } else {
    const Tensor p = ops::clip(x, kEpsilon, 1.0f - kEpsilon);
    const Tensor log_p = ops::multiply(z, ops::log(p));
    const Tensor log_not_p = ops::multiply(1.0f - z, ops::log(1.0f - p));
    elementwise = ops::negative(ops::add(log_p, log_not_p));
  }
  return ops::mean(elementwise, {axis});
}

Tensor categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred, bool from_logits, double label_smoothing,
                                int64_t axis) {
  loss_require_defined("categorical_crossentropy", y_true, y_pred);
  loss_check_label_smoothing("categorical_crossentropy", label_smoothing);
  Tensor t = loss_as_float(y_true);
  const Tensor p = loss_as_float(y_pred);
  loss_require_same_shape("categorical_crossentropy", t, p);
  loss_require_rank("categorical_crossentropy", p);
  const int a = normalize_axis(axis, p.ndim());
  if (label_smoothing != 0.0) {
    // Keras takes the number of classes from y_true's last axis, whatever `axis` is.
    const int64_t num_classes = t.shape().back();
    if (num_classes == None) {
      throw ValueError("categorical_crossentropy: label_smoothing needs a known size of y_true's last axis.");
    }
    const auto s = static_cast<float>(label_smoothing);
    t = ops::add(ops::multiply(t, 1.0f - s), s / static_cast<float>(num_classes));
  }
  return ops::negative(ops::sum(ops::multiply(t, loss_log_probabilities(p, from_logits, a)), {a}));
}

Tensor sparse_categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred, bool from_logits,
                                       std::optional<int64_t> ignore_class, int64_t axis) {
  loss_require_defined("sparse_categorical_crossentropy", y_true, y_pred);
  const Tensor p = loss_as_float(y_pred);
  loss_require_rank("sparse_categorical_crossentropy", p);
  if (normalize_axis(axis, p.ndim()) != p.ndim() - 1) {
    throw NotImplementedError(fmt::format(
        "sparse_categorical_crossentropy: only axis=-1 (the last axis holds the classes) is supported; received "
        "axis={} for y_pred.shape={}.",
        axis, shape_to_string(p.shape())));
  }
  Tensor labels = loss_as_float(y_true);
  if (labels.ndim() == p.ndim() && labels.shape().back() == 1) labels = ops::squeeze(labels, -1);
  const Shape class_free(p.shape().begin(), p.shape().end() - 1);
  if (!loss_shapes_match(labels.shape(), class_free)) {
    throw ShapeError(fmt::format(
        "sparse_categorical_crossentropy: Arguments `target` and `output` must have the same shape up until the last "
        "dimension: target.shape={}, output.shape={}",
        shape_to_string(y_true.shape()), shape_to_string(p.shape())));
  }
  const int64_t num_classes = p.shape().back();
  if (num_classes == None) {
    throw ValueError("sparse_categorical_crossentropy: y_pred's last dimension (the classes) must be known.");
  }
  loss_check_sparse_labels(labels, num_classes, ignore_class);

  Tensor valid, probabilities = p;
  if (ignore_class) {
    valid = ops::not_equal(labels, Tensor::scalar(static_cast<float>(*ignore_class)));
    labels = ops::where(valid, labels, Tensor::scalar(0.0f));
    // Ignored rows become harmless uniform predictions (Keras uses zeros, which would make the
    // probability path divide 0 by 0); their loss is replaced by 0 below either way.
    probabilities = ops::where(ops::expand_dims(valid, -1), p, Tensor::scalar(1.0f));
  }
  const Tensor log_prob = loss_log_probabilities(probabilities, from_logits, -1);
  Tensor result = ops::negative(ops::sum(ops::multiply(ops::one_hot(labels, num_classes), log_prob), {-1}));
  if (ignore_class) {
    result = ops::where(valid, result, Tensor::scalar(0.0f));
    result.set_keras_mask(valid);
  }
  return result;
}

// ---- Loss objects --------------------------------------------------------------------------

Loss::Loss(std::string name, const std::optional<std::string>& reduction)
    : name_(std::move(name)),
      reduction_(reduction ? standardize_reduction(*reduction) : "none"),
      reduction_is_none_(!reduction) {}

Tensor Loss::operator()(const Tensor& y_true, const Tensor& y_pred, const Tensor& sample_weight) const {
  const Tensor in_mask = y_pred.defined() ? y_pred.keras_mask() : Tensor();
  const Tensor values = call(y_true, y_pred);
  const Tensor out_mask = values.keras_mask();
  Tensor mask;
  if (in_mask.defined() && out_mask.defined()) {
    mask = ops::logical_and(in_mask, out_mask);
  } else {
    mask = in_mask.defined() ? in_mask : out_mask;
  }
  return reduce_weighted_values(values, sample_weight, mask, reduction_);
}

json Loss::get_config() const {
  return json{{"name", name_}, {"reduction", reduction_is_none_ ? json(nullptr) : json(reduction_)}};
}

MeanSquaredError::MeanSquaredError(const Options& options) : Loss(options.name, options.reduction) {}
MeanSquaredError MeanSquaredError::from_config(const json& config) {
  const ConfigReader r = loss_config(config, "MeanSquaredError", {});
  return MeanSquaredError({.reduction = loss_reduction(r), .name = r.optional<std::string>("name", "mean_squared_error")});
}
Tensor MeanSquaredError::call(const Tensor& y_true, const Tensor& y_pred) const {
  return mean_squared_error(y_true, y_pred);
}

MeanAbsoluteError::MeanAbsoluteError(const Options& options) : Loss(options.name, options.reduction) {}
MeanAbsoluteError MeanAbsoluteError::from_config(const json& config) {
  const ConfigReader r = loss_config(config, "MeanAbsoluteError", {});
  return MeanAbsoluteError({.reduction = loss_reduction(r), .name = r.optional<std::string>("name", "mean_absolute_error")});
}
Tensor MeanAbsoluteError::call(const Tensor& y_true, const Tensor& y_pred) const {
  return mean_absolute_error(y_true, y_pred);
}

Huber::Huber(const Options& options) : Loss(options.name, options.reduction), options_(options) {
  if (!(options_.delta > 0.0))
    throw ValueError(fmt::format("Huber: delta must be positive; received {}.", options_.delta));
}
Huber Huber::from_config(const json& config) {
  const ConfigReader r = loss_config(config, "Huber", {"delta"});
  return Huber({.delta = r.optional<double>("delta", 1.0), .reduction = loss_reduction(r), .name = r.optional<std::string>("name", "huber_loss")});
}
Tensor Huber::call(const Tensor& y_true, const Tensor& y_pred) const { return huber(y_true, y_pred, options_.delta); }
json Huber::get_config() const {
  json config = Loss::get_config();
  config["delta"] = options_.delta;
  return config;
}

BinaryCrossentropy::BinaryCrossentropy(const Options& options)
    : Loss(options.name, options.reduction), options_(options) {
  loss_check_label_smoothing("BinaryCrossentropy", options_.label_smoothing);
}
BinaryCrossentropy BinaryCrossentropy::from_config(const json& config) {
  const ConfigReader r = loss_config(config, "BinaryCrossentropy", {"from_logits", "label_smoothing", "axis"});
  return BinaryCrossentropy({.from_logits = r.optional<bool>("from_logits", false),
                             .label_smoothing = r.optional<double>("label_smoothing", 0.0),
                             .axis = r.optional<int64_t>("axis", -1),
                             .reduction = loss_reduction(r),
                             .name = r.optional<std::string>("name", "binary_crossentropy")});
}
Tensor BinaryCrossentropy::call(const Tensor& y_true, const Tensor& y_pred) const {
  auto [t, p] = squeeze_or_expand_to_same_rank(y_true, y_pred);
  return binary_crossentropy(t, p, options_.from_logits, options_.label_smoothing, options_.axis);
}
json BinaryCrossentropy::get_config() const {
  json config = Loss::get_config();
  config["from_logits"] = options_.from_logits;
  config["label_smoothing"] = options_.label_smoothing;
  config["axis"] = options_.axis;
  return config;
}

CategoricalCrossentropy::CategoricalCrossentropy(const Options& options)
    : Loss(options.name, options.reduction), options_(options) {
  loss_check_label_smoothing("CategoricalCrossentropy", options_.label_smoothing);
}
CategoricalCrossentropy CategoricalCrossentropy::from_config(const json& config) {
  const ConfigReader r = loss_config(config, "CategoricalCrossentropy", {"from_logits", "label_smoothing", "axis"});
  return CategoricalCrossentropy({.from_logits = r.optional<bool>("from_logits", false),
                                  .label_smoothing = r.optional<double>("label_smoothing", 0.0),
                                  .axis = r.optional<int64_t>("axis", -1),
                                  .reduction = loss_reduction(r),
                                  .name = r.optional<std::string>("name", "categorical_crossentropy")});
}
Tensor CategoricalCrossentropy::call(const Tensor& y_true, const Tensor& y_pred) const {
  auto [t, p] = squeeze_or_expand_to_same_rank(y_true, y_pred);
  return categorical_crossentropy(t, p, options_.from_logits, options_.label_smoothing, options_.axis);
}
json CategoricalCrossentropy::get_config() const {
  json config = Loss::get_config();
  config["from_logits"] = options_.from_logits;
  config["label_smoothing"] = options_.label_smoothing;
  config["axis"] = options_.axis;
  return config;
}

SparseCategoricalCrossentropy::SparseCategoricalCrossentropy(const Options& options)
    : Loss(options.name, options.reduction), options_(options) {
  if (options_.axis != -1) {
    throw NotImplementedError(fmt::format(
        "SparseCategoricalCrossentropy: only axis=-1 (classes on the last axis) is supported; received axis={}.",
        options_.axis));
  }
}
SparseCategoricalCrossentropy SparseCategoricalCrossentropy::from_config(const json& config) {
  const ConfigReader r = loss_config(config, "SparseCategoricalCrossentropy", {"from_logits", "ignore_class", "axis"});
  return SparseCategoricalCrossentropy({.from_logits = r.optional<bool>("from_logits", false),
                                        .ignore_class = r.maybe<int64_t>("ignore_class"),
                                        .reduction = loss_reduction(r),
                                        .axis = r.optional<int64_t>("axis", -1),
                                        .name = r.optional<std::string>("name", "sparse_categorical_crossentropy")});
}
Tensor SparseCategoricalCrossentropy::call(const Tensor& y_true, const Tensor& y_pred) const {
  auto [t, p] = squeeze_or_expand_to_same_rank(y_true, y_pred);
  return sparse_categorical_crossentropy(t, p, options_.from_logits, options_.ignore_class, options_.axis);
}
json SparseCategoricalCrossentropy::get_config() const {
  json config = Loss::get_config();
  config["from_logits"] = options_.from_logits;
  config["ignore_class"] = options_.ignore_class ? json(*options_.ignore_class) : json(nullptr);
  config["axis"] = options_.axis;
  return config;
}

LossFunctionWrapper::LossFunctionWrapper(Function fn, std::string name, const std::optional<std::string>& reduction)
    : Loss(std::move(name), reduction), fn_(std::move(fn)) {
  if (!fn_) throw ValueError("LossFunctionWrapper: the loss function is empty.");
}
Tensor LossFunctionWrapper::call(const Tensor& y_true, const Tensor& y_pred) const {
  auto [t, p] = squeeze_or_expand_to_same_rank(y_true, y_pred);
  return fn_(t, p);
}

// ---- lookup and serialization ----------------------------------------------------------------

namespace {

struct LossEntry {
  std::string class_name;
  bool is_function;  // a function identifier: the object takes the identifier as its name
};

// Keras's ALL_OBJECTS_DICT, restricted to the losses minidl implements.
const std::map<std::string, LossEntry>& loss_table() {
  static const std::map<std::string, LossEntry> table = {
      {"mean_squared_error", {"MeanSquaredError", true}},
      {"mse", {"MeanSquaredError", true}},
      {"MSE", {"MeanSquaredError", true}},
      {"MeanSquaredError", {"MeanSquaredError", false}},
      {"mean_absolute_error", {"MeanAbsoluteError", true}},
      {"mae", {"MeanAbsoluteError", true}},
      {"MAE", {"MeanAbsoluteError", true}},
      {"MeanAbsoluteError", {"MeanAbsoluteError", false}},
      {"huber", {"Huber", true}},
      {"Huber", {"Huber", false}},
      {"binary_crossentropy", {"BinaryCrossentropy", true}},
      {"bce", {"BinaryCrossentropy", true}},
      {"BCE", {"BinaryCrossentropy", true}},
      {"BinaryCrossentropy", {"BinaryCrossentropy", false}},
      {"categorical_crossentropy", {"CategoricalCrossentropy", true}},
      {"CategoricalCrossentropy", {"CategoricalCrossentropy", false}},
      {"sparse_categorical_crossentropy", {"SparseCategoricalCrossentropy", true}},
      {"SparseCategoricalCrossentropy", {"SparseCategoricalCrossentropy", false}},
  };
  return table;
}

template <class T>
std::pair<std::string, ClassTable<Loss>::Factory> builtin(const char* class_name) {
  return {class_name, [](const json& c) -> std::shared_ptr<Loss> { return std::make_shared<T>(T::from_config(c)); }};
}

ClassTable<Loss>& loss_classes() {
  static ClassTable<Loss> table("loss", "keras.losses",
                                {builtin<MeanSquaredError>("MeanSquaredError"),
                                 builtin<MeanAbsoluteError>("MeanAbsoluteError"), builtin<Huber>("Huber"),
                                 builtin<BinaryCrossentropy>("BinaryCrossentropy"),
                                 builtin<CategoricalCrossentropy>("CategoricalCrossentropy"),
                                 builtin<SparseCategoricalCrossentropy>("SparseCategoricalCrossentropy")});
  return table;
}

std::shared_ptr<Loss> loss_from_class(const std::string& class_name, const json& config) {
  if (auto factory = loss_classes().find(class_name)) return factory(config);
  return nullptr;
}

}  // namespace

std::vector<std::string> names() {
  std::vector<std::string> out;
  for (const auto& [name, entry] : loss_table()) out.push_back(name);
  return out;
}

std::shared_ptr<Loss> get(const std::string& identifier) {
  auto it = loss_table().find(identifier);
  if (it == loss_table().end()) {
    std::string hint;
    if (identifier == "crossentropy" || identifier == "ce") {
      hint =
          " ('crossentropy' is chosen from the shapes of y_true and y_pred at compile time in Keras; name the loss "
          "instead: binary_crossentropy, categorical_crossentropy or sparse_categorical_crossentropy.)";
    }
    throw ValueError(fmt::format("Could not interpret loss identifier: '{}'. Valid names: {}.{}", identifier,
                                 fmt::join(names(), ", "), hint));
  }
  const LossEntry& entry = it->second;
  json config = json::object();
  if (entry.is_function) config["name"] = identifier;
  return loss_from_class(entry.class_name, config);
}

std::shared_ptr<Loss> get(const json& identifier) {
  if (identifier.is_string()) return get(identifier.get<std::string>());
  if (identifier.is_object()) return deserialize(identifier);
  throw ValueError(fmt::format("Could not interpret loss identifier: {}", identifier.dump()));
}

json serialize(const Loss& loss) { return loss_classes().serialize(loss.class_name(), loss.get_config()); }

std::shared_ptr<Loss> deserialize(const json& object) { return loss_classes().deserialize(object); }

void register_loss(const std::string& class_name, LossFactory factory) { loss_classes().add(class_name, std::move(factory)); }

}  // namespace minidl::losses
