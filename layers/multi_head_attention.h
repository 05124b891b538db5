#pragma once
// MultiHeadAttention: Keras's multi-head dot-product attention. Query, key and value are
// projected by EinsumDense layers named "query", "key" and "value" (kernels (dim, heads,
// key_dim), biases (heads, key_dim)), attention runs per head over `attention_axes`, and the
// "attention_output" EinsumDense (kernel (heads, value_dim, dim)) projects the heads back.
//
//   md::layers::MultiHeadAttention mha({.num_heads = 4, .key_dim = 32});
//   md::Tensor y = mha(x, x);                                   // self-attention, (B, T, dim)
//   md::Tensor z = mha(q, v, {.key = k, .use_causal_mask = true});
//   auto [out, scores] = mha.call_with_scores(q, v);            // scores (B, heads, T, S)
//   md::Tensor w = mha({q, v, k});   // also as a list, as layers with several inputs take them
//
// Masks follow Keras: the query's, value's and key's Keras masks (or the explicit query_mask,
// value_mask, key_mask), `attention_mask` (B, T, S) and the causal mask are and-ed; masked
// scores become -1e9 before the softmax, so a fully masked row attends uniformly. The output
// carries the query mask. Dropout acts on the attention weights in training only; the scores
// returned are the weights before dropout, as Keras's.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "minidl/layers/einsum_dense.h"
#include "minidl/layers/initializers.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

struct MultiHeadAttentionOptions {
  int64_t num_heads = 0;
  int64_t key_dim = 0;
  std::optional<int64_t> value_dim{};  // none: key_dim
  double dropout = 0.0;
  bool use_bias = true;
  std::vector<int64_t> output_shape{};                 // {}: the query's last dimension
  std::optional<std::vector<int64_t>> attention_axes{};  // none: every axis but batch, heads, features
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::optional<uint64_t> seed{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

struct MultiHeadAttentionCallOptions {
  Tensor key{};  // undefined: the value
  Tensor query_mask{}, value_mask{}, key_mask{};  // undefined: the tensors' own Keras masks
  Tensor attention_mask{};  // (B, T, S) booleans (or numbers, nonzero = attend); undefined: none
  bool use_causal_mask = false;
  std::optional<bool> training{};
};

class MultiHeadAttention : public LayerOf<MultiHeadAttention> {
 public:
  using Options = MultiHeadAttentionOptions;
  explicit MultiHeadAttention(const MultiHeadAttentionOptions& options);
  static MultiHeadAttention from_config(const json& config);

  Tensor operator()(const Tensor& query, const Tensor& value, const MultiHeadAttentionCallOptions& options = {});
  // {output, attention scores (B, heads, T..., S...)}: Keras's return_attention_scores=True.
  std::pair<Tensor, Tensor> call_with_scores(const Tensor& query, const Tensor& value,
                                             const MultiHeadAttentionCallOptions& options = {});

  // Builds from the query and value (and key) shapes first: Layer::invoke alone sees the query.
  using Layer::invoke;
  std::vector<Tensor> invoke(const CallArgs& args) override;

  bool supports_masking() const override { return true; }
  Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) override;
  // [query, value] or [query, value, key] shapes -> the output shape.
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;
  // {"shapes_dict": {"query_shape", "value_shape"[, "key_shape"]}}, as Keras writes it.
  json get_build_config() const override;
  void build_from_config(const json& build_config) override;
  json get_config() const override;
  // query_dense, key_dense, value_dense, output_dense: Keras's groups in a weights file.
  std::vector<std::pair<std::string, std::shared_ptr<Layer>>> saved_sublayers() const override;

  const EinsumDense& query_dense() const;
  const EinsumDense& key_dense() const;
  const EinsumDense& value_dense() const;
  const EinsumDense& output_dense() const;
  const MultiHeadAttentionOptions& options() const { return options_; }
  int64_t value_dim() const { return options_.value_dim.value_or(options_.key_dim); }

 protected:
  // `input_shape` is the list [query, value] or [query, value, key].
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  struct Inputs {
    Tensor query, value, key;
    bool key_given = false;
  };
  Inputs inputs_of(const CallArgs& args) const;
  std::vector<Tensor> run_call(const Tensor& query, const Tensor& value, const MultiHeadAttentionCallOptions& options,
                               bool return_scores);

  MultiHeadAttentionOptions options_;
  struct State {
    std::optional<EinsumDense> query, key, value, output;
    std::vector<int64_t> attention_axes;  // resolved at build (Keras writes them in the config then)
    std::string dot_product_equation, combine_equation;
    bool key_shape_given = false;
  };
  Shared<State> state_;
};

}  // namespace minidl::layers
