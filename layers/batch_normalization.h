#pragma once
// BatchNormalization (Keras's BatchNormalization): in training, normalises each channel (the
// `axis` entries) with the batch's mean and biased variance, then scales by gamma and shifts by
// beta, and moves the moving statistics towards the batch's:
//   moving = moving * momentum + batch * (1 - momentum);
// in inference (and whenever the layer is not trainable, as in Keras 3) it normalises with the
// moving statistics instead.
//   md::layers::BatchNormalization bn;                    // axis -1, momentum 0.99, epsilon 1e-3
//   md::Tensor y = bn(x, {.training = true});             // batch statistics; updates the moving ones
//   md::Tensor z = bn(x);                                 // moving statistics
// Weights, in Keras's order: gamma (scale), beta (center), moving_mean, moving_variance (the
// last two non-trainable). A mask (batch..., one dim less than x) restricts the training
// statistics to the unmasked entries. The unmasked training path runs oneDNN's fused primitives
// (md::ops::fused_batch_normalization).
#include <string>

#include "minidl/layers/initializers.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

struct BatchNormalizationOptions {
  int64_t axis = -1;  // the channel axis (Keras 3.15 takes one int)
  double momentum = 0.99;
  double epsilon = 1e-3;
  bool center = true;  // add beta
  bool scale = true;   // multiply by gamma
  Initializer beta_initializer = "zeros";
  Initializer gamma_initializer = "ones";
  Initializer moving_mean_initializer = "zeros";
  Initializer moving_variance_initializer = "ones";
  RegularizerArg beta_regularizer{};
  RegularizerArg gamma_regularizer{};
  RegularizerArg activity_regularizer{};  // Keras's base-layer argument: not in the config unless set
  ConstraintArg beta_constraint{};
  ConstraintArg gamma_constraint{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class BatchNormalization : public LayerOf<BatchNormalization> {
 public:
  using Options = BatchNormalizationOptions;
  explicit BatchNormalization(const BatchNormalizationOptions& options = {});
  static BatchNormalization from_config(const json& config);
  json get_config() const override;
  bool supports_masking() const override { return true; }
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;

  const Variable& gamma() const { return state_->gamma; }  // undefined without scale
  const Variable& beta() const { return state_->beta; }    // undefined without center
  const Variable& moving_mean() const { return state_->moving_mean; }
  const Variable& moving_variance() const { return state_->moving_variance; }
  const BatchNormalizationOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  BatchNormalizationOptions options_;
  struct State {
    Variable gamma, beta, moving_mean, moving_variance;
  };
  Shared<State> state_;
};

}  // namespace minidl::layers
