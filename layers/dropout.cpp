#include "minidl/layers/dropout.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

Dropout::Dropout(const DropoutOptions& options)
    : LayerOf("Dropout", options.name, options.trainable, options.dtype), options_(options) {
  if (!(options.rate >= 0.0 && options.rate <= 1.0)) {
    throw ValueError(fmt::format(
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate={}",
        options.rate));
  }
  if (options.noise_shape) {
    throw NotImplementedError(fmt::format(
        "Dropout: `noise_shape` is not supported by minidl (entries are dropped independently); received "
        "noise_shape={}.",
        shape_to_string(*options.noise_shape)));
  }
  // Keras creates the seed generator in the constructor, only when it can be used.
  if (options.rate > 0.0) seed_generator(options.seed);
  build_at_init();
}

std::vector<Tensor> Dropout::call(const CallArgs& args, const CallContext& ctx) {
  const Tensor x = args.input();
  if (!ctx.training || options_.rate <= 0.0 || x.is_symbolic()) return {x};
  // rate == 1 drops everything: zeros, as Keras's JAX and PyTorch backends give (TensorFlow's
  // stateless_dropout rejects it).
  if (options_.rate >= 1.0) return {ops::multiply(x, 0.0f)};
  return {ops::dropout(x, static_cast<float>(options_.rate), seed_generator(options_.seed).next())};
}

json Dropout::get_config() const {
  json config = Layer::get_config();
  config["rate"] = options_.rate;
  config["seed"] = options_.seed ? json(*options_.seed) : json(nullptr);
  config["noise_shape"] = nullptr;
  return config;
}

Dropout Dropout::from_config(const json& config) {
  ConfigReader r(config, "Dropout");
  r.reject_non_null({"noise_shape", "activity_regularizer"});
  DropoutOptions o;
  o.rate = r.required<double>("rate");
  o.seed = r.maybe<uint64_t>("seed");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return Dropout(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(Dropout);

}  // namespace minidl::layers
