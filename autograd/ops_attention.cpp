// The fused additive-attention op: forward and gradient rule side by side.
#include <fmt/format.h>

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

// The op works on 3-D views: leading dims fold into one batch dim.
struct Dims3 {
  int64_t batch, tq, tv, dim, value_dim;
  Shape lead;  // the original leading dims
};

Dims3 check_shapes(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& scale, const ScoreMasks& masks) {
  if (q.ndim() < 3 || k.ndim() < 3 || v.ndim() < 3) {
    throw ShapeError(fmt::format("additive_attention needs query, key and value of rank >= 3 (batch, time, features); "
                                 "received {}, {} and {}.",
                                 shape_to_string(q.shape()), shape_to_string(k.shape()), shape_to_string(v.shape())));
  }
  const Shape lead(q.shape().begin(), q.shape().end() - 2);
  if (Shape(k.shape().begin(), k.shape().end() - 2) != lead || Shape(v.shape().begin(), v.shape().end() - 2) != lead) {
    throw ShapeError(fmt::format("additive_attention: query {}, key {} and value {} must share their leading (batch) "
                                 "dimensions.",
                                 shape_to_string(q.shape()), shape_to_string(k.shape()), shape_to_string(v.shape())));
  }
  if (q.dim(-1) != k.dim(-1)) {
    throw ShapeError(fmt::format("additive_attention: query shape {} and key shape {} must have the same feature size "
                                 "(last dimension).",
                                 shape_to_string(q.shape()), shape_to_string(k.shape())));
  }
  if (k.dim(-2) != v.dim(-2)) {
    throw ShapeError(fmt::format("additive_attention: key shape {} and value shape {} must have the same length "
                                 "(second-to-last dimension).",
                                 shape_to_string(k.shape()), shape_to_string(v.shape())));
  }
  if (scale.defined() && scale.shape() != Shape{q.dim(-1)}) {
    throw ShapeError(fmt::format("additive_attention: scale shape {} must be ({},) for query shape {}.",
                                 shape_to_string(scale.shape()), q.dim(-1), shape_to_string(q.shape())));
  }
  Shape mask_shape = lead;
  mask_shape.push_back(k.dim(-2));
  if (masks.value_mask.defined() && masks.value_mask.shape() != mask_shape) {
    throw ShapeError(fmt::format("additive_attention: value mask shape {} must be {} for value shape {}.",
                                 shape_to_string(masks.value_mask.shape()), shape_to_string(mask_shape),
                                 shape_to_string(v.shape())));
  }
  int64_t batch = 1;
  for (int64_t d : lead) batch *= d;
  return {batch, q.dim(-2), k.dim(-2), q.dim(-1), v.dim(-1), lead};
}

Shape with_lead(const Shape& lead, std::initializer_list<int64_t> tail) {
  Shape s = lead;
  s.insert(s.end(), tail);
  return s;
}

compute::AdditiveScores problem(const Tensor& q, const Tensor& k, const Tensor& scale, const Tensor& value_mask,
                                bool causal) {
  return {.query = q, .key = k, .scale = scale, .value_mask = value_mask, .causal = causal};
}

}  // namespace

std::pair<Tensor, Tensor> additive_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                             const Tensor& scale, const ScoreMasks& masks, float dropout_rate,
                                             uint64_t dropout_seed) {
  if (!(dropout_rate >= 0.0f && dropout_rate < 1.0f)) {
    throw ValueError(fmt::format(
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate={}",
        dropout_rate));
  }
  const Dims3 d = check_shapes(query, key, value, scale, masks);
  if (symbolic::any(query, key, value) || (scale.defined() && scale.is_symbolic()) ||
      (masks.value_mask.defined() && masks.value_mask.is_symbolic())) {
    // Shapes only: the fused op has no Keras class, so traced graphs record it through its
    // reference composition.
    return additive_attention_reference(query, key, value, scale, masks, dropout_rate, dropout_seed);
  }
  const Tensor q = query.reshape({d.batch, d.tq, d.dim});
  const Tensor k = key.reshape({d.batch, d.tv, d.dim});
  const Tensor v = value.reshape({d.batch, d.tv, d.value_dim});
  const Tensor vmask = masks.value_mask.defined() ? masks.value_mask.reshape({d.batch, d.tv}) : Tensor();

  Tensor scores = compute::additive_scores(problem(q, k, scale, vmask, masks.causal));
  const Tensor weights = compute::softmax(scores, -1);
  scores = Tensor();  // free it early: peak memory stays O(B Tq Tv)
  Tensor drop_mask, used_weights = weights;
  if (dropout_rate > 0.0f) {
    drop_mask = random::dropout_mask(weights.shape(), dropout_rate, dropout_seed);
    used_weights = compute::binary(compute::BinaryOp::mul, weights, drop_mask);
  }
  Tensor out = compute::matmul(used_weights, v);
  out = out.reshape(with_lead(d.lead, {d.tq, d.value_dim}));
  Tensor weights_out = used_weights.reshape(with_lead(d.lead, {d.tq, d.tv}));

  if (autograd::should_record(query, key, value, scale)) {
    const bool causal = masks.causal;
    const Tensor original_vmask = masks.value_mask;
    autograd::record(
        "additive_attention", {query, key, value, scale}, {out, weights_out},
        {query, key, value, scale, weights, drop_mask, vmask, original_vmask},
        [d, causal, dropout_rate, dropout_seed](const autograd::BackwardArgs& g) -> std::vector<Tensor> {
          const Tensor &query = g.saved[0], &key = g.saved[1], &value = g.saved[2], &scale = g.saved[3];
          const Tensor &weights = g.saved[4], &drop_mask = g.saved[5], &vmask = g.saved[6];
          const ScoreMasks masks{.value_mask = g.saved[7], .causal = causal};
          const Tensor &d_out = g.grads[0], &d_weights_out = g.grads[1];
          if (autograd::should_record(query, key, value, scale, d_out, d_weights_out)) {
            // A tape is recording this backward pass (higher-order gradients): differentiate
            // the composed reference path instead, whose every step is an op.
            GradientTape tape;
            for (const Tensor& t : {query, key, value, scale}) tape.watch(t);
            auto [out, weights_ref] = additive_attention_reference(query, key, value, scale, masks, dropout_rate,
                                                                   dropout_seed);
            const Tensor seed = add(sum(multiply(out, d_out)), sum(multiply(weights_ref, d_weights_out)));
            std::vector<Tensor> grads = tape.gradient(seed, std::vector<Tensor>{query, key, value, scale});
            for (size_t i = 0; i < grads.size(); ++i) {
              if (!g.needs(i)) grads[i] = Tensor();
            }
            return grads;
          }
          const Tensor q = query.reshape({d.batch, d.tq, d.dim});
          const Tensor k = key.reshape({d.batch, d.tv, d.dim});
          const Tensor v = value.reshape({d.batch, d.tv, d.value_dim});
          const Tensor dout = d_out.reshape({d.batch, d.tq, d.value_dim});
          const Tensor used = drop_mask.defined() ? compute::binary(compute::BinaryOp::mul, weights, drop_mask) : weights;
          Tensor dv;
          if (g.needs(2)) dv = compute::matmul(used, dout, /*transpose_a=*/true).reshape(value.shape());
          Tensor dq, dk, dscale;
          if (g.needs(0) || g.needs(1) || g.needs(3)) {
            // d(weights used) = dout @ v^T (+ the gradient reaching the returned weights).
            Tensor d_used = compute::matmul(dout, v, false, /*transpose_b=*/true);
            d_used = compute::binary(compute::BinaryOp::add, d_used, d_weights_out.reshape({d.batch, d.tq, d.tv}));
            if (drop_mask.defined()) d_used = compute::binary(compute::BinaryOp::mul, d_used, drop_mask);
            const Tensor d_scores = compute::softmax_backward(weights, d_used, -1);
            if (g.needs(0)) dq = Tensor::empty(query.shape());
            if (g.needs(1)) dk = Tensor::empty(key.shape());
            if (g.needs(3) && scale.defined()) dscale = Tensor::empty(scale.shape());
            compute::additive_scores_backward(problem(q, k, scale, vmask, causal), d_scores, dq, dk, dscale);
          }
          return {dq, dk, dv, dscale};
        });
  }
  return {out, weights_out};
}

}  // namespace minidl::ops
