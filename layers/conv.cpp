#include "minidl/layers/conv.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

namespace conv_args {
namespace {

// A tuple as Python prints the value the user gave: 3 or [3, 0].
std::string python_value(const std::vector<int64_t>& value) {
  if (value.size() == 1) return std::to_string(value[0]);
  return fmt::format("[{}]", fmt::join(value, ", "));
}

}  // namespace

std::vector<int64_t> standardize_tuple(const std::vector<int64_t>& value, size_t n, const char* name,
                                       bool allow_zero) {
  std::string message =
      fmt::format("The `{}` argument must be a tuple of {} integers. Received {}={}", name, n, name, python_value(value));
  if (value.size() != 1 && value.size() != n) throw ValueError(message);
  std::vector<int64_t> tuple = value.size() == 1 ? std::vector<int64_t>(n, value[0]) : value;
  std::set<int64_t> bad;
  for (int64_t v : tuple) {
    if (allow_zero ? v < 0 : v <= 0) bad.insert(v);
  }
  if (!bad.empty()) {
    message += fmt::format(", including values {{{}}} that do not satisfy `value {}`", fmt::join(bad, ", "),
                           allow_zero ? ">= 0" : "> 0");
    throw ValueError(message);
  }
  return tuple;
}

std::string standardize_padding(const std::string& padding, bool allow_causal) {
  std::string lower = padding;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (lower == "valid" || lower == "same" || (allow_causal && lower == "causal")) return lower;
  // Keras prints its set of allowed values, whose order varies between Python runs.
  throw ValueError(fmt::format("The `padding` argument must be a list/tuple or one of {}. Received: {}",
                               allow_causal ? "{'valid', 'same', 'causal'}" : "{'valid', 'same'}", lower));
}

std::vector<int64_t> read_tuple(const ConfigReader& r, const std::string& key, std::vector<int64_t> fallback) {
  if (!r.has(key)) {
    r.ignore(key);
    return fallback;
  }
  const json& value = r.at(key);
  if (value.is_array()) {
    std::vector<int64_t> out;
    for (const json& v : value) out.push_back(r.integer_value(key, v));
    return out;
  }
  return {r.integer_value(key, value)};
}

void check_strides_dilation(const std::vector<int64_t>& strides, const std::vector<int64_t>& dilation_rate) {
  if (*std::max_element(strides.begin(), strides.end()) > 1 &&
      *std::max_element(dilation_rate.begin(), dilation_rate.end()) > 1) {
    const auto tuple = [](const std::vector<int64_t>& v) {
      return v.size() == 1 ? fmt::format("({},)", v[0]) : fmt::format("({})", fmt::join(v, ", "));
    };
    throw ValueError(fmt::format("`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: "
                                 "strides={} and dilation_rate={}",
                                 tuple(strides), tuple(dilation_rate)));
  }
}

int64_t input_channels(const std::string& layer, const Shape& shape, bool channels_first) {
  const int64_t channels = channels_first ? shape.at(1) : shape.back();
  if (channels == None) {
    throw ValueError(fmt::format("Layer '{}' needs a known channel dimension; received input shape {}.", layer,
                                 shape_to_string(shape)));
  }
  return channels;
}

Tensor add_bias_and_activate(const Tensor& y, const Variable& bias, size_t rank, const std::string& data_format,
                             const minidl::Activation& activation) {
  if (!bias.defined()) return activation(y);
  const bool channels_first = data_format == "channels_first";
  Shape shape(rank + 2, 1);
  shape[channels_first ? 1 : rank + 1] = bias.shape()[0];
  return activation(ops::add(y, ops::reshape(bias.value(), shape)));
}


}  // namespace conv_args

BaseConv::BaseConv(size_t rank, const char* class_name, const BaseConvOptions& options)
    : Layer(class_name, options.name, options.trainable, options.dtype), rank_(rank), options_(options) {
  BaseConvOptions& o = options_;
  o.kernel_size = conv_args::standardize_tuple(options.kernel_size, rank, "kernel_size");
  o.strides = conv_args::standardize_tuple(options.strides, rank, "strides");
  o.dilation_rate = conv_args::standardize_tuple(options.dilation_rate, rank, "dilation_rate");
  o.padding = conv_args::standardize_padding(options.padding, rank == 1);
  o.data_format = standardize_data_format(options.data_format);
  if (o.filters <= 0) {
    throw ValueError(fmt::format(
        "Invalid value for argument `filters`. Expected a strictly positive value. Received filters={}.", o.filters));
  }
  if (o.groups <= 0) {
    throw ValueError(fmt::format("The number of groups must be a positive integer. Received: groups={}.", o.groups));
  }
  if (o.filters % o.groups != 0) {
    throw ValueError(fmt::format("The number of filters must be evenly divisible by the number of groups. Received: "
                                 "groups={}, filters={}.",
                                 o.groups, o.filters));
  }
  conv_args::check_strides_dilation(o.strides, o.dilation_rate);
  set_input_spec({.min_ndim = static_cast<int64_t>(rank + 2)});
  set_activity_regularizer(options.activity_regularizer);
}

void BaseConv::build_weights(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.shape();
  const bool channels_first = options_.data_format == "channels_first";
  const int64_t channels = conv_args::input_channels(name(), shape, channels_first);
  if (channels % options_.groups != 0) {
    throw ValueError(fmt::format("The number of input channels must be evenly divisible by the number of groups. "
                                 "Received groups={}, but the input has {} channels (full input shape is {}).",
                                 options_.groups, channels, shape_to_string(shape)));
  }
  Shape kernel_shape = options_.kernel_size;
  kernel_shape.push_back(channels / options_.groups);
  kernel_shape.push_back(options_.filters);
  state_->kernel = add_weight("kernel", kernel_shape,
                              {.initializer = options_.kernel_initializer,
                               .regularizer = options_.kernel_regularizer,
                               .constraint = options_.kernel_constraint});
  if (options_.use_bias) {
    state_->bias = add_weight("bias", {options_.filters},
                              {.initializer = options_.bias_initializer,
                               .regularizer = options_.bias_regularizer,
                               .constraint = options_.bias_constraint});
  }
  set_input_spec({.min_ndim = static_cast<int64_t>(rank_ + 2),
                  .axes = {{channels_first ? int64_t{1} : int64_t{-1}, channels}}});
}

std::vector<Tensor> BaseConv::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor y = ops::conv(args.input(), state_->kernel.value(), conv_args::op_options(options_));
  return {conv_args::add_bias_and_activate(y, state_->bias, rank_, options_.data_format, options_.activation)};
}

json BaseConv::get_config() const {
  json config = Layer::get_config();
  config["filters"] = options_.filters;
  conv_args::write_geometry(config, options_);
  config["groups"] = options_.groups;
  config["activation"] = activations::serialize(options_.activation);
  config["use_bias"] = options_.use_bias;
  config["kernel_initializer"] = options_.kernel_initializer.serialize();
  config["bias_initializer"] = options_.bias_initializer.serialize();
  conv_args::write_penalties(config, options_, activity_regularizer());
  return config;
}

BaseConvOptions BaseConv::options_from_config(const json& config, const char* class_name) {
  ConfigReader r(config, class_name);
  r.reject_non_null({"lora_rank"});
  BaseConvOptions o;
  conv_args::read_penalties(r, o);
  conv_args::read_common(r, o);
  o.filters = r.required<int64_t>("filters");
  o.groups = r.optional<int64_t>("groups", 1);
  if (r.has("kernel_initializer")) o.kernel_initializer = Initializer::deserialize(r.at("kernel_initializer"));
  if (r.has("bias_initializer")) o.bias_initializer = Initializer::deserialize(r.at("bias_initializer"));
  return o;
}

MINIDL_REGISTER_BUILTIN_LAYER(Conv1D);
MINIDL_REGISTER_BUILTIN_LAYER(Conv2D);

}  // namespace minidl::layers
