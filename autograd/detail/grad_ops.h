#pragma once
// Private to autograd/: the backward ops that gradient rules call. Each is itself a
// differentiable op (with its own rule), which is what makes second derivatives work.
#include "minidl/core/compute.h"
#include "minidl/core/tensor.h"

namespace minidl::ops::detail {

// dy * f'(s) for an eltwise op, where s is the forward input x or output y as
// compute::eltwise_backward_uses_output(op) says. One oneDNN backward primitive.
Tensor eltwise_grad(compute::EltwiseOp op, const Tensor& saved, const Tensor& dy, float alpha = 0.0f,
                    float beta = 0.0f);

// The input gradient of softmax (log_softmax when `log`) from its output y.
Tensor softmax_grad(const Tensor& y, const Tensor& dy, int64_t axis, bool log);

// A zero tensor of x's shape, with x's values placed at axis positions start + i * step:
// the adjoint of slice().
Tensor slice_grad(const Tensor& dy, const Shape& input_shape, int axis, int64_t start, int64_t step);

// A zero tensor of `input_shape` with dy's rows added at `indices` along `axis`: the adjoint of
// take(). `indices` are normalised (non-negative, in range).
Tensor take_grad(const Tensor& dy, const Tensor& indices, int axis, const Shape& input_shape);

// Same-dtype scalar constants that broadcast.
inline Tensor scalar(float v) { return Tensor::scalar(v); }

}  // namespace minidl::ops::detail
