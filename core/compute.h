#pragma once
// Tensor-level compute on concrete tensors: shape checks, output allocation, then the backend.
// These are not recorded for gradients; the differentiable md::ops (autograd/) call them.
//   md::Tensor c = md::compute::binary(md::backend::BinaryOp::add, a, b);   // broadcasting
//   md::Tensor s = md::compute::reduce(md::backend::ReduceOp::sum, c, {0}, /*keepdims=*/false);
#include <vector>

#include "minidl/core/backend/backend.h"
#include "minidl/core/tensor.h"

namespace minidl::compute {

using backend::BinaryOp;
using backend::EltwiseOp;
using backend::ReduceOp;

// a (op) b with NumPy broadcasting. Comparisons give bool tensors. Throws ShapeError naming
// both shapes when they do not broadcast.
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
// The dtype binary(op, a, b) gives: bool for comparisons, float32 for division and mixed
// dtypes, else the common dtype.
DType binary_result_dtype(BinaryOp op, DType a, DType b);

// a (op) scalar.
Tensor binary(BinaryOp op, const Tensor& a, float b);

Tensor eltwise(EltwiseOp op, const Tensor& x, float alpha = 0.0f, float beta = 0.0f);
// dx = dy * f'(x), from the forward input x or output y (see backend::eltwise_backward).
Tensor eltwise_backward(EltwiseOp op, const Tensor& x, const Tensor& y, const Tensor& dy, float alpha = 0.0f,
                        float beta = 0.0f);

Tensor softmax(const Tensor& x, int64_t axis, bool log = false);
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t axis, bool log = false);

// Reduces over `axes` (empty = all). keepdims leaves reduced axes as size 1.
Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);

// NumPy matmul: batched over leading dims (broadcast), 1-D operands promoted and squeezed.
// The transpose flags swap the last two axes of a (b) first, for free.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// The shape matmul(a, b) would have; throws ShapeError naming both shapes.
Shape matmul_shape(const Shape& a, const Shape& b, bool transpose_a = false, bool transpose_b = false);

// Axes permuted: result.shape[i] = x.shape[perm[i]]. An empty perm reverses the axes.
Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm = {});

Tensor broadcast_to(const Tensor& x, const Shape& shape);

// cond ? a : b elementwise with broadcasting.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

}  // namespace minidl::compute
