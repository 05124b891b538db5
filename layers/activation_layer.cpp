#include "minidl/layers/activation_layer.h"

#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

Activation::Activation(const ActivationOptions& options)
    : LayerOf("Activation", options.name, options.trainable, options.dtype), options_(options) {
  build_at_init();
}

std::vector<Tensor> Activation::call(const CallArgs& args, const CallContext& /*ctx*/) {
  return {options_.activation(args.input())};
}

json Activation::get_config() const {
  json config = Layer::get_config();
  config["activation"] = activations::serialize(options_.activation);
  return config;
}

Activation Activation::from_config(const json& config) {
  ConfigReader r(config, "Activation");
  r.reject_non_null({"activity_regularizer"});
  ActivationOptions o;
  o.activation = activations::from_config(r, "activation");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return Activation(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(Activation);

}  // namespace minidl::layers
