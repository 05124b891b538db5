#pragma once
// Activation: applies an activation function element-wise (Keras's Activation layer).
//   md::layers::Activation act({.activation = "relu"});
//   md::Tensor y = act(x);     // same shape as x; masks pass through
#include <string>

#include "minidl/layers/activations.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

struct ActivationOptions {
  minidl::Activation activation = "linear";  // a name from md::activations::names()
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Activation : public LayerOf<Activation> {
 public:
  using Options = ActivationOptions;
  explicit Activation(const ActivationOptions& options);
  static Activation from_config(const json& config);
  json get_config() const override;
  bool supports_masking() const override { return true; }
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override { return input_shape; }

  const ActivationOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  ActivationOptions options_;
};

}  // namespace minidl::layers
