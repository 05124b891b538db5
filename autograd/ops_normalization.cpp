// Batch normalization: the fused training form (batch statistics, oneDNN's forward and backward
// primitives, one OpDef) and Keras's ops.batch_normalization with given statistics, composed of
// differentiable ops exactly as Keras's JAX backend writes it.
#include <fmt/format.h>

#include <vector>

#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/core/compute.h"

namespace minidl::ops {
namespace {

struct FusedBatchNormAttrs {
  int64_t axis = -1;
  float epsilon = 1e-3f;
  // Where the batch statistics go, when the caller wants them (not an attribute: not written to
  // configs, and null when a graph replays the op).
  BatchStatistics* statistics = nullptr;
  static constexpr auto fields() {
    return std::tuple{op_attr("axis", &FusedBatchNormAttrs::axis), op_attr("epsilon", &FusedBatchNormAttrs::epsilon)};
  }
};

std::vector<int64_t> bn_reduction_axes(int64_t ndim, int64_t axis) {
  std::vector<int64_t> axes;
  for (int64_t i = 0; i < ndim; ++i) {
    if (i != axis) axes.push_back(i);
  }
  return axes;
}

// The channel vector v reshaped to broadcast along `axis` of a rank-`ndim` tensor.
Tensor bn_along(const Tensor& v, int64_t ndim, int64_t axis) {
  if (axis == ndim - 1) return v;
  Shape shape(static_cast<size_t>(ndim), 1);
  shape[static_cast<size_t>(axis)] = v.shape().at(0);
  return reshape(v, shape);
}

// The gradient of the fused op in differentiable ops, recomputing the statistics from x, for
// the tapes that differentiate it again (second order). Same formula as the primitive:
// dx = gamma rstd (G - mean(G) - xhat mean(G xhat)), dgamma = sum(G xhat), dbeta = sum(G).
std::vector<Tensor> bn_composed_gradient(const OpGrad& g, const Tensor& x, const Tensor& gamma, int64_t axis,
                                      float epsilon) {
  const int64_t ndim = x.ndim();
  const std::vector<int64_t> axes = bn_reduction_axes(ndim, axis);
  const Tensor& G = g.grad();
  const Tensor mean_x = mean(x, axes, true);
  const Tensor centred = subtract(x, mean_x);
  const Tensor rstd = power(add(mean(square(centred), axes, true), epsilon), -0.5f);
  const Tensor xhat = multiply(centred, rstd);
  const Tensor g_xhat = multiply(G, xhat);
  Tensor dx, dgamma, dbeta;
  if (g.needs(0)) {
    const Tensor inner = subtract(subtract(G, mean(G, axes, true)), multiply(xhat, mean(g_xhat, axes, true)));
    dx = multiply(multiply(bn_along(gamma, ndim, axis), rstd), inner);
  }
  if (g.needs(1)) dgamma = sum(g_xhat, axes);
  if (g.needs(2)) dbeta = sum(G, axes);
  return {dx, dgamma, dbeta};
}

constexpr OpDef<FusedBatchNormAttrs> kFusedBatchNorm{
    .name = "FusedBatchNormalization",
    .module = kNnModule,
    .spec = [](OpInputs x, const FusedBatchNormAttrs& a) {
      normalize_axis(a.axis, x[0].ndim());
      return Tensor::symbolic(x[0].shape(), DType::float32);
    },
    .forward = [](OpInputs x, const FusedBatchNormAttrs& a, OpSaved& saved) {
      if (x[0].dtype() != DType::float32) {
        throw TypeError(fmt::format("batch normalization needs a float32 input; received {}.",
                                    dtype_name(x[0].dtype())));
      }
      compute::BatchNormResult r = compute::batch_norm(x[0], x[1], x[2], a.axis, a.epsilon);
      saved.push_back(x[0]);
      saved.push_back(x[1]);
      saved.push_back(r.mean);
      saved.push_back(r.variance);
      if (a.statistics != nullptr) *a.statistics = {r.mean, r.variance};
      return r.y;
    },
    .backward = [](const OpGrad& g, const FusedBatchNormAttrs& a) {
      const Tensor &x = g.saved(0), &gamma = g.saved(1);
      const int64_t axis = normalize_axis(a.axis, x.ndim());
      // A tape watching these would differentiate the gradient: give it differentiable ops.
      if (autograd::should_record(x, gamma, g.grad())) return bn_composed_gradient(g, x, gamma, axis, a.epsilon);
      compute::BatchNormGrads d = compute::batch_norm_backward(x, g.saved(2), g.saved(3), g.grad(), gamma, axis,
                                                               a.epsilon);
      return std::vector<Tensor>{g.needs(0) ? d.dx : Tensor(), g.needs(1) ? d.dgamma : Tensor(),
                                 g.needs(2) ? d.dbeta : Tensor()};
    }};

}  // namespace

MINIDL_DEFINE_OP(kFusedBatchNorm);

Tensor fused_batch_normalization(const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t axis,
                                 float epsilon, BatchStatistics* statistics) {
  return apply(kFusedBatchNorm, {x, gamma, beta}, {.axis = axis, .epsilon = epsilon, .statistics = statistics});
}

Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance, int64_t axis,
                           const Tensor& offset, const Tensor& scale, float epsilon) {
  const int64_t ndim = x.ndim();
  const int64_t a = normalize_axis(axis, ndim);
  // Keras (JAX backend): inv = rsqrt(variance + epsilon) * scale; x * inv + (offset - mean * inv).
  Tensor inv = power(add(bn_along(variance, ndim, a), epsilon), -0.5f);
  if (scale.defined()) inv = multiply(inv, bn_along(scale, ndim, a));
  Tensor res = negative(multiply(bn_along(mean, ndim, a), inv));
  if (offset.defined()) res = add(res, bn_along(offset, ndim, a));
  return add(multiply(x, inv), res);
}

}  // namespace minidl::ops
