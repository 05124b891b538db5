#include "minidl/layers/zero_padding.h"

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

// The first spatial axis: 1 for channels_last, 2 for channels_first.
int64_t first_spatial_axis(const std::string& data_format) { return data_format == "channels_first" ? 2 : 1; }

Shape padded(Shape shape, int64_t axis, const SidePair& pad) {
  auto& d = shape.at(static_cast<size_t>(axis));
  if (d != None) d += pad.total();
  return shape;
}

}  // namespace

Tensor zero_pad(const Tensor& x, int64_t axis, const SidePair& pad) {
  if (pad.total() == 0) return x;
  std::vector<Tensor> parts;
  Shape side = x.shape();
  if (pad.before > 0) {
    side[static_cast<size_t>(axis)] = pad.before;
    parts.push_back(Tensor::zeros(side, x.dtype()));
  }
  parts.push_back(x);
  if (pad.after > 0) {
    side[static_cast<size_t>(axis)] = pad.after;
    parts.push_back(Tensor::zeros(side, x.dtype()));
  }
  return ops::concatenate(parts, axis);
}

// ---- ZeroPadding1D ------------------------------------------------------------------------------

ZeroPadding1D::ZeroPadding1D(const ZeroPadding1DOptions& options)
    : LayerOf("ZeroPadding1D", options.name, options.trainable, options.dtype), options_(options) {
  options_.data_format = standardize_data_format(options.data_format);
  options_.padding.check("padding");
  set_input_spec({.ndim = 3});
}

std::vector<Tensor> ZeroPadding1D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  return {zero_pad(args.input(), first_spatial_axis(options_.data_format), options_.padding)};
}

ShapeSpec ZeroPadding1D::compute_output_shape(const ShapeSpec& input_shape) {
  return ShapeSpec(padded(input_shape.shape(), first_spatial_axis(options_.data_format), options_.padding));
}

json ZeroPadding1D::get_config() const {
  json config = Layer::get_config();
  config["padding"] = options_.padding.to_json();
  config["data_format"] = options_.data_format;
  return config;
}

ZeroPadding1D ZeroPadding1D::from_config(const json& config) {
  ConfigReader r(config, "ZeroPadding1D");
  ZeroPadding1DOptions o;
  if (r.has("padding")) o.padding = side_pair_from(r, "padding", r.at("padding"));
  o.data_format = r.optional<std::string>("data_format", "");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  ZeroPadding1D layer(o);
  layer.set_activity_regularizer(RegularizerArg::from_config(r, "activity_regularizer"));
  return layer;
}

// ---- ZeroPadding2D ------------------------------------------------------------------------------

ZeroPadding2D::ZeroPadding2D(const ZeroPadding2DOptions& options)
    : LayerOf("ZeroPadding2D", options.name, options.trainable, options.dtype), options_(options) {
  options_.data_format = standardize_data_format(options.data_format);
  options_.padding.height.check("1st entry of padding");
  options_.padding.width.check("2nd entry of padding");
  set_input_spec({.ndim = 4});
}

std::vector<Tensor> ZeroPadding2D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const int64_t axis = first_spatial_axis(options_.data_format);
  return {zero_pad(zero_pad(args.input(), axis, options_.padding.height), axis + 1, options_.padding.width)};
}

ShapeSpec ZeroPadding2D::compute_output_shape(const ShapeSpec& input_shape) {
  const int64_t axis = first_spatial_axis(options_.data_format);
  return ShapeSpec(
      padded(padded(input_shape.shape(), axis, options_.padding.height), axis + 1, options_.padding.width));
}

json ZeroPadding2D::get_config() const {
  json config = Layer::get_config();
  config["padding"] = options_.padding.to_json();
  config["data_format"] = options_.data_format;
  return config;
}

ZeroPadding2D ZeroPadding2D::from_config(const json& config) {
  ConfigReader r(config, "ZeroPadding2D");
  ZeroPadding2DOptions o;
  if (r.has("padding")) o.padding = side_pairs_2d_from(r, "padding", r.at("padding"));
  o.data_format = r.optional<std::string>("data_format", "");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  ZeroPadding2D layer(o);
  layer.set_activity_regularizer(RegularizerArg::from_config(r, "activity_regularizer"));
  return layer;
}

MINIDL_REGISTER_BUILTIN_LAYER(ZeroPadding1D);
MINIDL_REGISTER_BUILTIN_LAYER(ZeroPadding2D);

}  // namespace minidl::layers
