#include "minidl/layers/conv_transpose.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/conv.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {
constexpr size_t kTransposeRank = 2;
}  // namespace

Conv2DTranspose::Conv2DTranspose(const Conv2DTransposeOptions& options)
    : LayerOf("Conv2DTranspose", options.name, options.trainable, options.dtype), options_(options) {
  Conv2DTransposeOptions& o = options_;
  o.kernel_size = conv_args::standardize_tuple(o.kernel_size, kTransposeRank, "kernel_size");
  o.strides = conv_args::standardize_tuple(o.strides, kTransposeRank, "strides");
  o.dilation_rate = conv_args::standardize_tuple(o.dilation_rate, kTransposeRank, "dilation_rate");
  o.padding = conv_args::standardize_padding(o.padding, false);
  if (o.output_padding) {
    o.output_padding = conv_args::standardize_tuple(*o.output_padding, kTransposeRank, "output_padding", true);
  }
  o.data_format = standardize_data_format(o.data_format);
  if (o.filters <= 0) {
    throw ValueError(fmt::format(
        "Invalid value for argument `filters`. Expected a strictly positive value. Received filters={}.", o.filters));
  }
  if (o.output_padding) {
    for (size_t i = 0; i < kTransposeRank; ++i) {
      if ((*o.output_padding)[i] >= o.strides[i]) {
        throw ValueError(fmt::format("`output_padding` must be strictly less than `strides` for all dimensions. At "
                                     "dimension {}, `output_padding` is {} but `strides` is {}. Received: "
                                     "output_padding=({}), strides=({})",
                                     i, (*o.output_padding)[i], o.strides[i], fmt::join(*o.output_padding, ", "),
                                     fmt::join(o.strides, ", ")));
      }
    }
  }
  conv_args::check_strides_dilation(o.strides, o.dilation_rate);
  set_input_spec({.min_ndim = kTransposeRank + 2});
  set_activity_regularizer(options.activity_regularizer);
}

void Conv2DTranspose::build_weights(const ShapeSpec& input_shape) {
  const bool channels_first = options_.data_format == "channels_first";
  const int64_t channels = conv_args::input_channels(name(), input_shape.shape(), channels_first);
  Shape kernel_shape = options_.kernel_size;
  kernel_shape.insert(kernel_shape.end(), {options_.filters, channels});
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
  set_input_spec({.min_ndim = kTransposeRank + 2, .axes = {{channels_first ? int64_t{1} : int64_t{-1}, channels}}});
}

std::vector<Tensor> Conv2DTranspose::call(const CallArgs& args, const CallContext& /*ctx*/) {
  ops::ConvOptions op = conv_args::op_options(options_);
  op.output_padding = options_.output_padding;
  const Tensor y = ops::conv_transpose(args.input(), state_->kernel.value(), op);
  return {conv_args::add_bias_and_activate(y, state_->bias, kTransposeRank, options_.data_format, options_.activation)};
}

json Conv2DTranspose::get_config() const {
  json config = Layer::get_config();
  config["filters"] = options_.filters;
  conv_args::write_geometry(config, options_, "output_padding",
                            options_.output_padding ? json(*options_.output_padding) : json(nullptr));
  config["activation"] = activations::serialize(options_.activation);
  config["use_bias"] = options_.use_bias;
  config["kernel_initializer"] = options_.kernel_initializer.serialize();
  config["bias_initializer"] = options_.bias_initializer.serialize();
  conv_args::write_penalties(config, options_, activity_regularizer());
  return config;
}

Conv2DTranspose Conv2DTranspose::from_config(const json& config) {
  ConfigReader r(config, "Conv2DTranspose");
  Conv2DTransposeOptions o;
  conv_args::read_penalties(r, o);
  conv_args::read_common(r, o);
  o.filters = r.required<int64_t>("filters");
  if (r.has("output_padding")) o.output_padding = conv_args::read_tuple(r, "output_padding", {});
  else r.ignore("output_padding");
  if (r.has("kernel_initializer")) o.kernel_initializer = Initializer::deserialize(r.at("kernel_initializer"));
  if (r.has("bias_initializer")) o.bias_initializer = Initializer::deserialize(r.at("bias_initializer"));
  return Conv2DTranspose(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(Conv2DTranspose);

}  // namespace minidl::layers
