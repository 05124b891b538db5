#include "minidl/layers/depthwise_conv.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/conv.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

constexpr size_t kRank = 2;

void check_depth_multiplier(int64_t depth_multiplier) {
  if (depth_multiplier <= 0) {
    throw ValueError(fmt::format("Invalid value for argument `depth_multiplier`. Expected a strictly positive value. "
                                 "Received depth_multiplier={}.",
                                 depth_multiplier));
  }
}

// The options both layers share, standardized as Keras's constructors do.
template <class Options>
void standardize(Options& o) {
  o.kernel_size = conv_args::standardize_tuple(o.kernel_size, kRank, "kernel_size");
  o.strides = conv_args::standardize_tuple(o.strides, kRank, "strides");
  o.dilation_rate = conv_args::standardize_tuple(o.dilation_rate, kRank, "dilation_rate");
  o.padding = conv_args::standardize_padding(o.padding, false);
  o.data_format = standardize_data_format(o.data_format);
  check_depth_multiplier(o.depth_multiplier);
}

template <class Options>
ops::ConvOptions op_options(const Options& o) {
  return {.strides = o.strides, .padding = o.padding, .data_format = o.data_format, .dilation_rate = o.dilation_rate};
}

template <class Options>
void write_geometry(json& config, const Options& o) {
  config["kernel_size"] = o.kernel_size;
  config["strides"] = o.strides;
  config["padding"] = o.padding;
  config["data_format"] = o.data_format;
  config["dilation_rate"] = o.dilation_rate;
}

template <class Options>
void read_common(const ConfigReader& r, Options& o) {
  o.kernel_size = conv_args::read_tuple(r, "kernel_size", {});
  o.strides = conv_args::read_tuple(r, "strides", {1});
  o.padding = r.optional<std::string>("padding", "valid");
  o.data_format = r.optional<std::string>("data_format", "");
  o.dilation_rate = conv_args::read_tuple(r, "dilation_rate", {1});
  o.depth_multiplier = r.optional<int64_t>("depth_multiplier", 1);
  o.activation = activations::from_config(r, "activation");
  o.use_bias = r.optional<bool>("use_bias", true);
  if (r.has("depthwise_initializer")) o.depthwise_initializer = Initializer::deserialize(r.at("depthwise_initializer"));
  if (r.has("bias_initializer")) o.bias_initializer = Initializer::deserialize(r.at("bias_initializer"));
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
}

}  // namespace

// ---- DepthwiseConv2D --------------------------------------------------------------------------

DepthwiseConv2D::DepthwiseConv2D(const DepthwiseConv2DOptions& options)
    : LayerOf("DepthwiseConv2D", options.name, options.trainable, options.dtype), options_(options) {
  standardize(options_);
  set_input_spec({.min_ndim = kRank + 2});
}

void DepthwiseConv2D::build_weights(const ShapeSpec& input_shape) {
  const bool channels_first = options_.data_format == "channels_first";
  const int64_t channels = conv_args::input_channels(name(), input_shape.shape(), channels_first);
  Shape kernel_shape = options_.kernel_size;
  kernel_shape.insert(kernel_shape.end(), {channels, options_.depth_multiplier});
  state_->kernel = add_weight("kernel", kernel_shape, options_.depthwise_initializer);
  if (options_.use_bias) {
    state_->bias = add_weight("bias", {channels * options_.depth_multiplier}, options_.bias_initializer);
  }
  set_input_spec({.min_ndim = kRank + 2, .axes = {{channels_first ? int64_t{1} : int64_t{-1}, channels}}});
}

std::vector<Tensor> DepthwiseConv2D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  Tensor y = ops::depthwise_conv(args.input(), state_->kernel.value(), op_options(options_));
  if (state_->bias.defined()) {
    y = ops::add(y, conv_args::broadcast_bias(state_->bias.value(), kRank,
                                              options_.data_format == "channels_first"));
  }
  return {options_.activation(y)};
}

json DepthwiseConv2D::get_config() const {
  json config = Layer::get_config();
  config["depth_multiplier"] = options_.depth_multiplier;
  write_geometry(config, options_);
  config["activation"] = activations::serialize(options_.activation);
  config["use_bias"] = options_.use_bias;
  config["depthwise_initializer"] = options_.depthwise_initializer.serialize();
  config["bias_initializer"] = options_.bias_initializer.serialize();
  for (const char* key : {"depthwise_regularizer", "bias_regularizer", "activity_regularizer", "depthwise_constraint",
                          "bias_constraint"}) {
    config[key] = nullptr;
  }
  return config;
}

DepthwiseConv2D DepthwiseConv2D::from_config(const json& config) {
  ConfigReader r(config, "DepthwiseConv2D");
  r.reject_non_null({"depthwise_regularizer", "bias_regularizer", "activity_regularizer", "depthwise_constraint",
                     "bias_constraint"});
  DepthwiseConv2DOptions o;
  read_common(r, o);
  return DepthwiseConv2D(o);
}

// ---- SeparableConv2D --------------------------------------------------------------------------

SeparableConv2D::SeparableConv2D(const SeparableConv2DOptions& options)
    : LayerOf("SeparableConv2D", options.name, options.trainable, options.dtype), options_(options) {
  standardize(options_);
  if (options_.filters <= 0) {
    throw ValueError(fmt::format(
        "Invalid value for argument `filters`. Expected a strictly positive value. Received filters={}.",
        options_.filters));
  }
  set_input_spec({.min_ndim = kRank + 2});
}

void SeparableConv2D::build_weights(const ShapeSpec& input_shape) {
  const bool channels_first = options_.data_format == "channels_first";
  const int64_t channels = conv_args::input_channels(name(), input_shape.shape(), channels_first);
  Shape depthwise_shape = options_.kernel_size;
  depthwise_shape.insert(depthwise_shape.end(), {channels, options_.depth_multiplier});
  const Shape pointwise_shape = {1, 1, channels * options_.depth_multiplier, options_.filters};
  state_->depthwise_kernel = add_weight("depthwise_kernel", depthwise_shape, options_.depthwise_initializer);
  state_->pointwise_kernel = add_weight("pointwise_kernel", pointwise_shape, options_.pointwise_initializer);
  if (options_.use_bias) state_->bias = add_weight("bias", {options_.filters}, options_.bias_initializer);
  set_input_spec({.min_ndim = kRank + 2, .axes = {{channels_first ? int64_t{1} : int64_t{-1}, channels}}});
}

std::vector<Tensor> SeparableConv2D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  Tensor y = ops::separable_conv(args.input(), state_->depthwise_kernel.value(), state_->pointwise_kernel.value(),
                                 op_options(options_));
  if (state_->bias.defined()) {
    y = ops::add(y, conv_args::broadcast_bias(state_->bias.value(), kRank,
                                              options_.data_format == "channels_first"));
  }
  return {options_.activation(y)};
}

json SeparableConv2D::get_config() const {
  json config = Layer::get_config();
  config["depth_multiplier"] = options_.depth_multiplier;
  config["filters"] = options_.filters;
  write_geometry(config, options_);
  config["activation"] = activations::serialize(options_.activation);
  config["use_bias"] = options_.use_bias;
  config["depthwise_initializer"] = options_.depthwise_initializer.serialize();
  config["pointwise_initializer"] = options_.pointwise_initializer.serialize();
  config["bias_initializer"] = options_.bias_initializer.serialize();
  for (const char* key : {"depthwise_regularizer", "pointwise_regularizer", "bias_regularizer",
                          "activity_regularizer", "depthwise_constraint", "pointwise_constraint", "bias_constraint"}) {
    config[key] = nullptr;
  }
  return config;
}

SeparableConv2D SeparableConv2D::from_config(const json& config) {
  ConfigReader r(config, "SeparableConv2D");
  r.reject_non_null({"depthwise_regularizer", "pointwise_regularizer", "bias_regularizer", "activity_regularizer",
                     "depthwise_constraint", "pointwise_constraint", "bias_constraint"});
  SeparableConv2DOptions o;
  read_common(r, o);
  o.filters = r.required<int64_t>("filters");
  if (r.has("pointwise_initializer")) o.pointwise_initializer = Initializer::deserialize(r.at("pointwise_initializer"));
  return SeparableConv2D(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(DepthwiseConv2D);
MINIDL_REGISTER_BUILTIN_LAYER(SeparableConv2D);

}  // namespace minidl::layers
