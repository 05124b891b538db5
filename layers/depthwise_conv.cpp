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

constexpr size_t kDepthwiseRank = 2;

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
  o.kernel_size = conv_args::standardize_tuple(o.kernel_size, kDepthwiseRank, "kernel_size");
  o.strides = conv_args::standardize_tuple(o.strides, kDepthwiseRank, "strides");
  o.dilation_rate = conv_args::standardize_tuple(o.dilation_rate, kDepthwiseRank, "dilation_rate");
  o.padding = conv_args::standardize_padding(o.padding, false);
  o.data_format = standardize_data_format(o.data_format);
  check_depth_multiplier(o.depth_multiplier);
}

// Keras's reading of the options both layers share.
template <class Options>
void read_depthwise(const ConfigReader& r, Options& o) {
  conv_args::read_common(r, o);
  o.depth_multiplier = r.optional<int64_t>("depth_multiplier", 1);
  if (r.has("depthwise_initializer")) o.depthwise_initializer = Initializer::deserialize(r.at("depthwise_initializer"));
  if (r.has("bias_initializer")) o.bias_initializer = Initializer::deserialize(r.at("bias_initializer"));
}

}  // namespace

// ---- DepthwiseConv2D --------------------------------------------------------------------------

DepthwiseConv2D::DepthwiseConv2D(const DepthwiseConv2DOptions& options)
    : LayerOf("DepthwiseConv2D", options.name, options.trainable, options.dtype), options_(options) {
  standardize(options_);
  set_input_spec({.min_ndim = kDepthwiseRank + 2});
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
  set_input_spec({.min_ndim = kDepthwiseRank + 2, .axes = {{channels_first ? int64_t{1} : int64_t{-1}, channels}}});
}

std::vector<Tensor> DepthwiseConv2D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor y = ops::depthwise_conv(args.input(), state_->kernel.value(), conv_args::op_options(options_));
  return {conv_args::add_bias_and_activate(y, state_->bias, kDepthwiseRank, options_.data_format, options_.activation)};
}

json DepthwiseConv2D::get_config() const {
  json config = Layer::get_config();
  config["depth_multiplier"] = options_.depth_multiplier;
  conv_args::write_geometry(config, options_);
  config["activation"] = activations::serialize(options_.activation);
  config["use_bias"] = options_.use_bias;
  config["depthwise_initializer"] = options_.depthwise_initializer.serialize();
  config["bias_initializer"] = options_.bias_initializer.serialize();
  conv_args::write_nulls(config, {"depthwise_regularizer", "bias_regularizer", "activity_regularizer",
                                  "depthwise_constraint", "bias_constraint"});
  return config;
}

DepthwiseConv2D DepthwiseConv2D::from_config(const json& config) {
  ConfigReader r(config, "DepthwiseConv2D");
  r.reject_non_null({"depthwise_regularizer", "bias_regularizer", "activity_regularizer", "depthwise_constraint",
                     "bias_constraint"});
  DepthwiseConv2DOptions o;
  read_depthwise(r, o);
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
  set_input_spec({.min_ndim = kDepthwiseRank + 2});
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
  set_input_spec({.min_ndim = kDepthwiseRank + 2, .axes = {{channels_first ? int64_t{1} : int64_t{-1}, channels}}});
}

std::vector<Tensor> SeparableConv2D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor y = ops::separable_conv(args.input(), state_->depthwise_kernel.value(),
                                       state_->pointwise_kernel.value(), conv_args::op_options(options_));
  return {conv_args::add_bias_and_activate(y, state_->bias, kDepthwiseRank, options_.data_format, options_.activation)};
}

json SeparableConv2D::get_config() const {
  json config = Layer::get_config();
  config["depth_multiplier"] = options_.depth_multiplier;
  config["filters"] = options_.filters;
  conv_args::write_geometry(config, options_);
  config["activation"] = activations::serialize(options_.activation);
  config["use_bias"] = options_.use_bias;
  config["depthwise_initializer"] = options_.depthwise_initializer.serialize();
  config["pointwise_initializer"] = options_.pointwise_initializer.serialize();
  config["bias_initializer"] = options_.bias_initializer.serialize();
  conv_args::write_nulls(config, {"depthwise_regularizer", "pointwise_regularizer", "bias_regularizer",
                                  "activity_regularizer", "depthwise_constraint", "pointwise_constraint",
                                  "bias_constraint"});
  return config;
}

SeparableConv2D SeparableConv2D::from_config(const json& config) {
  ConfigReader r(config, "SeparableConv2D");
  r.reject_non_null({"depthwise_regularizer", "pointwise_regularizer", "bias_regularizer", "activity_regularizer",
                     "depthwise_constraint", "pointwise_constraint", "bias_constraint"});
  SeparableConv2DOptions o;
  read_depthwise(r, o);
  o.filters = r.required<int64_t>("filters");
  if (r.has("pointwise_initializer")) o.pointwise_initializer = Initializer::deserialize(r.at("pointwise_initializer"));
  return SeparableConv2D(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(DepthwiseConv2D);
MINIDL_REGISTER_BUILTIN_LAYER(SeparableConv2D);

}  // namespace minidl::layers
