#include "minidl/layers/cropping.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

// Keras's shapes in messages: (1, 4, 2), with None for unknown sizes.
std::string python_shape(const Shape& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    out += (i ? ", " : "") + (shape[i] == None ? std::string("None") : std::to_string(shape[i]));
  }
  return out + (shape.size() == 1 ? ",)" : ")");
}

std::string python_pair(const SidePair& p) { return fmt::format("({}, {})", p.before, p.after); }

Shape cropped(Shape shape, int64_t axis, const SidePair& crop) {
  auto& d = shape.at(static_cast<size_t>(axis));
  if (d != None) d -= crop.total();
  return shape;
}

bool too_much(const Shape& shape, int64_t axis, const SidePair& crop) {
  const int64_t d = shape.at(static_cast<size_t>(axis));
  return d != None && crop.total() >= d;
}

Tensor crop(const Tensor& x, int64_t axis, const SidePair& c) {
  if (c.total() == 0) return x;
  return ops::slice(x, axis, c.before, x.shape()[static_cast<size_t>(axis)] - c.after);
}

int64_t first_spatial_axis(const std::string& data_format) { return data_format == "channels_first" ? 2 : 1; }

}  // namespace

// ---- Cropping1D ---------------------------------------------------------------------------------

Cropping1D::Cropping1D(const Cropping1DOptions& options)
    : LayerOf("Cropping1D", options.name, options.trainable, options.dtype), options_(options) {
  options_.cropping.check("cropping");
  set_input_spec({.ndim = 3});
}

ShapeSpec Cropping1D::compute_output_shape(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.shape();
  if (too_much(shape, 1, options_.cropping)) {
    throw ValueError(fmt::format("`cropping` parameter of `Cropping1D` layer must be smaller than the input length. "
                                 "Received: input_shape={}, cropping={}",
                                 python_shape(shape), python_pair(options_.cropping)));
  }
  return ShapeSpec(cropped(shape, 1, options_.cropping));
}

std::vector<Tensor> Cropping1D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor x = args.input();
  if (too_much(x.shape(), 1, options_.cropping)) {
    throw ValueError(fmt::format("`cropping` parameter of `Cropping1D` layer must be smaller than the input length. "
                                 "Received: inputs.shape={}, cropping={}",
                                 python_shape(x.shape()), python_pair(options_.cropping)));
  }
  return {crop(x, 1, options_.cropping)};
}

json Cropping1D::get_config() const {
  json config = Layer::get_config();
  config["cropping"] = options_.cropping.to_json();
  return config;
}

Cropping1D Cropping1D::from_config(const json& config) {
  ConfigReader r(config, "Cropping1D");
  Cropping1DOptions o;
  if (r.has("cropping")) o.cropping = side_pair_from(r, "cropping", r.at("cropping"));
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  Cropping1D layer(o);
  layer.set_activity_regularizer(RegularizerArg::from_config(r, "activity_regularizer"));
  return layer;
}

// ---- Cropping2D ---------------------------------------------------------------------------------

Cropping2D::Cropping2D(const Cropping2DOptions& options)
    : LayerOf("Cropping2D", options.name, options.trainable, options.dtype), options_(options) {
  options_.data_format = standardize_data_format(options.data_format);
  const SidePair& h = options_.cropping.height;
  const SidePair& w = options_.cropping.width;
  if (h.symmetric && w.symmetric && h.before == w.before && h.before < 0) {
    throw ValueError(fmt::format("`cropping` cannot be negative. Received: cropping={}.", h.before));
  }
  h.check("1st entry of cropping");
  w.check("2nd entry of cropping");
  set_input_spec({.ndim = 4});
}

namespace {

void check_cropping_2d(const Shape& shape, int64_t axis, const SidePairs2D& c, const char* what) {
  if (too_much(shape, axis, c.height) || too_much(shape, axis + 1, c.width)) {
    throw ValueError(fmt::format("Values in `cropping` argument should be smaller than the corresponding spatial "
                                 "dimension of the input. Received: {}={}, cropping=({}, {})",
                                 what, python_shape(shape), python_pair(c.height), python_pair(c.width)));
  }
}

}  // namespace

ShapeSpec Cropping2D::compute_output_shape(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.shape();
  const int64_t axis = first_spatial_axis(options_.data_format);
  check_cropping_2d(shape, axis, options_.cropping, "input_shape");
  return ShapeSpec(cropped(cropped(shape, axis, options_.cropping.height), axis + 1, options_.cropping.width));
}

std::vector<Tensor> Cropping2D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor x = args.input();
  const int64_t axis = first_spatial_axis(options_.data_format);
  check_cropping_2d(x.shape(), axis, options_.cropping, "inputs.shape");
  return {crop(crop(x, axis, options_.cropping.height), axis + 1, options_.cropping.width)};
}

json Cropping2D::get_config() const {
  json config = Layer::get_config();
  config["cropping"] = options_.cropping.to_json();
  config["data_format"] = options_.data_format;
  return config;
}

Cropping2D Cropping2D::from_config(const json& config) {
  ConfigReader r(config, "Cropping2D");
  Cropping2DOptions o;
  if (r.has("cropping")) o.cropping = side_pairs_2d_from(r, "cropping", r.at("cropping"));
  o.data_format = r.optional<std::string>("data_format", "");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  Cropping2D layer(o);
  layer.set_activity_regularizer(RegularizerArg::from_config(r, "activity_regularizer"));
  return layer;
}

MINIDL_REGISTER_BUILTIN_LAYER(Cropping1D);
MINIDL_REGISTER_BUILTIN_LAYER(Cropping2D);

}  // namespace minidl::layers
