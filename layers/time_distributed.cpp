#include "minidl/layers/time_distributed.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/registration.h"
#include "minidl/layers/serialization.h"

namespace minidl::layers {

namespace {

// (batch, time, rest...) -> (batch, rest...): what the inner layer sees per step.
Shape step_shape(const Shape& shape) {
  if (shape.size() < 3) {
    throw ValueError(fmt::format(
        "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions, received: {}",
        shape_to_string(shape)));
  }
  Shape out{shape[0]};
  out.insert(out.end(), shape.begin() + 2, shape.end());
  return out;
}

}  // namespace

TimeDistributed::TimeDistributed(const Layer& layer, const TimeDistributedOptions& options)
    : LayerOf("TimeDistributed", options.name, options.trainable, options.dtype),
      layer_(std::static_pointer_cast<Layer>(const_cast<Layer&>(layer).shared_self())) {
  track(*layer_);
}

void TimeDistributed::build_weights(const ShapeSpec& input_shape) {
  layer_->build(ShapeSpec(step_shape(input_shape.shape())));
}

ShapeSpec TimeDistributed::compute_output_shape(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.shape();
  const Shape child = layer_->compute_output_shape(ShapeSpec(step_shape(shape))).shape();
  Shape out{child.at(0), shape[1]};
  out.insert(out.end(), child.begin() + 1, child.end());
  return ShapeSpec(out);
}

std::vector<Tensor> TimeDistributed::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  return {Tensor::symbolic(compute_output_shape(ShapeSpec(args.input().shape())).shape())};
}

std::vector<Tensor> TimeDistributed::call(const CallArgs& args, const CallContext& ctx) {
  const Tensor x = args.input();
  const Shape& shape = x.shape();
  Shape flat{shape[0] * shape[1]};
  flat.insert(flat.end(), shape.begin() + 2, shape.end());
  // One call on every step at once; the steps are independent examples for the inner layer.
  const Tensor y = layer_->call_all(ops::reshape(x, flat), {.mask = {Tensor()}, .training = ctx.training}).at(0);
  Shape out{shape[0], shape[1]};
  out.insert(out.end(), y.shape().begin() + 1, y.shape().end());
  return {ops::reshape(y, out)};
}

json TimeDistributed::get_config() const {
  json config = Layer::get_config();
  config["layer"] = serialize(*layer_);
  return config;
}

TimeDistributed TimeDistributed::from_config(const json& config) {
  ConfigReader r(config, "TimeDistributed");
  TimeDistributedOptions o;
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  if (!r.has("layer")) throw ValueError("TimeDistributed config: missing key 'layer'.");
  // The inner layer is built by this layer's own build (from its build_config when deserialized),
  // inside its name scope, not from the inner build_config.
  json object = r.at("layer");
  object.erase("build_config");
  return TimeDistributed(*deserialize(object), o);
}

MINIDL_REGISTER_BUILTIN_LAYER(TimeDistributed);

std::vector<std::pair<std::string, std::shared_ptr<Layer>>> TimeDistributed::saved_sublayers() const {
  return {{"layer", layer_}};
}

}  // namespace minidl::layers
