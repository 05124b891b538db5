#include "minidl/layers/dense.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

Dense::Dense(const DenseOptions& options)
    : LayerOf("Dense", options.name, options.trainable, options.dtype), options_(options) {
  if (options.units <= 0) {
    throw ValueError(fmt::format(
        "Received an invalid value for `units`, expected a positive integer. Received: units={}", options.units));
  }
  set_input_spec({.min_ndim = 2});
  set_activity_regularizer(options.activity_regularizer);
}

void Dense::build_weights(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.shape();
  if (shape.empty() || shape.back() == None) {
    throw ValueError(fmt::format("Dense layer '{}' needs a known last input dimension; received input shape {}.",
                                 name(), shape_to_string(shape)));
  }
  state_->kernel = add_weight("kernel", {shape.back(), options_.units},
                              {.initializer = options_.kernel_initializer,
                               .regularizer = options_.kernel_regularizer,
                               .constraint = options_.kernel_constraint});
  if (options_.use_bias) {
    state_->bias = add_weight("bias", {options_.units},
                              {.initializer = options_.bias_initializer,
                               .regularizer = options_.bias_regularizer,
                               .constraint = options_.bias_constraint});
  }
  set_input_spec({.min_ndim = 2, .axes = {{-1, shape.back()}}});
}

std::vector<Tensor> Dense::call(const CallArgs& args, const CallContext& /*ctx*/) {
  Tensor y = ops::matmul(args.input(), state_->kernel.value());
  if (state_->bias.defined()) y = ops::add(y, state_->bias.value());
  return {options_.activation(y)};
}

json Dense::get_config() const {
  json config = Layer::get_config();
  config["units"] = options_.units;
  config["activation"] = activations::serialize(options_.activation);
  config["use_bias"] = options_.use_bias;
  config["kernel_initializer"] = options_.kernel_initializer.serialize();
  config["bias_initializer"] = options_.bias_initializer.serialize();
  config["kernel_regularizer"] = options_.kernel_regularizer.serialize();
  config["bias_regularizer"] = options_.bias_regularizer.serialize();
  config["kernel_constraint"] = options_.kernel_constraint.serialize();
  config["bias_constraint"] = options_.bias_constraint.serialize();
  config["quantization_config"] = nullptr;
  return config;
}

Dense Dense::from_config(const json& config) {
  ConfigReader r(config, "Dense");
  r.reject_non_null({"quantization_config", "lora_rank"});
  DenseOptions o;
  o.units = r.required<int64_t>("units");
  o.activation = activations::from_config(r, "activation");
  o.use_bias = r.optional<bool>("use_bias", true);
  if (r.has("kernel_initializer")) o.kernel_initializer = Initializer::deserialize(r.at("kernel_initializer"));
  if (r.has("bias_initializer")) o.bias_initializer = Initializer::deserialize(r.at("bias_initializer"));
  o.kernel_regularizer = RegularizerArg::from_config(r, "kernel_regularizer");
  o.bias_regularizer = RegularizerArg::from_config(r, "bias_regularizer");
  o.activity_regularizer = RegularizerArg::from_config(r, "activity_regularizer");
  o.kernel_constraint = ConstraintArg::from_config(r, "kernel_constraint");
  o.bias_constraint = ConstraintArg::from_config(r, "bias_constraint");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return Dense(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(Dense);

}  // namespace minidl::layers
