#include "minidl/layers/up_sampling.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

Shape scaled(Shape shape, int64_t axis, int64_t factor) {
  auto& d = shape.at(static_cast<size_t>(axis));
  if (d != None) d *= factor;
  return shape;
}

// NumPy's repeat(x, factor, axis): each entry `factor` times in a row, through a broadcast (so
// the gradient sums the copies).
Tensor repeat(const Tensor& x, int64_t axis, int64_t factor) {
  if (factor == 1) return x;
  const Shape& shape = x.shape();
  Tensor y = ops::expand_dims(x, axis + 1);
  Shape wide = y.shape();
  wide[static_cast<size_t>(axis + 1)] = factor;
  Shape merged = shape;
  merged[static_cast<size_t>(axis)] *= factor;
  return ops::reshape(ops::broadcast_to(y, wide), merged);
}

// The (out, in) matrix of linear interpolation with half-pixel centres: output i samples input
// position (i + 0.5) / factor - 0.5, clamped to [0, in - 1] (JAX's resize renormalises the
// triangle kernel over the inputs that exist, which is the same when enlarging).
Tensor linear_weights(int64_t in, int64_t factor) {
  const int64_t out = in * factor;
  std::vector<float> w(static_cast<size_t>(out * in), 0.0f);
  for (int64_t i = 0; i < out; ++i) {
    const double src = std::clamp((static_cast<double>(i) + 0.5) / static_cast<double>(factor) - 0.5, 0.0,
                                  static_cast<double>(in - 1));
    const auto lo = static_cast<int64_t>(std::floor(src));
    const int64_t hi = std::min(lo + 1, in - 1);
    const double t = src - static_cast<double>(lo);
    w[static_cast<size_t>(i * in + lo)] += static_cast<float>(1.0 - t);
    w[static_cast<size_t>(i * in + hi)] += static_cast<float>(t);
  }
  return Tensor::from_vector(w, {out, in});
}

}  // namespace

// ---- UpSampling1D -------------------------------------------------------------------------------

UpSampling1D::UpSampling1D(const UpSampling1DOptions& options)
    : LayerOf("UpSampling1D", options.name, options.trainable, options.dtype), options_(options) {
  if (options.size <= 0) {
    throw ValueError(fmt::format("Argument `size` should be a positive integer. Received: size={}", options.size));
  }
  set_input_spec({.ndim = 3});
}

std::vector<Tensor> UpSampling1D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  return {repeat(args.input(), 1, options_.size)};
}

ShapeSpec UpSampling1D::compute_output_shape(const ShapeSpec& input_shape) {
  return ShapeSpec(scaled(input_shape.shape(), 1, options_.size));
}

json UpSampling1D::get_config() const {
  json config = Layer::get_config();
  config["size"] = options_.size;
  return config;
}

UpSampling1D UpSampling1D::from_config(const json& config) {
  ConfigReader r(config, "UpSampling1D");
  UpSampling1DOptions o;
  o.size = r.optional<int64_t>("size", 2);
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  UpSampling1D layer(o);
  layer.set_activity_regularizer(RegularizerArg::from_config(r, "activity_regularizer"));
  return layer;
}

// ---- UpSampling2D -------------------------------------------------------------------------------

UpSampling2D::UpSampling2D(const UpSampling2DOptions& options)
    : LayerOf("UpSampling2D", options.name, options.trainable, options.dtype), options_(options) {
  options_.data_format = standardize_data_format(options.data_format);
  const UpSamplingSize& s = options.size;
  if (s.height <= 0 || s.width <= 0) {
    const std::string received = s.symmetric ? std::to_string(s.height) : fmt::format("({}, {})", s.height, s.width);
    std::string bad = s.height <= 0 ? std::to_string(s.height) : std::to_string(s.width);
    if (!s.symmetric && s.height <= 0 && s.width <= 0 && s.height != s.width) {
      bad = fmt::format("{}, {}", s.height, s.width);
    }
    throw ValueError(fmt::format("The `size` argument must be a tuple of 2 integers. Received size={}, including "
                                 "values {{{}}} that do not satisfy `value > 0`",
                                 received, bad));
  }
  std::transform(options_.interpolation.begin(), options_.interpolation.end(), options_.interpolation.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  // Keras accepts any name here and fails inside ops.image.resize; minidl has the two the
  // layer documents and says so at construction.
  if (options_.interpolation != "nearest" && options_.interpolation != "bilinear") {
    throw ValueError(fmt::format("UpSampling2D: minidl supports interpolation \"nearest\" and \"bilinear\"; "
                                 "received interpolation={}",
                                 options_.interpolation));
  }
  set_input_spec({.ndim = 4});
}

std::vector<Tensor> UpSampling2D::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const bool channels_first = options_.data_format == "channels_first";
  const int64_t fh = options_.size.height, fw = options_.size.width;
  Tensor x = args.input();
  if (options_.interpolation == "nearest") {
    const int64_t axis = channels_first ? 2 : 1;
    return {repeat(repeat(x, axis, fh), axis + 1, fw)};
  }
  // Bilinear, separably: y = A_h . x . A_w^T on (B, C, H, W).
  if (!channels_first) x = ops::transpose(x, {0, 3, 1, 2});
  const Tensor a_h = linear_weights(x.shape()[2], fh);
  const Tensor a_w = linear_weights(x.shape()[3], fw);
  Tensor y = ops::matmul(ops::matmul(a_h, x), a_w, false, true);
  if (!channels_first) y = ops::transpose(y, {0, 2, 3, 1});
  return {y};
}

ShapeSpec UpSampling2D::compute_output_shape(const ShapeSpec& input_shape) {
  const int64_t axis = options_.data_format == "channels_first" ? 2 : 1;
  return ShapeSpec(scaled(scaled(input_shape.shape(), axis, options_.size.height), axis + 1, options_.size.width));
}

json UpSampling2D::get_config() const {
  json config = Layer::get_config();
  config["size"] = json::array({options_.size.height, options_.size.width});
  config["data_format"] = options_.data_format;
  config["interpolation"] = options_.interpolation;
  return config;
}

UpSampling2D UpSampling2D::from_config(const json& config) {
  ConfigReader r(config, "UpSampling2D");
  UpSampling2DOptions o;
  if (r.has("size")) {
    const json& size = r.at("size");
    if (size.is_array()) {
      if (size.size() != 2) {
        throw ValueError("The `size` argument must be a tuple of 2 integers. Received size=" + size.dump());
      }
      o.size = UpSamplingSize(r.integer_value("size", size[0]), r.integer_value("size", size[1]));
    } else {
      o.size = UpSamplingSize(r.integer_value("size", size));
    }
  }
  o.data_format = r.optional<std::string>("data_format", "");
  o.interpolation = r.optional<std::string>("interpolation", "nearest");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  UpSampling2D layer(o);
  layer.set_activity_regularizer(RegularizerArg::from_config(r, "activity_regularizer"));
  return layer;
}

MINIDL_REGISTER_BUILTIN_LAYER(UpSampling1D);
MINIDL_REGISTER_BUILTIN_LAYER(UpSampling2D);

}  // namespace minidl::layers
