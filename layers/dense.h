#pragma once
// Dense: y = activation(x @ kernel + bias) on the last axis (Keras's Dense).
//   md::layers::Dense dense({.units = 10, .activation = "relu"});
//   md::Tensor y = dense(x);    // x: (..., d) -> y: (..., 10)
#include <memory>
#include <string>

#include "minidl/layers/activations.h"
#include "minidl/layers/initializers.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

struct DenseOptions {
  int64_t units = 0;
  minidl::Activation activation = "linear";  // minidl::, not the Activation layer
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  RegularizerArg kernel_regularizer{};
  RegularizerArg bias_regularizer{};
  RegularizerArg activity_regularizer{};
  ConstraintArg kernel_constraint{};
  ConstraintArg bias_constraint{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Dense : public LayerOf<Dense> {
 public:
  using Options = DenseOptions;
  explicit Dense(const DenseOptions& options);
  static Dense from_config(const json& config);
  json get_config() const override;
  bool supports_masking() const override { return true; }

  const Variable& kernel() const { return state_->kernel; }
  const Variable& bias() const { return state_->bias; }  // undefined without use_bias
  const DenseOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  DenseOptions options_;
  struct State {
    Variable kernel, bias;
  };
  Shared<State> state_;
};

}  // namespace minidl::layers
