#pragma once
// Conv1D and Conv2D (Keras's BaseConv: one rank-generic class, each layer a constructor), on
// md::ops::conv (oneDNN's convolution primitives).
//   md::layers::Conv2D conv({.filters = 32, .kernel_size = {3}, .padding = "same", .activation = "relu"});
//   md::Tensor y = conv(x);   // x: (batch, 28, 28, 1) -> y: (batch, 28, 28, 32)
// kernel_size, strides and dilation_rate take one number or one per spatial axis, as Keras's.
// The kernel has Keras's layout (kernel..., in_channels / groups, filters), also in weights files.
#include <initializer_list>
#include <string>
#include <vector>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/activations.h"
#include "minidl/layers/initializers.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

struct BaseConvOptions {
  int64_t filters = 0;
  std::vector<int64_t> kernel_size{};
  std::vector<int64_t> strides{1};
  std::string padding = "valid";  // "valid", "same"; Conv1D also "causal"
  std::string data_format{};      // "" (Keras's None) = "channels_last"
  std::vector<int64_t> dilation_rate{1};
  int64_t groups = 1;
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
using Conv1DOptions = BaseConvOptions;
using Conv2DOptions = BaseConvOptions;

// Keras's argument checks and config forms, shared by the convolution layers.
namespace conv_args {
// One value repeated `n` times, or exactly `n` values, each > 0 (>= 0 with allow_zero); Keras's
// standardize_tuple message otherwise.
std::vector<int64_t> standardize_tuple(const std::vector<int64_t>& value, size_t n, const char* name,
                                       bool allow_zero = false);
// Lower-cased "valid" or "same" (or "causal" when allowed); Keras's message otherwise.
std::string standardize_padding(const std::string& padding, bool allow_causal);
// `key` as one integer or a list of integers (absent or null: fallback).
std::vector<int64_t> read_tuple(const ConfigReader& r, const std::string& key, std::vector<int64_t> fallback);
// Keras's "`strides > 1` not supported in conjunction with `dilation_rate > 1`" check.
void check_strides_dilation(const std::vector<int64_t>& strides, const std::vector<int64_t>& dilation_rate);
// The input's channel count (the last axis, or axis 1 for channels_first); ValueError naming the
// layer when it is unknown.
int64_t input_channels(const std::string& layer, const Shape& shape, bool channels_first);
// activation(y + bias), the bias (when defined) broadcast over (batch, spatial..., channels) or
// (batch, channels, spatial...).
Tensor add_bias_and_activate(const Tensor& y, const Variable& bias, size_t rank, const std::string& data_format,
                             const minidl::Activation& activation);

// The geometry options every convolution layer has, as md::ops takes them.
template <class Options>
ops::ConvOptions op_options(const Options& o) {
  return {.strides = o.strides, .padding = o.padding, .data_format = o.data_format, .dilation_rate = o.dilation_rate};
}
// Writes them in Keras's key order; `after_padding` (Conv2DTranspose's output_padding) goes
// after "padding".
template <class Options>
void write_geometry(json& config, const Options& o, const char* after_padding = nullptr,
                    const json& after_padding_value = nullptr) {
  config["kernel_size"] = o.kernel_size;
  config["strides"] = o.strides;
  config["padding"] = o.padding;
  if (after_padding != nullptr) config[after_padding] = after_padding_value;
  config["data_format"] = o.data_format;
  config["dilation_rate"] = o.dilation_rate;
}
// Reads them back, with the keys every convolution layer shares (activation, use_bias, name,
// trainable, dtype).
template <class Options>
void read_common(const ConfigReader& r, Options& o) {
  o.kernel_size = read_tuple(r, "kernel_size", {});
  o.strides = read_tuple(r, "strides", {1});
  o.padding = r.optional<std::string>("padding", "valid");
  o.data_format = r.optional<std::string>("data_format", "");
  o.dilation_rate = read_tuple(r, "dilation_rate", {1});
  o.activation = activations::from_config(r, "activation");
  o.use_bias = r.optional<bool>("use_bias", true);
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
}
// The kernel's and bias's regularizers and constraints and the activity regularizer, in Keras's
// key order (Conv1D, Conv2D, Conv2DTranspose), and back.
template <class Options>
void write_penalties(json& config, const Options& o, const RegularizerArg& activity) {
  config["kernel_regularizer"] = o.kernel_regularizer.serialize();
  config["bias_regularizer"] = o.bias_regularizer.serialize();
  config["activity_regularizer"] = activity.serialize();
  config["kernel_constraint"] = o.kernel_constraint.serialize();
  config["bias_constraint"] = o.bias_constraint.serialize();
}
template <class Options>
void read_penalties(const ConfigReader& r, Options& o) {
  o.kernel_regularizer = RegularizerArg::from_config(r, "kernel_regularizer");
  o.bias_regularizer = RegularizerArg::from_config(r, "bias_regularizer");
  o.activity_regularizer = RegularizerArg::from_config(r, "activity_regularizer");
  o.kernel_constraint = ConstraintArg::from_config(r, "kernel_constraint");
  o.bias_constraint = ConstraintArg::from_config(r, "bias_constraint");
}
}  // namespace conv_args

// The convolution of Conv1D and Conv2D; use those.
class BaseConv : public Layer {
 public:
  json get_config() const override;
  const Variable& kernel() const { return state_->kernel; }
  const Variable& bias() const { return state_->bias; }  // undefined without use_bias
  const BaseConvOptions& options() const { return options_; }

 protected:
  BaseConv(size_t rank, const char* class_name, const BaseConvOptions& options);
  static BaseConvOptions options_from_config(const json& config, const char* class_name);
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  size_t rank_;
  BaseConvOptions options_;  // standardized: one value per axis, lower-case strings
  struct State {
    Variable kernel, bias;
  };
  Shared<State> state_;
};

// Keras's Conv1D: (batch, steps, channels) -> (batch, new_steps, filters); padding "causal" pads
// (kernel_size - 1) * dilation_rate steps at the start, so output t sees inputs up to t only.
class Conv1D : public LayerOf<Conv1D, BaseConv> {
 public:
  using Options = Conv1DOptions;
  explicit Conv1D(const Conv1DOptions& options) : LayerOf(1, "Conv1D", options) {}
  static Conv1D from_config(const json& config) { return Conv1D(options_from_config(config, "Conv1D")); }
};

// Keras's Conv2D: (batch, rows, cols, channels) -> (batch, new_rows, new_cols, filters).
class Conv2D : public LayerOf<Conv2D, BaseConv> {
 public:
  using Options = Conv2DOptions;
  explicit Conv2D(const Conv2DOptions& options) : LayerOf(2, "Conv2D", options) {}
  static Conv2D from_config(const json& config) { return Conv2D(options_from_config(config, "Conv2D")); }
};

}  // namespace minidl::layers
