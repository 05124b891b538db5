#pragma once
// Losses, with Keras 3's names, formulas, reductions and config keys (keras/src/losses).
//
//   md::Tensor per_sample = md::losses::sparse_categorical_crossentropy(y, logits, /*from_logits=*/true);
//   md::losses::SparseCategoricalCrossentropy scce({.from_logits = true});
//   md::Tensor loss = scce(y, logits);                 // a scalar: the mean over the batch
//   std::shared_ptr<md::losses::Loss> mse = md::losses::get("mse");
//
// Every loss is composed of md::ops, so GradientTape differentiates through it, and nested
// tapes give second derivatives. The functions return one loss per sample (the class axis or
// the last axis reduced); the Loss objects then weight and reduce them as Keras's Loss.__call__
// does. Probabilities are clipped to [kEpsilon, 1 - kEpsilon] in float32, as Keras does, so
// values match Keras's float32 results.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "minidl/core/json.h"
#include "minidl/core/tensor.h"

namespace minidl::losses {

// Keras's backend.epsilon(): the clip margin for probabilities.
inline constexpr float kEpsilon = 1e-7f;

// ---- per-sample loss functions ---------------------------------------------------------------
// y_true and y_pred broadcast only as Keras's squeeze_or_expand_to_same_rank allows (a trailing
// axis of size 1 on one side); other shape differences are a ShapeError naming both shapes.
// Keras would broadcast (3, 1) against (3, 3) in mean_squared_error silently; minidl refuses,
// because that is nearly always a labels-shape bug.

// mean((y_true - y_pred)^2, axis=-1):  md::losses::mean_squared_error(y, p)  // (B, d) -> (B,)
Tensor mean_squared_error(const Tensor& y_true, const Tensor& y_pred);
// mean(|y_true - y_pred|, axis=-1)
Tensor mean_absolute_error(const Tensor& y_true, const Tensor& y_pred);
// Quadratic for |error| <= delta, linear beyond; mean over the last axis.
//   md::losses::huber(y, p, /*delta=*/0.8);
Tensor huber(const Tensor& y_true, const Tensor& y_pred, double delta = 1.0);
// Elementwise binary crossentropy, averaged over `axis`. With from_logits it is computed as
// max(x, 0) - x z + log(1 + exp(-|x|)), finite for any logit (gradient sigmoid(x) - z, also
// at x = 0); otherwise probabilities are clipped to [eps, 1 - eps]. label_smoothing squeezes
// targets towards 0.5: z (1 - s) + s / 2. y_true and y_pred must have the same shape.
//   md::losses::binary_crossentropy(y, logits, /*from_logits=*/true);
Tensor binary_crossentropy(const Tensor& y_true, const Tensor& y_pred, bool from_logits = false,
                           double label_smoothing = 0.0, int64_t axis = -1);
// -sum(y_true * log p, axis) for one-hot (or soft) targets. from_logits uses log_softmax;
// probabilities are first divided by their sum along `axis`, then clipped, as Keras does.
// label_smoothing: y (1 - s) + s / num_classes, where num_classes is the size of y_true's last
// axis, as in Keras (also when `axis` is another one).
Tensor categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred, bool from_logits = false,
                                double label_smoothing = 0.0, int64_t axis = -1);
// Integer class labels (stored as float) against (..., C) predictions: y_true of shape (...,)
// or (..., 1). A label outside [0, C) or not a whole number is a ValueError naming the label,
// its position and C. Entries whose label equals ignore_class get loss 0 and are left out of
// the mean through the result's keras_mask (Keras's ignore_class). Only axis = -1.
//   md::losses::sparse_categorical_crossentropy(labels, logits, /*from_logits=*/true);
Tensor sparse_categorical_crossentropy(const Tensor& y_true, const Tensor& y_pred, bool from_logits = false,
                                       std::optional<int64_t> ignore_class = std::nullopt, int64_t axis = -1);

// ---- Keras's loss plumbing (keras/src/losses/loss.py) ------------------------------------------
// Drops or adds a trailing size-1 axis when the ranks differ by exactly one, so that (B,) labels
// meet (B, 1) predictions: {(B,), (B, 1)} -> {(B, 1), (B, 1)}.
std::pair<Tensor, Tensor> squeeze_or_expand_to_same_rank(const Tensor& x1, const Tensor& x2, bool expand_rank_1 = true);
// "sum_over_batch_size", "sum", "mean", "mean_with_sample_weight" or "none"; throws ValueError
// (Keras's words) for anything else.
std::string standardize_reduction(const std::string& reduction);
// Weights per-sample losses (sample_weight and mask broadcast as Keras's apply_mask and
// squeeze_or_expand_to_same_rank do) and reduces them: "sum" sums, "sum_over_batch_size" and
// "mean" divide the sum by the number of loss entries, "mean_with_sample_weight" by the sum of
// the weights (0 when that is 0), "none" returns the weighted values.
Tensor reduce_weighted_values(const Tensor& values, const Tensor& sample_weight = {}, const Tensor& mask = {},
                              const std::string& reduction = "sum_over_batch_size");

// ---- Loss objects ---------------------------------------------------------------------------
// The base of every loss object: per-sample values from call(), then weighting and reduction.
// A user loss is one subclass:
//   struct MyLoss : md::losses::Loss {
//     MyLoss() : Loss("my_loss") {}
//     md::Tensor call(const md::Tensor& t, const md::Tensor& p) const override { ... }
//     std::string class_name() const override { return "MyLoss"; }
//     std::shared_ptr<Loss> clone() const override { return std::make_shared<MyLoss>(*this); }
//   };
class Loss {
 public:
  virtual ~Loss() = default;

  // The reduced loss; sample_weight (undefined = none) is a scalar or broadcasts against the
  // per-sample losses, e.g. (B,) or (B, 1). A keras_mask on y_pred or on call()'s result (see
  // ignore_class) zeroes the masked entries and, for the mean reductions, leaves them out of
  // the count.
  //   md::Tensor l = loss(y_true, y_pred, md::Tensor::from_vector({1, 0.5f}, {2}));
  Tensor operator()(const Tensor& y_true, const Tensor& y_pred, const Tensor& sample_weight = {}) const;

  // Per-sample losses, before weighting and reduction.
  virtual Tensor call(const Tensor& y_true, const Tensor& y_pred) const = 0;
  // Keras's class name ("MeanSquaredError"), used by serialize().
  virtual std::string class_name() const = 0;
  virtual std::shared_ptr<Loss> clone() const = 0;
  // {"name", "reduction"} plus each class's own keys, in Keras's order. The reduction is written
  // as given: "none" as "none", std::nullopt (Keras's None) as null.
  virtual json get_config() const;

  const std::string& name() const { return name_; }
  // The reduction; "none" also for std::nullopt (Keras's None, which reduces nothing either).
  const std::string& reduction() const { return reduction_; }

 protected:
  explicit Loss(std::string name, const std::optional<std::string>& reduction = "sum_over_batch_size");

 private:
  std::string name_;
  std::string reduction_;
  bool reduction_is_none_ = false;  // given as std::nullopt: the config says null
};

struct MeanSquaredErrorOptions {
  std::optional<std::string> reduction = "sum_over_batch_size";
  std::string name = "mean_squared_error";
};
struct MeanAbsoluteErrorOptions {
  std::optional<std::string> reduction = "sum_over_batch_size";
  std::string name = "mean_absolute_error";
};
struct HuberOptions {
  double delta = 1.0;
  std::optional<std::string> reduction = "sum_over_batch_size";
  std::string name = "huber_loss";
};
struct BinaryCrossentropyOptions {
  bool from_logits = false;
  double label_smoothing = 0.0;  // in [0, 1]
  int64_t axis = -1;
  std::optional<std::string> reduction = "sum_over_batch_size";
  std::string name = "binary_crossentropy";
};
struct CategoricalCrossentropyOptions {
  bool from_logits = false;
  double label_smoothing = 0.0;  // in [0, 1]
  int64_t axis = -1;
  std::optional<std::string> reduction = "sum_over_batch_size";
  std::string name = "categorical_crossentropy";
};
struct SparseCategoricalCrossentropyOptions {
  bool from_logits = false;
  std::optional<int64_t> ignore_class{};
  std::optional<std::string> reduction = "sum_over_batch_size";
  int64_t axis = -1;  // only -1
  std::string name = "sparse_categorical_crossentropy";
};

// Every Options struct's `reduction` is "sum_over_batch_size" (the default), "sum", "mean",
// "mean_with_sample_weight", "none", or std::nullopt (Keras's reduction=None, which reduces
// nothing and is written back as null).
// md::losses::MeanSquaredError mse;   mse({.reduction = "sum"});
class MeanSquaredError : public Loss {
 public:
  using Options = MeanSquaredErrorOptions;
  explicit MeanSquaredError(const Options& options = {});
  static MeanSquaredError from_config(const json& config);
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  std::string class_name() const override { return "MeanSquaredError"; }
  std::shared_ptr<Loss> clone() const override { return std::make_shared<MeanSquaredError>(*this); }
};

// md::losses::MeanAbsoluteError mae;
class MeanAbsoluteError : public Loss {
 public:
  using Options = MeanAbsoluteErrorOptions;
  explicit MeanAbsoluteError(const Options& options = {});
  static MeanAbsoluteError from_config(const json& config);
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  std::string class_name() const override { return "MeanAbsoluteError"; }
  std::shared_ptr<Loss> clone() const override { return std::make_shared<MeanAbsoluteError>(*this); }
};

// md::losses::Huber huber({.delta = 2.0});   config {"name", "reduction", "delta"}
class Huber : public Loss {
 public:
  using Options = HuberOptions;
  explicit Huber(const Options& options = {});
  static Huber from_config(const json& config);
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  json get_config() const override;
  std::string class_name() const override { return "Huber"; }
  std::shared_ptr<Loss> clone() const override { return std::make_shared<Huber>(*this); }
  const Options& options() const { return options_; }

 private:
  Options options_;
};

// md::losses::BinaryCrossentropy bce({.from_logits = true, .label_smoothing = 0.1});
class BinaryCrossentropy : public Loss {
 public:
  using Options = BinaryCrossentropyOptions;
  explicit BinaryCrossentropy(const Options& options = {});
  static BinaryCrossentropy from_config(const json& config);
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  json get_config() const override;
  std::string class_name() const override { return "BinaryCrossentropy"; }
  std::shared_ptr<Loss> clone() const override { return std::make_shared<BinaryCrossentropy>(*this); }
  const Options& options() const { return options_; }

 private:
  Options options_;
};

// md::losses::CategoricalCrossentropy cce({.from_logits = true});   // one-hot targets
class CategoricalCrossentropy : public Loss {
 public:
  using Options = CategoricalCrossentropyOptions;
  explicit CategoricalCrossentropy(const Options& options = {});
  static CategoricalCrossentropy from_config(const json& config);
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  json get_config() const override;
  std::string class_name() const override { return "CategoricalCrossentropy"; }
  std::shared_ptr<Loss> clone() const override { return std::make_shared<CategoricalCrossentropy>(*this); }
  const Options& options() const { return options_; }

 private:
  Options options_;
};

// md::losses::SparseCategoricalCrossentropy scce({.from_logits = true});   // integer labels
class SparseCategoricalCrossentropy : public Loss {
 public:
  using Options = SparseCategoricalCrossentropyOptions;
  explicit SparseCategoricalCrossentropy(const Options& options = {});
  static SparseCategoricalCrossentropy from_config(const json& config);
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  json get_config() const override;
  std::string class_name() const override { return "SparseCategoricalCrossentropy"; }
  std::shared_ptr<Loss> clone() const override { return std::make_shared<SparseCategoricalCrossentropy>(*this); }
  const Options& options() const { return options_; }

 private:
  Options options_;
};

// A loss from any per-sample function (Keras's LossFunctionWrapper); its config has no "fn",
// so it does not round-trip through deserialize().
//   md::losses::LossFunctionWrapper l([](const md::Tensor& t, const md::Tensor& p) { ... }, "my_loss");
class LossFunctionWrapper : public Loss {
 public:
  using Function = std::function<Tensor(const Tensor& y_true, const Tensor& y_pred)>;
  LossFunctionWrapper(Function fn, std::string name,
                      const std::optional<std::string>& reduction = "sum_over_batch_size");
  Tensor call(const Tensor& y_true, const Tensor& y_pred) const override;
  std::string class_name() const override { return "LossFunctionWrapper"; }
  std::shared_ptr<Loss> clone() const override { return std::make_shared<LossFunctionWrapper>(*this); }

 private:
  Function fn_;
};

// ---- lookup and serialization ---------------------------------------------------------------
// A loss object from a Keras identifier: a function name ("sparse_categorical_crossentropy",
// "mse", "mae", "bce", "huber", ...) gives the matching class named after the identifier, as
// Keras's compile names a wrapped function; a class name ("MeanSquaredError") gives the class
// with its default name. Unknown names are a ValueError listing the valid ones.
//   auto loss = md::losses::get("sparse_categorical_crossentropy");
std::shared_ptr<Loss> get(const std::string& identifier);
// A string (as above) or a serialized object ({"class_name": ..., "config": {...}}).
std::shared_ptr<Loss> get(const json& identifier);
inline std::shared_ptr<Loss> get(const char* identifier) { return get(std::string(identifier)); }
// The names get() accepts, for error messages and documentation.
std::vector<std::string> names();

// Keras's envelope: {"module": "keras.losses", "class_name", "config", "registered_name": null}
// for a built-in; a registered user class is written as "Custom>Name", an unregistered one
// under its class name (Keras's rule).
json serialize(const Loss& loss);
// The inverse of serialize() for the built-in and registered losses; throws ValueError naming
// the class for unknown ones.
std::shared_ptr<Loss> deserialize(const json& object);
// Makes a user loss class deserializable (as optim::register_optimizer does for optimizers):
//   md::losses::register_loss("Cubed", [](const md::json&) { return std::make_shared<Cubed>(); });
using LossFactory = std::function<std::shared_ptr<Loss>(const json& config)>;
void register_loss(const std::string& class_name, LossFactory factory);

}  // namespace minidl::losses
