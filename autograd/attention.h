#pragma once
// Additive (Bahdanau-style, Keras's AdditiveAttention) attention as one differentiable op.
//
//   auto [out, weights] = md::ops::additive_attention(q, k, v, scale, {.value_mask = vm, .causal = true});
//
// For queries (..., Tq, D), keys (..., Tv, D) and values (..., Tv, Dv):
//   scores[i, j]  = sum_d scale[d] * tanh(q[i, d] + k[j, d])
//   scores[i, j] -= 1e9 where value_mask[j] is false or (causal and j > i)   (Keras's constant)
//   weights       = softmax(scores) over j, then inverted dropout when rate > 0
//   out           = weights @ v
// Extra leading dims (rank > 3) are batch dims. A fully masked row gives uniform weights, as in
// Keras (scores - 1e9 rounds to the same float32 for every key).
//
// The fused op never materialises the (..., Tq, Tv, D) tensor: a fused kernel computes the
// scores and, in the backward pass, recomputes tanh to give the query, key and scale gradients.
// Softmax and the three matrix products run on oneDNN. Its gradient rule is recorded like any
// other op's. A second derivative (a tape recording the backward pass) falls back to
// additive_attention_reference, which is built from generic differentiable ops.
#include <cstdint>
#include <utility>

#include "minidl/core/tensor.h"

namespace minidl::ops {

struct ScoreMasks {
  Tensor value_mask{};  // (..., Tv), non-zero = attend; undefined = every key
  bool causal = false;  // query i sees keys j <= i (top-left anchored, Tq != Tv allowed)
};

// Returns {output (..., Tq, Dv), weights (..., Tq, Tv)}; `scale` is (D,) or undefined (= 1).
// The weights are post-dropout, as Keras returns them.
std::pair<Tensor, Tensor> additive_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                             const Tensor& scale, const ScoreMasks& masks = {},
                                             float dropout_rate = 0.0f, uint64_t dropout_seed = 0);

// The same computation from generic ops (add, tanh, multiply, sum, where, softmax, dropout,
// matmul), materialising (..., Tq, Tv, D): the reference the fused op is tested against.
std::pair<Tensor, Tensor> additive_attention_reference(const Tensor& query, const Tensor& key, const Tensor& value,
                                                       const Tensor& scale, const ScoreMasks& masks = {},
                                                       float dropout_rate = 0.0f, uint64_t dropout_seed = 0);

// The (1, Tq, Tv) causal keep-mask (Keras's cumsum construction: row >= col), bool.
Tensor causal_mask(int64_t tq, int64_t tv);

// keep[..., i, j] = value_mask[..., j] and (not causal or i >= j), or undefined when nothing is
// masked; shaped to broadcast against (..., Tq, Tv).
Tensor score_keep_mask(const ScoreMasks& masks, int64_t tq, int64_t tv);

}  // namespace minidl::ops
