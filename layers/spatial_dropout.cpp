#include "minidl/layers/spatial_dropout.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

void check_rate(double rate) {
  if (!(rate >= 0.0 && rate <= 1.0)) {
    throw ValueError(fmt::format(
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate={}", rate));
  }
}

// x times a mask of shape `noise_shape` (broadcast over the other axes): each mask entry is 0
// with probability `rate`, else 1 / (1 - rate).
Tensor spatial_dropout(const Tensor& x, double rate, const Shape& noise_shape, uint64_t seed) {
  if (rate >= 1.0) return ops::multiply(x, 0.0f);  // as Dropout: everything dropped
  const Tensor mask = ops::dropout(Tensor::ones(noise_shape), static_cast<float>(rate), seed);
  return ops::multiply(x, mask);
}

json spatial_dropout_config(const Layer& layer, double rate, const std::optional<uint64_t>& seed) {
  return json{{"rate", rate}, {"seed", seed ? json(*seed) : json(nullptr)}, {"name", layer.name()},
              {"dtype", layer.dtype()}};
}

}  // namespace

// ---- SpatialDropout1D ---------------------------------------------------------------------------

SpatialDropout1D::SpatialDropout1D(const SpatialDropout1DOptions& options)
    : LayerOf("SpatialDropout1D", options.name, options.trainable, options.dtype), options_(options) {
  check_rate(options.rate);
  if (options.rate > 0.0) seed_generator(options.seed);
  set_input_spec({.ndim = 3});
  build_at_init();
}

std::vector<Tensor> SpatialDropout1D::call(const CallArgs& args, const CallContext& ctx) {
  const Tensor x = args.input();
  if (!ctx.training || options_.rate <= 0.0 || x.is_symbolic()) return {x};
  return {spatial_dropout(x, options_.rate, {x.shape()[0], 1, x.shape()[2]}, seed_generator(options_.seed).next())};
}

json SpatialDropout1D::get_config() const { return spatial_dropout_config(*this, options_.rate, options_.seed); }

SpatialDropout1D SpatialDropout1D::from_config(const json& config) {
  ConfigReader r(config, "SpatialDropout1D");
  SpatialDropout1DOptions o;
  o.rate = r.required<double>("rate");
  o.seed = r.maybe<uint64_t>("seed");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return SpatialDropout1D(o);
}

// ---- SpatialDropout2D ---------------------------------------------------------------------------

SpatialDropout2D::SpatialDropout2D(const SpatialDropout2DOptions& options)
    : LayerOf("SpatialDropout2D", options.name, options.trainable, options.dtype), options_(options) {
  check_rate(options.rate);
  options_.data_format = standardize_data_format(options.data_format);
  if (options.rate > 0.0) seed_generator(options.seed);
  set_input_spec({.ndim = 4});
  build_at_init();
}

std::vector<Tensor> SpatialDropout2D::call(const CallArgs& args, const CallContext& ctx) {
  const Tensor x = args.input();
  if (!ctx.training || options_.rate <= 0.0 || x.is_symbolic()) return {x};
  const Shape& s = x.shape();
  const Shape noise = options_.data_format == "channels_first" ? Shape{s[0], s[1], 1, 1} : Shape{s[0], 1, 1, s[3]};
  return {spatial_dropout(x, options_.rate, noise, seed_generator(options_.seed).next())};
}

json SpatialDropout2D::get_config() const {
  json config = spatial_dropout_config(*this, options_.rate, options_.seed);
  config["data_format"] = options_.data_format;
  return config;
}

SpatialDropout2D SpatialDropout2D::from_config(const json& config) {
  ConfigReader r(config, "SpatialDropout2D");
  SpatialDropout2DOptions o;
  o.rate = r.required<double>("rate");
  o.seed = r.maybe<uint64_t>("seed");
  o.data_format = r.optional<std::string>("data_format", "");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return SpatialDropout2D(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(SpatialDropout1D);
MINIDL_REGISTER_BUILTIN_LAYER(SpatialDropout2D);

}  // namespace minidl::layers
