#pragma once
// Conv2DTranspose (Keras's): the gradient of a Conv2D with respect to its input, used to upsample.
//   md::layers::Conv2DTranspose up({.filters = 8, .kernel_size = {3}, .strides = {2}, .padding = "same"});
//   md::Tensor y = up(x);   // x: (batch, 7, 7, c) -> y: (batch, 14, 14, 8)
// Output size per axis: valid (in - 1) * stride + extent + output_padding (default
// max(extent, stride) - extent); same in * stride, or (in - 1) * stride + extent % 2 +
// output_padding when it is given; extent = (kernel - 1) * dilation + 1. The kernel has Keras's
// layout (kh, kw, filters, in_channels). Regularizers and constraints: null in configs.
#include <optional>
#include <string>
#include <vector>

#include "minidl/layers/activations.h"
#include "minidl/layers/initializers.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

struct Conv2DTransposeOptions {
  int64_t filters = 0;
  std::vector<int64_t> kernel_size{};
  std::vector<int64_t> strides{1};
  std::string padding = "valid";
  std::optional<std::vector<int64_t>> output_padding{};  // none = Keras's None
  std::string data_format{};
  std::vector<int64_t> dilation_rate{1};
  minidl::Activation activation = "linear";
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

class Conv2DTranspose : public LayerOf<Conv2DTranspose> {
 public:
  using Options = Conv2DTransposeOptions;
  explicit Conv2DTranspose(const Conv2DTransposeOptions& options);
  static Conv2DTranspose from_config(const json& config);
  json get_config() const override;
  const Variable& kernel() const { return state_->kernel; }
  const Variable& bias() const { return state_->bias; }
  const Conv2DTransposeOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  Conv2DTransposeOptions options_;
  struct State {
    Variable kernel, bias;
  };
  Shared<State> state_;
};

}  // namespace minidl::layers
