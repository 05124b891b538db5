// Multi-head dot-product attention as one fused op (core/backend/dot_attention.cpp), its gradient
// rule beside it, and the composition from generic ops it is tested against (and falls back to
// for symbolic inputs and for higher-order gradients); the biased product of the projections.
#include <fmt/format.h>

#include <cmath>

#include "minidl/autograd/attention.h"
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/tape.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"
#include "minidl/core/random.h"

namespace minidl::ops {
namespace {

constexpr float kMaskedScore = -1e9f;  // Keras's constant for masked scores

void check_arguments(const Tensor& query, const Tensor& key, const Tensor& value, const DotProductAttentionOptions& o) {
  if (!(o.dropout_rate >= 0.0f && o.dropout_rate < 1.0f)) {
    throw ValueError(fmt::format(
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate={}",
        o.dropout_rate));
  }
  if (query.ndim() != 4 || key.ndim() != 4 || value.ndim() != 4) {
    throw ShapeError(
        fmt::format("dot_product_attention needs query, key and value of rank 4 (batch, length, heads, "
                    "depth); received {}, {} and {}.",
                    shape_to_string(query.shape()), shape_to_string(key.shape()), shape_to_string(value.shape())));
  }
}

float scale_of(const Tensor& query, const DotProductAttentionOptions& o) {
  return o.scale.value_or(static_cast<float>(1.0 / std::sqrt(static_cast<double>(query.dim(3)))));
}

// The keep-mask of the reference path: the mask as bool (rank 4, leading axes added), and-ed
// with the causal rule; undefined when nothing is masked.
Tensor keep_mask(const DotProductAttentionOptions& o, int64_t tq, int64_t tv) {
  Tensor keep;
  if (o.mask.defined()) {
    keep = o.mask.dtype() == DType::bool_ ? o.mask : not_equal(o.mask, Tensor::scalar(0.0f));
    while (keep.ndim() < 4) keep = expand_dims(keep, 0);
  }
  if (o.is_causal) {
    const Tensor causal = expand_dims(causal_mask(tq, tv), 0);
    keep = keep.defined() ? logical_and(keep, causal) : causal;
  }
  return keep;
}

compute::DotAttention problem(const Tensor& q, const Tensor& k, const Tensor& v, const DotProductAttentionOptions& o,
                              const Tensor& dropout) {
  return {.query = q,
          .key = k,
          .value = v,
          .mask = o.mask,
          .dropout = dropout,
          .scale = scale_of(q, o),
          .causal = o.is_causal,
          .zero_masked = o.zero_masked_weights};
}

}  // namespace

std::pair<Tensor, Tensor> dot_product_attention_reference(const Tensor& query, const Tensor& key, const Tensor& value,
                                                          const DotProductAttentionOptions& options) {
  check_arguments(query, key, value, options);
  const std::vector<int64_t> heads_first = {0, 2, 1, 3};
  const Tensor q = transpose(multiply(query, scale_of(query, options)), heads_first);
  Tensor scores = matmul(q, transpose(key, heads_first), false, true);  // (B, N, T, S)
  const Tensor keep = keep_mask(options, query.dim(1), key.dim(1));
  if (keep.defined()) scores = where(keep, scores, Tensor::scalar(kMaskedScore));
  Tensor weights = softmax(scores, -1);
  if (keep.defined() && options.zero_masked_weights) weights = where(keep, weights, Tensor::scalar(0.0f));
  const Tensor used = dropout(weights, options.dropout_rate, options.dropout_seed);
  const Tensor out = transpose(matmul(used, transpose(value, heads_first)), heads_first);
  return {out, weights};
}

std::pair<Tensor, Tensor> dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                                const DotProductAttentionOptions& options) {
  check_arguments(query, key, value, options);
  if (symbolic::any(query, key, value) || (options.mask.defined() && options.mask.is_symbolic())) {
    // Shapes only: traced graphs record the composition.
    return dot_product_attention_reference(query, key, value, options);
  }
  Tensor drop;
  if (options.dropout_rate > 0.0f) {
    // The multipliers ops::dropout would draw for the weights: the same numbers on both paths.
    drop = random::dropout_mask({query.dim(0), query.dim(2), query.dim(1), key.dim(1)}, options.dropout_rate,
                                options.dropout_seed);
  }
  const compute::DotAttentionResult r = compute::dot_attention(problem(query, key, value, options, drop));
  if (autograd::should_record(query, key, value)) {
    // The weights are an output of the record only when the caller asked for them, so that the
    // tape does not hand the rule a (B, N, T, S) block of zeros when nothing reached them.
    const bool weights_out = options.return_weights;
    std::vector<Tensor> outputs = {r.output};
    if (weights_out) outputs.push_back(r.weights);
    autograd::record(
        "dot_product_attention", {query, key, value}, outputs, {query, key, value, r.weights, drop, options.mask},
        [options, weights_out](const autograd::BackwardArgs& g) -> std::vector<Tensor> {
          const Tensor &query = g.saved[0], &key = g.saved[1], &value = g.saved[2];
          const Tensor &weights = g.saved[3], &drop = g.saved[4];
          const Tensor& d_out = g.grads[0];
          const Tensor d_weights = weights_out ? g.grads[1] : Tensor();
          DotProductAttentionOptions o = options;
          o.mask = g.saved[5];
          if (autograd::should_record(query, key, value, d_out, d_weights)) {
            // A tape is recording this backward pass (higher-order gradients): differentiate the
            // composition instead, whose every step is an op.
            GradientTape tape;
            for (const Tensor& t : {query, key, value}) tape.watch(t);
            auto [out, weights_ref] = dot_product_attention_reference(query, key, value, o);
            Tensor seed = sum(multiply(out, d_out));
            if (d_weights.defined()) seed = add(seed, sum(multiply(weights_ref, d_weights)));
            std::vector<Tensor> grads = tape.gradient(seed, std::vector<Tensor>{query, key, value});
            for (size_t i = 0; i < grads.size(); ++i) {
              if (!g.needs(i)) grads[i] = Tensor();
            }
            return grads;
          }
          const compute::DotAttentionGrads grads = compute::dot_attention_backward(
              problem(query, key, value, o, drop), weights, d_out, d_weights, g.needs(0), g.needs(1), g.needs(2));
          return {grads.query, grads.key, grads.value};
        });
  }
  return {r.output, r.weights};
}

Tensor matmul_bias(const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (symbolic::any(x, w, bias)) return add(matmul(x, w), bias);
  const Tensor y = compute::matmul_bias(x, w, bias);
  if (autograd::should_record(x, w, bias)) {
    autograd::record("matmul_bias", {x, w, bias}, {y}, {x, w}, [](const autograd::BackwardArgs& g) {
      const Tensor &x = g.saved[0], &w = g.saved[1];
      const Tensor& dy = g.grad();
      std::vector<Tensor> grads(3);
      if (g.needs(0)) grads[0] = matmul(dy, w, false, true);
      if (g.needs(1) || g.needs(2)) {
        // Rows of every leading axis: dw = x^T dy and db = sum of dy's rows.
        const Tensor dy_rows = reshape(dy, {-1, dy.dim(-1)});
        if (g.needs(1)) grads[1] = matmul(reshape(x, {-1, x.dim(-1)}), dy_rows, true, false);
        if (g.needs(2)) grads[2] = sum(dy_rows, {0});
      }
      return grads;
    });
  }
  return y;
}

}  // namespace minidl::ops
