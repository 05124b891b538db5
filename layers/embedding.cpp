#include "minidl/layers/embedding.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

Embedding::Embedding(const EmbeddingOptions& options)
    : LayerOf("Embedding", options.name, options.trainable, options.dtype), options_(options) {
  set_activity_regularizer(options.activity_regularizer);
  if (options.input_dim <= 0) {
    throw ValueError(fmt::format("`input_dim` must be a positive integer. Received: input_dim={} (of type int).",
                                 options.input_dim));
  }
  if (options.output_dim <= 0) {
    throw ValueError(fmt::format("`output_dim` must be a positive integer. Received: output_dim={} (of type int).",
                                 options.output_dim));
  }
}

void Embedding::build_weights(const ShapeSpec& /*input_shape*/) {
  state_->embeddings = add_weight("embeddings", {options_.input_dim, options_.output_dim},
                                  {.initializer = options_.embeddings_initializer,
                                   .regularizer = options_.embeddings_regularizer,
                                   .constraint = options_.embeddings_constraint});
}

const Variable& Embedding::embeddings() const {
  if (!built()) throw AttributeError("You must build the layer before accessing `embeddings`.");
  return state_->embeddings;
}

std::vector<Tensor> Embedding::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor inputs = args.input();
  const Tensor indices = inputs.dtype() == DType::int32 ? inputs : ops::cast(inputs, DType::int32);
  return {ops::take(state_->embeddings.value(), indices, 0)};
}

Tensor Embedding::compute_mask(const CallArgs& args, const std::vector<Tensor>& /*masks*/) {
  if (!options_.mask_zero) return Tensor();
  return ops::not_equal(args.input(), Tensor::scalar(0.0f));
}

ShapeSpec Embedding::compute_output_shape(const ShapeSpec& input_shape) {
  Shape out = input_shape.shape();
  out.push_back(options_.output_dim);
  return ShapeSpec(out);
}

std::vector<Tensor> Embedding::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  return {Tensor::symbolic(compute_output_shape(ShapeSpec(args.input().shape())).shape(), DType::float32)};
}

json Embedding::get_config() const {
  json config = Layer::get_config();
  config["input_dim"] = options_.input_dim;
  config["output_dim"] = options_.output_dim;
  config["embeddings_initializer"] = options_.embeddings_initializer.serialize();
  config["embeddings_regularizer"] = options_.embeddings_regularizer.serialize();
  config["activity_regularizer"] = options_.activity_regularizer.serialize();
  config["embeddings_constraint"] = options_.embeddings_constraint.serialize();
  config["mask_zero"] = options_.mask_zero;
  config["quantization_config"] = nullptr;
  return config;
}

Embedding Embedding::from_config(const json& config) {
  ConfigReader r(config, "Embedding");
  r.reject_non_null({"quantization_config", "lora_rank", "lora_alpha", "weights"});
  // Keras 3 drops Keras 2's input_length with a deprecation warning; it is ignored here too.
  EmbeddingOptions o;
  o.input_dim = r.required<int64_t>("input_dim");
  o.output_dim = r.required<int64_t>("output_dim");
  if (r.has("embeddings_initializer")) o.embeddings_initializer = Initializer::deserialize(r.at("embeddings_initializer"));
  o.embeddings_regularizer = RegularizerArg::from_config(r, "embeddings_regularizer");
  o.activity_regularizer = RegularizerArg::from_config(r, "activity_regularizer");
  o.embeddings_constraint = ConstraintArg::from_config(r, "embeddings_constraint");
  o.mask_zero = r.optional<bool>("mask_zero", false);
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return Embedding(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(Embedding);

}  // namespace minidl::layers
