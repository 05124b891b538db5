#include "minidl/layers/global_average_pooling1d.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

GlobalAveragePooling1D::GlobalAveragePooling1D(const GlobalAveragePooling1DOptions& options)
    : LayerOf("GlobalAveragePooling1D", options.name, options.trainable, options.dtype), options_(options) {
  options_.data_format = standardize_data_format(options.data_format);
  set_input_spec({.ndim = 3});
  build_at_init();
}

std::vector<Tensor> GlobalAveragePooling1D::call(const CallArgs& args, const CallContext& ctx) {
  Tensor inputs = args.input();
  const bool channels_last = options_.data_format == "channels_last";
  const int64_t steps_axis = channels_last ? 1 : 2;
  const Tensor mask = ctx.mask();
  if (!mask.defined()) return {ops::mean(inputs, {steps_axis}, options_.keepdims)};
  // Keras: zero the masked steps, then divide the sum by the number of unmasked steps.
  const Tensor keep = ops::cast(ops::expand_dims(mask, channels_last ? 2 : 1), DType::bool_);
  inputs = ops::where(keep, inputs, Tensor::scalar(0.0f));
  const Tensor count = ops::sum(ops::cast(keep, DType::float32), {steps_axis}, options_.keepdims);
  return {ops::divide(ops::sum(inputs, {steps_axis}, options_.keepdims), count)};
}

Tensor GlobalAveragePooling1D::compute_mask(const CallArgs& /*args*/, const std::vector<Tensor>& /*masks*/) {
  return Tensor();
}

ShapeSpec GlobalAveragePooling1D::compute_output_shape(const ShapeSpec& input_shape) {
  // Keras's BaseGlobalPooling.compute_output_shape.
  const Shape& s = input_shape.shape();
  if (s.size() != 3) {
    throw ValueError(fmt::format("Input 0 of layer \"{}\" is incompatible with the layer: expected ndim=3, found "
                                 "ndim={}. Full shape received: {}",
                                 name(), s.size(), shape_to_string(s)));
  }
  const bool channels_last = options_.data_format == "channels_last";
  Shape out = {s.at(0)};
  if (options_.keepdims) {
    if (channels_last) {
      out.insert(out.end(), s.size() - 2, 1);
      out.push_back(s.back());
    } else {
      out.push_back(s.at(1));
      out.insert(out.end(), s.size() - 2, 1);
    }
  } else {
    out.push_back(channels_last ? s.back() : s.at(1));
  }
  return ShapeSpec(out);
}

json GlobalAveragePooling1D::get_config() const {
  json config = Layer::get_config();
  config["data_format"] = options_.data_format;
  config["keepdims"] = options_.keepdims;
  return config;
}

GlobalAveragePooling1D GlobalAveragePooling1D::from_config(const json& config) {
  ConfigReader r(config, "GlobalAveragePooling1D");
  r.reject_non_null({"activity_regularizer"});
  GlobalAveragePooling1DOptions o;
  o.data_format = r.optional<std::string>("data_format", "");
  o.keepdims = r.optional<bool>("keepdims", false);
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return GlobalAveragePooling1D(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(GlobalAveragePooling1D);

}  // namespace minidl::layers
