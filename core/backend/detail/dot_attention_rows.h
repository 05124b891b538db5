#pragma once
// Private to core/backend: the row kernels of dot-product attention (dot_attention.cpp), the
// plain loops of dot_attention_rows_generic.inc built twice, beside the additive-attention row
// kernels: for AVX2 + FMA in attention_kernels_avx2.cpp and for baseline x86-64 in
// attention_kernels_portable.cpp.
//
// The softmax evaluates exp with our own polynomial (no libm call, so the loops vectorise): exp(x)
// = 2^n p(r), n = round(x / ln 2), r = x - n ln 2 (two-part ln 2), p the degree-6 Taylor
// polynomial, |r| <= ln(2) / 2: relative error below 2e-7 (the tests check the softmax against
// oneDNN's within 1e-6). Below kExpUnderflow the result is exactly 0, as exp(-1e9) is in float32, so
// masked scores (-1e9) get exactly zero weight; NaN stays NaN.
#include <cstdint>

namespace minidl::backend::detail {

inline constexpr float kExpUnderflow = -87.0f;  // exp(-87) = 1.6e-38, still a normal float
inline constexpr float kExpOverflow = 88.0f;

// row[0..n) = softmax(row[0..n)), in place. n >= 1.
using SoftmaxRow = void (*)(float* row, int64_t n);
// g[j] = p[j] * (g[j] - sum_k p[k] g[k]) over [0, n): the softmax's backward, in place on g.
using SoftmaxBackwardRow = void (*)(const float* p, float* g, int64_t n);

struct DotAttentionRowKernels {
  SoftmaxRow softmax_row;
  SoftmaxBackwardRow softmax_backward_row;
};

// The AVX2 + FMA build; call it only when the CPU has both.
const DotAttentionRowKernels& avx2_dot_attention_row_kernels();
const DotAttentionRowKernels& portable_dot_attention_row_kernels();
// The blocked path's rows in AVX-512 intrinsics (dot_attention_avx512.cpp); call it only when the
// CPU has AVX-512 F/DQ/BW/VL (the avx512 kernel path).
const DotAttentionRowKernels& avx512_dot_attention_softmax_rows();

}  // namespace minidl::backend::detail
