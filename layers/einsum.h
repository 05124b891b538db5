#pragma once
// Two-operand einsum composed of differentiable ops (transpose, reshape, matmul, sum), the form
// EinsumDense and MultiHeadAttention use: the product runs as one (batched) matmul, so it is as
// fast as the matmul primitive, and its gradient is those ops' gradients (higher orders too).
//
//   md::Tensor y = md::layers::einsum("abc,cde->abde", x, kernel);
//   md::Tensor s = md::layers::einsum("aecd,abcd->acbe", key, query);
//
// Supported: explicit outputs ("->" required), letters a-z and A-Z, each letter at most once per
// operand, every output letter in an operand, and "..." in the first operand and the output
// (broadcast-free: it stands for the same leading or trailing axes of the first operand).
// Letters of one operand absent from the other and from the output are summed out first.
// Anything else fails with a ValueError naming the equation.
#include <string>

#include "minidl/core/tensor.h"

namespace minidl::layers {

Tensor einsum(const std::string& equation, const Tensor& a, const Tensor& b);

// The output shape einsum(equation, a, b) would have for operand shapes `a` and `b` (None dims
// allowed); ValueError as einsum for unsupported or inconsistent equations.
Shape einsum_output_shape(const std::string& equation, const Shape& a, const Shape& b);

}  // namespace minidl::layers
