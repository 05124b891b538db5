#include "minidl/layers/additive_attention.h"

#include <fmt/format.h>

#include "minidl/core/error.h"

#include "minidl/autograd/attention.h"
#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

AdditiveAttention::AdditiveAttention(const AdditiveAttentionOptions& options)
    : LayerOf("AdditiveAttention", AttentionOptions{.use_scale = options.use_scale,
                                                      .score_mode = "dot",
                                                      .dropout = options.dropout,
                                                      .seed = options.seed,
                                                      .name = options.name,
                                                      .trainable = options.trainable,
                                                      .dtype = options.dtype}) {}

void AdditiveAttention::build_weights(const ShapeSpec& input_shape) {
  validate_input_shapes(input_shape);
  // Keras 3 sizes the scale by the query's last dim (Keras 2 used the value's).
  const Shape& query_shape = input_shape.shapes()[0];
  if (query_shape.empty() || query_shape.back() < 0) {
    throw ValueError(fmt::format("{} needs a query whose last dimension (the features) is known to build its scale; "
                                 "received query shape {}.",
                                 class_name(), shape_to_string(query_shape)));
  }
  const int64_t dim = query_shape.back();
  if (options_.use_scale) state_->scale = add_weight("scale", {dim}, "glorot_uniform");
}

Tensor AdditiveAttention::calculate_scores(const Tensor& query, const Tensor& key) {
  // sum(scale * tanh(q[..., :, None, :] + k[..., None, :, :]), -1): materialises (..., Tq, Tv, D).
  Tensor t = ops::tanh(ops::add(ops::expand_dims(query, -2), ops::expand_dims(key, -3)));
  if (state_->scale.defined()) t = ops::multiply(t, state_->scale.value());
  return ops::sum(t, {-1});
}

std::optional<std::pair<Tensor, Tensor>> AdditiveAttention::fused_attention(const Tensor& query, const Tensor& key,
                                                                            const Tensor& value,
                                                                            const Tensor& value_mask, bool causal,
                                                                            float dropout_rate, uint64_t seed) {
  return ops::additive_attention(query, key, value, state_->scale.defined() ? state_->scale.value() : Tensor(),
                                 {.value_mask = value_mask, .causal = causal}, dropout_rate, seed);
}

json AdditiveAttention::get_config() const {
  json config = Attention::get_config();
  config.erase("score_mode");
  return config;
}

AdditiveAttention AdditiveAttention::from_config(const json& config) {
  ConfigReader r(config, "AdditiveAttention");
  AdditiveAttentionOptions o;
  o.use_scale = r.optional<bool>("use_scale", true);
  o.dropout = r.optional<double>("dropout", 0.0);
  o.seed = r.maybe<uint64_t>("seed");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return AdditiveAttention(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(AdditiveAttention);

}  // namespace minidl::layers
