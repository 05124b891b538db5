#pragma once
// AdamW: Adam with decoupled weight decay (Loshchilov & Hutter), as keras.optimizers.AdamW.
// Each step first shrinks the weights, w -= w * weight_decay * lr, then takes Adam's step.
// The decay is the base optimizer's weight_decay, required here and 0.004 by default; it skips
// the variables given to exclude_from_weight_decay().
//   md::optim::AdamW opt({.learning_rate = 1e-3f, .weight_decay = 0.01});
//   opt.exclude_from_weight_decay({}, {"bias", "gamma", "beta"});
#include <memory>
#include <optional>
#include <string>

#include "minidl/optim/adam.h"

namespace minidl::optim {

// Keras's AdamW signature puts weight_decay second.
struct AdamWOptions {
  LearningRate learning_rate = 0.001f;
  std::optional<double> weight_decay = 0.004;  // unset: ValueError, as Keras's None
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  bool amsgrad = false;
  std::optional<double> clipnorm{};
  std::optional<double> clipvalue{};
  std::optional<double> global_clipnorm{};
  std::string name{};  // empty: "adam_w", "adam_w_1", ...
};

class AdamW : public Adam {
 public:
  using Options = AdamWOptions;
  // Throws ValueError "Argument `weight_decay` must be a float. Received: weight_decay=None".
  explicit AdamW(const AdamWOptions& options = {});
  static AdamW from_config(const json& config);

  std::shared_ptr<Optimizer> clone() const override { return std::make_shared<AdamW>(*this); }
};

}  // namespace minidl::optim
