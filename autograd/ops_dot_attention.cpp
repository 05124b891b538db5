// Multi-head dot-product attention as one fused op (core/backend/dot_attention.cpp), its gradient
// rule beside it, and the composition from generic ops it is tested against (and falls back to
// for symbolic inputs and for higher-order gradients); the biased product of the projections;
// packed self-attention (one product for the three projections, attention on its packed rows).
#include <fmt/format.h>

#include <array>
#include <cmath>

#include "minidl/autograd/attention.h"
#include "minidl/autograd/op_def.h"
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

namespace {

// x^T dy over rows (x (rows, k), dy (rows, n)) for a weight gradient. x is transposed by a copy
// first: oneDNN 2.6's matmul on a transposed source runs 10-13% slower than on a dense one at
// the projections' shapes ((2048, 256)^T (2048, 768) and (2048, 128)^T (2048, 384), 1 and 2
// threads), more than the copy costs (0.15 ms of 5 at the larger).
Tensor weight_gradient(const Tensor& x_rows, const Tensor& dy_rows) { return matmul(transpose(x_rows), dy_rows); }

}  // namespace

Tensor matmul_bias(const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (symbolic::any(x, w, bias)) return add(matmul(x, w), bias);
  const Tensor y = compute::matmul_bias(x, w, bias);
  if (autograd::should_record(x, w, bias)) {
    autograd::record("matmul_bias", {x, w, bias}, {y}, {x, w}, [](const autograd::BackwardArgs& g) {
      const Tensor &x = g.saved[0], &w = g.saved[1];
      std::vector<Tensor> grads(3);
      if (!autograd::should_record(x, w, g.grads[0])) {
        // dx and dw side by side, the bias's as a row of dw's product (compute::packed_projection_backward).
        compute::PackedProjectionGrads r = compute::packed_projection_backward(
            x, {w}, g.grads[0], g.needs(0), g.needs(1), g.needs(2) ? std::vector<Shape>{g.input_shapes[2]} : std::vector<Shape>{});
        grads[0] = r.x;
        if (g.needs(1)) grads[1] = r.kernels[0];
        if (g.needs(2)) grads[2] = r.biases[0];
        return grads;
      }
      // Recorded by a tape (higher-order gradients): differentiable ops. Rows of every leading
      // axis: dx = dy w^T, dw = x^T dy and db = sum of dy's rows. dx as one 2-D product (a rank-3
      // dy against the 2-D w is a batched product with the weights broadcast, a slower oneDNN kernel).
      const Tensor dy_rows = reshape(g.grad(), {-1, g.grad().dim(-1)});
      if (g.needs(0)) grads[0] = reshape(matmul(dy_rows, w, false, true), x.shape());
      if (g.needs(1)) grads[1] = weight_gradient(reshape(x, {-1, x.dim(-1)}), dy_rows);
      if (g.needs(2)) grads[2] = sum(dy_rows, {0});
      return grads;
    });
  }
  return y;
}

// ---- packed self-attention ---------------------------------------------------------------------

namespace {

// inputs: x, then `parts` kernels, then `parts` biases or none.
struct PackedProjectionAttrs {
  int64_t parts = 0;
  static constexpr auto fields() { return std::tuple{op_attr("parts", &PackedProjectionAttrs::parts)}; }
};

// The kernels as (k, n_i) and side by side, with differentiable ops (the backward's dx operand).
Tensor packed_kernel(std::span<const Tensor> kernels) {
  std::vector<Tensor> flat;
  for (const Tensor& w : kernels) flat.push_back(reshape(w, {w.dim(0), -1}));
  return concatenate(flat, 1);
}

std::vector<Tensor> packed_projection_backward(const OpGrad& g, const PackedProjectionAttrs& a) {
  const auto parts = static_cast<size_t>(a.parts);
  const bool has_bias = g.input_count() == 1 + 2 * parts;
  const Tensor& x = g.saved(0);
  const std::vector<Tensor> kernels(g.args.saved.begin() + 1,
                                    g.args.saved.begin() + 1 + static_cast<std::ptrdiff_t>(parts));
  std::vector<Tensor> grads(g.input_count());
  bool kernel_wanted = false, bias_wanted = false;
  for (size_t i = 0; i < parts; ++i) {
    kernel_wanted = kernel_wanted || g.needs(1 + i);
    bias_wanted = bias_wanted || (has_bias && g.needs(1 + parts + i));
  }
  if (autograd::should_record(g.grad()) || autograd::should_record(g.args.saved)) {
    // A tape records this backward (higher-order gradients): differentiable ops, the kernels side
    // by side, one product for dx and one for every kernel's gradient, then split.
    const Tensor dy = reshape(g.grad(), {-1, g.grad().dim(-1)});
    if (g.needs(0)) grads[0] = reshape(matmul(dy, packed_kernel(kernels), false, true), g.shape(0));
    const Tensor dw = kernel_wanted ? weight_gradient(reshape(x, {-1, x.dim(-1)}), dy) : Tensor();
    const Tensor db = bias_wanted ? sum(dy, {0}) : Tensor();
    int64_t start = 0;
    for (size_t i = 0; i < parts; ++i) {
      const int64_t n = kernels[i].size() / kernels[i].dim(0);
      if (g.needs(1 + i)) grads[1 + i] = reshape(slice(dw, 1, start, start + n), g.shape(1 + i));
      if (has_bias && g.needs(1 + parts + i)) {
        grads[1 + parts + i] = reshape(slice(db, 0, start, start + n), g.shape(1 + parts + i));
      }
      start += n;
    }
    return grads;
  }
  // One product per kernel on its block of dy, in place (compute::packed_projection_backward).
  std::vector<Shape> bias_shapes;
  if (bias_wanted) {
    for (size_t i = 0; i < parts; ++i) bias_shapes.push_back(g.shape(1 + parts + i));
  }
  compute::PackedProjectionGrads r =
      compute::packed_projection_backward(x, kernels, g.grad(), g.needs(0), kernel_wanted, bias_shapes);
  grads[0] = r.x;
  for (size_t i = 0; i < parts; ++i) {
    if (g.needs(1 + i)) grads[1 + i] = r.kernels[i];
    if (has_bias && g.needs(1 + parts + i)) grads[1 + parts + i] = r.biases[i];
  }
  return grads;
}

// Concrete inputs only (packed_projection traces symbolic ones as separate products).
constexpr OpDef<PackedProjectionAttrs> kPackedProjection{
    .name = "PackedProjection",
    .module = "minidl.ops",
    .spec = nullptr,
    .forward = [](OpInputs x, const PackedProjectionAttrs& a, OpSaved& saved) {
      const auto parts = static_cast<size_t>(a.parts);
      const std::vector<Tensor> kernels(x.begin() + 1, x.begin() + 1 + static_cast<std::ptrdiff_t>(parts));
      saved.push_back(x[0]);
      for (const Tensor& w : kernels) saved.push_back(w);
      std::vector<Tensor> biases;
      if (x.size() == 1 + 2 * parts) biases.assign(x.begin() + 1 + static_cast<std::ptrdiff_t>(parts), x.end());
      return compute::packed_projection(x[0], kernels, biases);
    },
    .backward = packed_projection_backward};

// q, k and v of a packed qkv as rank-4 tensors, with differentiable slices.
std::array<Tensor, 3> unpack_qkv(const Tensor& qkv, const PackedHeads& h) {
  const int64_t width = h.heads * h.key_dim;
  const Shape q_shape = {-1, qkv.dim(1), h.heads, h.key_dim}, v_shape = {-1, qkv.dim(1), h.heads, h.value_dim};
  return {reshape(slice(qkv, 2, 0, width), q_shape), reshape(slice(qkv, 2, width, 2 * width), q_shape),
          reshape(slice(qkv, 2, 2 * width, std::nullopt), v_shape)};
}

compute::PackedAttention packed_problem(const Tensor& qkv, const PackedHeads& h, const DotProductAttentionOptions& o,
                                        const Tensor& dropout) {
  return {.qkv = qkv,
          .mask = o.mask,
          .dropout = dropout,
          .heads = h.heads,
          .key_dim = h.key_dim,
          .value_dim = h.value_dim,
          .scale = o.scale.value_or(static_cast<float>(1.0 / std::sqrt(static_cast<double>(h.key_dim)))),
          .causal = o.is_causal,
          .zero_masked = o.zero_masked_weights};
}

}  // namespace

Tensor packed_projection(const Tensor& x, const std::vector<Tensor>& kernels, const std::vector<Tensor>& biases) {
  if (kernels.empty() || kernels.size() > 3 || (!biases.empty() && biases.size() != kernels.size())) {
    throw ValueError(fmt::format("packed_projection takes 1 to 3 kernels and as many biases or none; received {} "
                                 "kernels and {} biases.",
                                 kernels.size(), biases.size()));
  }
  for (size_t i = 0; i < kernels.size(); ++i) {
    const Tensor& w = kernels[i];
    if (x.ndim() < 1 || w.ndim() < 2 || w.dim(0) != x.dim(-1) ||
        (!biases.empty() && biases[i].size() * w.dim(0) != w.size())) {
      throw ShapeError(fmt::format("packed_projection: x {} does not fit kernel {}{}.", shape_to_string(x.shape()),
                                   shape_to_string(w.shape()),
                                   biases.empty() ? "" : " and bias " + shape_to_string(biases[i].shape())));
    }
  }
  std::vector<Tensor> inputs = {x};
  inputs.insert(inputs.end(), kernels.begin(), kernels.end());
  inputs.insert(inputs.end(), biases.begin(), biases.end());
  if (symbolic::any(inputs)) {
    std::vector<Tensor> parts;
    for (size_t i = 0; i < kernels.size(); ++i) {
      Tensor y = matmul(x, reshape(kernels[i], {kernels[i].dim(0), -1}));
      if (!biases.empty()) y = add(y, reshape(biases[i], {-1}));
      parts.push_back(y);
    }
    return concatenate(parts, -1);
  }
  return apply(kPackedProjection, OpInputs(inputs), {.parts = static_cast<int64_t>(kernels.size())});
}

std::pair<Tensor, Tensor> packed_self_attention_reference(const Tensor& qkv, const PackedHeads& heads,
                                                          const DotProductAttentionOptions& options) {
  const auto [q, k, v] = unpack_qkv(qkv, heads);
  return dot_product_attention_reference(q, k, v, options);
}

std::pair<Tensor, Tensor> packed_self_attention(const Tensor& qkv, const PackedHeads& heads,
                                                const DotProductAttentionOptions& options) {
  if (!(options.dropout_rate >= 0.0f && options.dropout_rate < 1.0f)) {
    throw ValueError(fmt::format(
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate={}",
        options.dropout_rate));
  }
  if (qkv.ndim() != 3 || qkv.dim(2) != heads.heads * (2 * heads.key_dim + heads.value_dim)) {
    throw ShapeError(fmt::format("packed_self_attention needs qkv of shape (B, T, heads (2 key_dim + value_dim)) = "
                                 "(B, T, {}); received {}.",
                                 heads.heads * (2 * heads.key_dim + heads.value_dim), shape_to_string(qkv.shape())));
  }
  if (symbolic::any(qkv) || (options.mask.defined() && options.mask.is_symbolic())) {
    return packed_self_attention_reference(qkv, heads, options);
  }
  Tensor drop;
  if (options.dropout_rate > 0.0f) {
    // The multipliers dot_product_attention would draw: the same numbers on both paths.
    drop = random::dropout_mask({qkv.dim(0), heads.heads, qkv.dim(1), qkv.dim(1)}, options.dropout_rate,
                                options.dropout_seed);
  }
  const compute::DotAttentionResult r = compute::packed_attention(packed_problem(qkv, heads, options, drop));
  if (autograd::should_record(qkv)) {
    const bool weights_out = options.return_weights;
    std::vector<Tensor> outputs = {r.output};
    if (weights_out) outputs.push_back(r.weights);
    autograd::record(
        "packed_self_attention", {qkv}, outputs, {qkv, r.weights, drop, options.mask},
        [heads, options, weights_out](const autograd::BackwardArgs& g) -> std::vector<Tensor> {
          const Tensor &qkv = g.saved[0], &weights = g.saved[1], &drop = g.saved[2];
          const Tensor& d_out = g.grads[0];
          const Tensor d_weights = weights_out ? g.grads[1] : Tensor();
          DotProductAttentionOptions o = options;
          o.mask = g.saved[3];
          if (autograd::should_record(qkv, d_out, d_weights)) {
            // Higher-order gradients: differentiate the composition, whose every step is an op.
            GradientTape tape;
            tape.watch(qkv);
            auto [out, weights_ref] = packed_self_attention_reference(qkv, heads, o);
            Tensor seed = sum(multiply(out, d_out));
            if (d_weights.defined()) seed = add(seed, sum(multiply(weights_ref, d_weights)));
            return tape.gradient(seed, std::vector<Tensor>{qkv});
          }
          return {compute::packed_attention_backward(packed_problem(qkv, heads, o, drop), weights, d_out, d_weights)};
        });
  }
  return {r.output, r.weights};
}

}  // namespace minidl::ops
