#pragma once
// AdditiveAttention: Bahdanau-style attention as Keras defines it (keras.layers.AdditiveAttention).
//
//   md::layers::AdditiveAttention attn({.use_scale = true, .dropout = 0.0f});
//   md::Tensor out = attn({query, value});              // or {query, value, key}
//   auto [out2, scores] = attn.call_with_scores({query, value, key},
//                                               {.mask = {query_mask, value_mask}, .use_causal_mask = true});
//   attn.scale();                                       // md::Variable, shape {query_dim}
//
// scores[b, i, j] = sum_d scale[d] * tanh(query[b, i, d] + key[b, j, d]); everything after the
// scores (masks, softmax, dropout, the value product, the query mask) is Attention's. There are
// no W_q / W_k projections (as in Keras); put Dense layers in front for the paper's form.
// `scale` is a length-query_dim vector, glorot-uniform initialised, applied after the tanh.
//
// The computation runs as one fused op (ops::additive_attention): the (B, Tq, Tv, D) tensor is
// never built, forward or backward. Second derivatives fall back to the composed-op reference.
#include "minidl/layers/attention.h"

namespace minidl::layers {

struct AdditiveAttentionOptions {
  bool use_scale = true;
  double dropout = 0.0;  // a double, so configs write Keras's 0.1 and not float32's 0.1000000015
  std::optional<uint64_t> seed{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class AdditiveAttention : public LayerOf<AdditiveAttention, Attention> {
 public:
  using Options = AdditiveAttentionOptions;
  explicit AdditiveAttention(const AdditiveAttentionOptions& options = {});
  static AdditiveAttention from_config(const json& config);
  // Attention's config without score_mode (Keras deletes it).
  json get_config() const override;

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  Tensor calculate_scores(const Tensor& query, const Tensor& key) override;
  std::optional<std::pair<Tensor, Tensor>> fused_attention(const Tensor& query, const Tensor& key,
                                                           const Tensor& value, const Tensor& value_mask,
                                                           bool causal, float dropout_rate, uint64_t seed) override;
};

}  // namespace minidl::layers
