#pragma once
// Attention: Keras's dot-product / concat attention layer, and the base of AdditiveAttention.
//
//   md::layers::Attention attn({.use_scale = false, .score_mode = "dot"});
//   md::Tensor out = attn({query, value});            // or {query, value, key}
//   auto [out2, scores] = attn.call_with_scores({query, value},
//                                              {.mask = {query_mask, value_mask},
//                                               .training = false,
//                                               .use_causal_mask = true});
//
// Inputs are a list [query (B, Tq, D), value (B, Tv, Dv)] or [query, value, key (B, Tv, D)];
// `key` defaults to `value`. Extra leading dims work as batch dims. Masks are [query_mask
// (B, Tq), value_mask (B, Tv)] with md::Tensor{} for None: the value mask (and the causal mask,
// top-left anchored) remove keys by subtracting 1e9 from their scores; the query mask zeroes
// output rows and leaves the scores alone. Dropout acts on the attention weights, in training
// only, reproducibly from `seed`. Exactly keras.layers.Attention (3.16), with the value mask
// applied per batch element (the 3.12+ fix).
#include <optional>
#include <string>
#include <utility>

#include "minidl/layers/layer.h"

namespace minidl::layers {

struct AttentionOptions {
  bool use_scale = false;
  std::string score_mode = "dot";  // "dot" or "concat"
  double dropout = 0.0;  // a double, so configs write Keras's 0.1 and not float32's 0.1000000015
  std::optional<uint64_t> seed{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

struct AttentionCallOptions {
  std::vector<Tensor> mask{};  // {query_mask, value_mask} (a third, key mask, is ignored as in Keras)
  std::optional<bool> training{};
  bool use_causal_mask = false;
};

class Attention : public LayerOf<Attention> {
 public:
  using Options = AttentionOptions;
  explicit Attention(const AttentionOptions& options = {});
  static Attention from_config(const json& config);

  Tensor operator()(const std::vector<Tensor>& inputs, const AttentionCallOptions& options = {});
  // Keras requires a list; a single tensor fails with Keras's message.
  Tensor operator()(const Tensor& input, const AttentionCallOptions& options = {});
  // {output (..., Tq, Dv), scores (..., Tq, Tv)}: Keras's return_attention_scores=True. The
  // scores are the attention weights after masking, softmax and dropout.
  std::pair<Tensor, Tensor> call_with_scores(const std::vector<Tensor>& inputs,
                                             const AttentionCallOptions& options = {});

  bool supports_masking() const override { return true; }
  // The query mask (mask[0]), unchanged.
  Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) override;
  // (*query[:-1], value[-1]).
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;
  json get_config() const override;

  const Variable& scale() const;  // undefined when use_scale is false
  const AttentionOptions& options() const { return options_; }

 protected:
  Attention(const std::string& class_name, const AttentionOptions& options);
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

  // Keras's _calculate_scores: (..., Tq, Tv) raw scores from query and key.
  virtual Tensor calculate_scores(const Tensor& query, const Tensor& key);
  // The whole of masking, softmax, dropout and the value product in one fused op, when the
  // layer has one (AdditiveAttention does); nullopt means use the composed Keras steps.
  virtual std::optional<std::pair<Tensor, Tensor>> fused_attention(const Tensor& query, const Tensor& key,
                                                                   const Tensor& value, const Tensor& value_mask,
                                                                   bool causal, float dropout_rate, uint64_t seed);
  // Keras's _validate_inputs on a build shape (the list check runs at build time).
  void validate_input_shapes(const ShapeSpec& input_shape) const;
  void validate_call(const CallArgs& args) const;

  AttentionOptions options_;
  struct State {
    Variable scale, concat_score_weight;
  };
  Shared<State> state_;
};

}  // namespace minidl::layers
