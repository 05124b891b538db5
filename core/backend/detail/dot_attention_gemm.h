#pragma once
// Private to core/backend: the small products of dot-product attention's AVX2 path
// (dot_attention.cpp), built for AVX2 + FMA in dot_attention_avx2.cpp.
//
// Why not oneDNN's sgemm: the attention's products are many small ones per (batch, head) with one
// side of 32 or so (the head depth), (T, 32) x (32, T) and (T, T) x (T, 32). Each dnnl_sgemm call
// packs both operands and picks its kernel again, and with K = 32 a C tile gets only 32
// multiply-adds per load and store; it ran them at about half of what the same core does on a
// large product. Here the caller packs each B operand once per (batch, head) task (O(T d) work
// against the O(T^2 d) products that reuse it), and one 6x16 register tile (12 accumulators,
// two FMA pipes with 5 cycles of latency need at least 10) reads A in place through any pair of
// strides, so transposed operands (P^T, dS^T) cost nothing either.
#include <cstdint>

#include "minidl/core/backend/detail/dot_attention_rows.h"

namespace minidl::backend::detail {

inline constexpr int64_t kAttentionPanel = 16;  // columns of one packed panel of B

// Floats pack_panels writes for a (k x n) B: n rounded up to whole panels, k rows each.
inline int64_t packed_panels_size(int64_t k, int64_t n) {
  return k * ((n + kAttentionPanel - 1) / kAttentionPanel * kAttentionPanel);
}

// B (k x n), element (kk, j) at b[kk * row_stride + j * col_stride], into panels of 16 columns:
// panel p holds rows 0..k of columns 16 p .. 16 p + 15 contiguously, zero beyond n.
using PackPanels = void (*)(int64_t k, int64_t n, const float* b, int64_t row_stride, int64_t col_stride,
                            float* packed);
// C (m x n, row stride ldc) = alpha A B, or C += alpha A B when `accumulate`. A element (i, kk) at
// a[i * a_row + kk * a_col]; B packed by pack_panels. One thread.
using PackedGemm = void (*)(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t a_row, int64_t a_col,
                            const float* packed_b, bool accumulate, float* c, int64_t ldc);

struct AttentionGemmKernels {
  PackPanels pack;
  PackedGemm gemm;
  // The softmax rows in AVX2 intrinsics (the generic loops' exp stays mostly scalar under GCC):
  // the same formulas and results within rounding.
  DotAttentionRowKernels rows;
};

// The AVX2 + FMA build; call it only when the CPU has both.
const AttentionGemmKernels& avx2_attention_gemm_kernels();

}  // namespace minidl::backend::detail
