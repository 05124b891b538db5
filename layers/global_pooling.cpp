#include "minidl/layers/global_pooling.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

BaseGlobalPooling::BaseGlobalPooling(const std::string& class_name, const GlobalPoolingOptions& options,
                                     int64_t pool_dimensions)
    : Layer(class_name, options.name, options.trainable, options.dtype), options_(options), ndim_(pool_dimensions + 2) {
  options_.data_format = standardize_data_format(options.data_format);
  set_input_spec({.ndim = ndim_});
  build_at_init();
}

std::vector<int64_t> BaseGlobalPooling::spatial_axes() const {
  std::vector<int64_t> axes;
  const int64_t first = options_.data_format == "channels_last" ? 1 : 2;
  for (int64_t a = first; a < first + ndim_ - 2; ++a) axes.push_back(a);
  return axes;
}

ShapeSpec BaseGlobalPooling::compute_output_shape(const ShapeSpec& input_shape) {
  // Keras's BaseGlobalPooling.compute_output_shape.
  const Shape& s = input_shape.shape();
  if (static_cast<int64_t>(s.size()) != ndim_) {
    throw ValueError(fmt::format("Input 0 of layer \"{}\" is incompatible with the layer: expected ndim={}, found "
                                 "ndim={}. Full shape received: {}",
                                 name(), ndim_, s.size(), shape_to_string(s)));
  }
  const bool channels_last = options_.data_format == "channels_last";
  const int64_t channels = channels_last ? s.back() : s.at(1);
  Shape out = {s.at(0)};
  if (!options_.keepdims) {
    out.push_back(channels);
  } else if (channels_last) {
    out.insert(out.end(), s.size() - 2, 1);
    out.push_back(channels);
  } else {
    out.push_back(channels);
    out.insert(out.end(), s.size() - 2, 1);
  }
  return ShapeSpec(out);
}

json BaseGlobalPooling::get_config() const {
  json config = Layer::get_config();
  config["data_format"] = options_.data_format;
  config["keepdims"] = options_.keepdims;
  return config;
}

GlobalPoolingOptions BaseGlobalPooling::options_from_config(const json& config, const char* class_name) {
  ConfigReader r(config, class_name);
  r.reject_non_null({"activity_regularizer"});
  GlobalPoolingOptions o;
  o.data_format = r.optional<std::string>("data_format", "");
  o.keepdims = r.optional<bool>("keepdims", false);
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return o;
}

GlobalAveragePooling2D::GlobalAveragePooling2D(const GlobalPoolingOptions& options)
    : LayerOf("GlobalAveragePooling2D", options, 2) {}
GlobalAveragePooling2D GlobalAveragePooling2D::from_config(const json& config) {
  return GlobalAveragePooling2D(options_from_config(config, "GlobalAveragePooling2D"));
}
std::vector<Tensor> GlobalAveragePooling2D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  return {ops::mean(args.input(), spatial_axes(), options_.keepdims)};
}

GlobalMaxPooling1D::GlobalMaxPooling1D(const GlobalPoolingOptions& options)
    : LayerOf("GlobalMaxPooling1D", options, 1) {}
GlobalMaxPooling1D GlobalMaxPooling1D::from_config(const json& config) {
  return GlobalMaxPooling1D(options_from_config(config, "GlobalMaxPooling1D"));
}
std::vector<Tensor> GlobalMaxPooling1D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  return {ops::max(args.input(), spatial_axes(), options_.keepdims)};
}

GlobalMaxPooling2D::GlobalMaxPooling2D(const GlobalPoolingOptions& options)
    : LayerOf("GlobalMaxPooling2D", options, 2) {}
GlobalMaxPooling2D GlobalMaxPooling2D::from_config(const json& config) {
  return GlobalMaxPooling2D(options_from_config(config, "GlobalMaxPooling2D"));
}
std::vector<Tensor> GlobalMaxPooling2D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  return {ops::max(args.input(), spatial_axes(), options_.keepdims)};
}

MINIDL_REGISTER_BUILTIN_LAYER(GlobalAveragePooling2D);
MINIDL_REGISTER_BUILTIN_LAYER(GlobalMaxPooling1D);
MINIDL_REGISTER_BUILTIN_LAYER(GlobalMaxPooling2D);

}  // namespace minidl::layers
