// The reference path of additive attention, composed of generic ops exactly as Keras writes it
// (keras/src/layers/attention/{attention,additive_attention}.py).
#include <fmt/format.h>

#include "minidl/autograd/attention.h"
#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"

namespace minidl::ops {

Tensor causal_mask(int64_t tq, int64_t tv) {
  std::vector<float> keep(static_cast<size_t>(tq * tv));
  for (int64_t i = 0; i < tq; ++i) {
    for (int64_t j = 0; j < tv; ++j) keep[i * tv + j] = i >= j ? 1.0f : 0.0f;
  }
  return Tensor::from_vector(keep, {1, tq, tv}, DType::bool_);
}

Tensor score_keep_mask(const ScoreMasks& masks, int64_t tq, int64_t tv) {
  Tensor value_keep;
  if (masks.value_mask.defined()) value_keep = expand_dims(not_equal(masks.value_mask, Tensor::scalar(0.0f)), -2);
  if (!masks.causal) return value_keep;
  const Tensor causal = causal_mask(tq, tv);
  return value_keep.defined() ? logical_and(value_keep, causal) : causal;
}

std::pair<Tensor, Tensor> additive_attention_reference(const Tensor& query, const Tensor& key, const Tensor& value,
                                                       const Tensor& scale, const ScoreMasks& masks,
                                                       float dropout_rate, uint64_t dropout_seed) {
  // scores = sum(scale * tanh(q[..., :, None, :] + k[..., None, :, :]), -1)
  Tensor t = tanh(add(expand_dims(query, -2), expand_dims(key, -3)));
  if (scale.defined()) t = multiply(t, scale);
  Tensor scores = sum(t, {-1});
  const Tensor keep = score_keep_mask(masks, query.dim(-2), key.dim(-2));
  if (keep.defined()) scores = where(logical_not(keep), subtract(scores, 1.0e9f), scores);
  Tensor weights = softmax(scores, -1);
  if (dropout_rate > 0.0f) weights = dropout(weights, dropout_rate, dropout_seed);
  return {matmul(weights, value), weights};
}

}  // namespace minidl::ops
