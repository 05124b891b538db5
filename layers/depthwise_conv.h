#pragma once
// DepthwiseConv2D and SeparableConv2D (Keras's): a per-channel convolution with depth_multiplier
// filters for each input channel (output channel c * depth_multiplier + m), and, for the
// separable one, a 1x1 convolution mixing the channels afterwards.
//   md::layers::DepthwiseConv2D dw({.kernel_size = {3}, .depth_multiplier = 2, .padding = "same"});
//   md::layers::SeparableConv2D sep({.filters = 16, .kernel_size = {3}});
// Kernels in Keras's layouts: depthwise (kh, kw, in, depth_multiplier), pointwise (1, 1,
// in * depth_multiplier, filters). Regularizers and constraints: null in configs, non-null rejected.
#include <string>
#include <vector>

#include "minidl/layers/activations.h"
#include "minidl/layers/initializers.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

struct DepthwiseConv2DOptions {
  std::vector<int64_t> kernel_size{};
  std::vector<int64_t> strides{1};
  std::string padding = "valid";
  int64_t depth_multiplier = 1;
  std::string data_format{};  // "" = "channels_last"
  std::vector<int64_t> dilation_rate{1};
  minidl::Activation activation = "linear";
  bool use_bias = true;
  Initializer depthwise_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  RegularizerArg depthwise_regularizer{};
  RegularizerArg bias_regularizer{};
  RegularizerArg activity_regularizer{};
  ConstraintArg depthwise_constraint{};
  ConstraintArg bias_constraint{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class DepthwiseConv2D : public LayerOf<DepthwiseConv2D> {
 public:
  using Options = DepthwiseConv2DOptions;
  explicit DepthwiseConv2D(const DepthwiseConv2DOptions& options);
  static DepthwiseConv2D from_config(const json& config);
  json get_config() const override;
  const Variable& kernel() const { return state_->kernel; }
  const Variable& bias() const { return state_->bias; }
  const DepthwiseConv2DOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  DepthwiseConv2DOptions options_;
  struct State {
    Variable kernel, bias;
  };
  Shared<State> state_;
};

struct SeparableConv2DOptions {
  int64_t filters = 0;
  std::vector<int64_t> kernel_size{};
  std::vector<int64_t> strides{1};
  std::string padding = "valid";
  std::string data_format{};
  std::vector<int64_t> dilation_rate{1};
  int64_t depth_multiplier = 1;
  minidl::Activation activation = "linear";
  bool use_bias = true;
  Initializer depthwise_initializer = "glorot_uniform";
  Initializer pointwise_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  RegularizerArg depthwise_regularizer{};
  RegularizerArg pointwise_regularizer{};
  RegularizerArg bias_regularizer{};
  RegularizerArg activity_regularizer{};
  ConstraintArg depthwise_constraint{};
  ConstraintArg pointwise_constraint{};
  ConstraintArg bias_constraint{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class SeparableConv2D : public LayerOf<SeparableConv2D> {
 public:
  using Options = SeparableConv2DOptions;
  explicit SeparableConv2D(const SeparableConv2DOptions& options);
  static SeparableConv2D from_config(const json& config);
  json get_config() const override;
  const Variable& depthwise_kernel() const { return state_->depthwise_kernel; }
  const Variable& pointwise_kernel() const { return state_->pointwise_kernel; }
  const Variable& bias() const { return state_->bias; }
  const SeparableConv2DOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  SeparableConv2DOptions options_;
  struct State {
    Variable depthwise_kernel, pointwise_kernel, bias;
  };
  Shared<State> state_;
};

}  // namespace minidl::layers
