#include "minidl/layers/pooling.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "minidl/autograd/ops.h"
#include "minidl/core/compute.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

// Keras's argument_validation.standardize_tuple: one value repeats, else exactly n; values
// > 0 (>= 0 with allow_zero), with its error text.
std::vector<int64_t> standardize_tuple(const std::vector<int64_t>& value, size_t n, const char* name,
                                       bool allow_zero) {
  const std::string shown = value.size() == 1 ? std::to_string(value[0]) : int_tuple_to_string(value);
  std::string message = fmt::format("The `{}` argument must be a tuple of {} integers. Received {}={}", name, n,
                                    name, shown);
  if (value.size() != 1 && value.size() != n) throw ValueError(message);
  const std::vector<int64_t> tuple = value.size() == 1 ? std::vector<int64_t>(n, value[0]) : value;
  std::set<int64_t> bad;
  for (int64_t v : tuple) {
    if (allow_zero ? v < 0 : v <= 0) bad.insert(v);
  }
  if (!bad.empty()) {
    std::string listed;
    for (int64_t v : bad) listed += (listed.empty() ? "" : ", ") + std::to_string(v);
    throw ValueError(message + fmt::format(", including values {{{}}} that do not satisfy `value {}`", listed,
                                           allow_zero ? ">= 0" : "> 0"));
  }
  return tuple;
}

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// Keras accepts one int or a list for pool_size and strides.
std::vector<int64_t> int_or_list(const ConfigReader& r, const std::string& key) {
  const json& value = r.at(key);
  if (value.is_array()) {
    std::vector<int64_t> out;
    for (const json& v : value) out.push_back(r.integer_value(key, v));
    return out;
  }
  return {r.integer_value(key, value)};
}

}  // namespace

BasePooling::BasePooling(const std::string& class_name, const PoolingOptions& options, size_t pool_dimensions,
                         bool max)
    : Layer(class_name, options.name, options.trainable, options.dtype),
      padding_(options.padding),
      data_format_(standardize_data_format(options.data_format)),
      max_(max) {
  if (options.pool_size.empty()) {
    throw TypeError(class_name + ".__init__() missing 1 required positional argument: 'pool_size'");
  }
  pool_size_ = standardize_tuple(options.pool_size, pool_dimensions, "pool_size", false);
  strides_ = options.strides.empty() ? pool_size_ : standardize_tuple(options.strides, pool_dimensions, "strides", true);
  if (std::find(strides_.begin(), strides_.end(), 0) != strides_.end()) {
    // Keras accepts 0 here and then divides by it when computing the output shape.
    throw ValueError("The `strides` argument must be positive for pooling. Received strides=" + int_tuple_to_string(strides_));
  }
  const std::string padding = lowercase(padding_);
  if (padding != "valid" && padding != "same") {
    throw ValueError("Argument `padding` must be either 'valid' or 'same'. Received: padding=" + padding_);
  }
  set_input_spec({.ndim = static_cast<int64_t>(pool_dimensions) + 2});
  build_at_init();
}

std::vector<Tensor> BasePooling::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor& x = args.input();
  const std::string padding = lowercase(padding_);
  return {max_ ? ops::max_pool(x, pool_size_, strides_, padding, data_format_)
               : ops::average_pool(x, pool_size_, strides_, padding, data_format_)};
}

ShapeSpec BasePooling::compute_output_shape(const ShapeSpec& input_shape) {
  return ShapeSpec(compute::pooling_output_shape(
      input_shape.shape(), {.pool_size = pool_size_,
                            .strides = strides_,
                            .same_padding = lowercase(padding_) == "same",
                            .channels_last = data_format_ == "channels_last"}));
}

json BasePooling::get_config() const {
  json config = Layer::get_config();
  config["pool_size"] = pool_size_;
  config["padding"] = padding_;
  config["strides"] = strides_;
  config["data_format"] = data_format_;
  return config;
}

PoolingOptions BasePooling::options_from_config(const json& config, const char* class_name) {
  ConfigReader r(config, class_name);
  r.reject_non_null({"activity_regularizer"});
  PoolingOptions o;
  if (r.has("pool_size")) o.pool_size = int_or_list(r, "pool_size");
  if (r.has("strides")) o.strides = int_or_list(r, "strides");
  o.padding = r.optional<std::string>("padding", "valid");
  o.data_format = r.optional<std::string>("data_format", "");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return o;
}

MaxPooling1D::MaxPooling1D(const MaxPooling1DOptions& options)
    : LayerOf("MaxPooling1D", common(options), 1, /*max=*/true) {}
MaxPooling1D MaxPooling1D::from_config(const json& config) {
  PoolingOptions o = options_from_config(config, "MaxPooling1D");
  if (o.pool_size.empty()) o.pool_size = {2};
  return MaxPooling1D({o.pool_size, o.strides, o.padding, o.data_format, o.name, o.trainable, o.dtype});
}

MaxPooling2D::MaxPooling2D(const MaxPooling2DOptions& options)
    : LayerOf("MaxPooling2D", common(options), 2, /*max=*/true) {}
MaxPooling2D MaxPooling2D::from_config(const json& config) {
  PoolingOptions o = options_from_config(config, "MaxPooling2D");
  if (o.pool_size.empty()) o.pool_size = {2, 2};
  return MaxPooling2D({o.pool_size, o.strides, o.padding, o.data_format, o.name, o.trainable, o.dtype});
}

AveragePooling1D::AveragePooling1D(const AveragePooling1DOptions& options)
    : LayerOf("AveragePooling1D", options, 1, /*max=*/false) {}
AveragePooling1D AveragePooling1D::from_config(const json& config) {
  return AveragePooling1D(options_from_config(config, "AveragePooling1D"));
}

AveragePooling2D::AveragePooling2D(const AveragePooling2DOptions& options)
    : LayerOf("AveragePooling2D", options, 2, /*max=*/false) {}
AveragePooling2D AveragePooling2D::from_config(const json& config) {
  return AveragePooling2D(options_from_config(config, "AveragePooling2D"));
}

MINIDL_REGISTER_BUILTIN_LAYER(MaxPooling1D);
MINIDL_REGISTER_BUILTIN_LAYER(MaxPooling2D);
MINIDL_REGISTER_BUILTIN_LAYER(AveragePooling1D);
MINIDL_REGISTER_BUILTIN_LAYER(AveragePooling2D);

}  // namespace minidl::layers
