// AVX2 + FMA build of the recurrent cell row kernels (detail/recurrent_cell_kernels.h), under a
// target pragma as attention_kernels_avx2.cpp: the library stays baseline x86-64, recurrent.cpp
// calls these only after cpu_has_avx2_fma().
#include <immintrin.h>

#include <bit>
#include <cstdint>

#include "minidl/core/backend/detail/attention_row_kernels.h"  // the tanh coefficients, outside the namespace below
#include "minidl/core/backend/detail/recurrent_cell_kernels.h"

// clang (the fuzz preset) has no `#pragma GCC target`: it pushes the target attribute instead.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace minidl::backend::detail {
namespace {

#define MINIDL_ROW_MADD(a, b, c) __builtin_fmaf((a), (b), (c))

// The product's tile: 6 rows x one 16-column panel in 12 accumulators (with the panel's two
// vectors and a broadcast, 15 of the 16 registers), enough independent FMAs to cover their latency.
constexpr int kTileRows = 6;

// One row's sums (+ bias) into c: all 16 columns, or the first `cols` of them.
inline void store_tile_row(float* row, __m256 lo, __m256 hi, int64_t cols, bool accumulate, const float* bias) {
  if (cols == kPanelWidth) {
    if (bias) {
      lo = _mm256_add_ps(lo, _mm256_loadu_ps(bias));
      hi = _mm256_add_ps(hi, _mm256_loadu_ps(bias + 8));
    }
    if (accumulate) {
      lo = _mm256_add_ps(_mm256_loadu_ps(row), lo);
      hi = _mm256_add_ps(_mm256_loadu_ps(row + 8), hi);
    }
    _mm256_storeu_ps(row, lo);
    _mm256_storeu_ps(row + 8, hi);
    return;
  }
  alignas(32) float sums[kPanelWidth];
  _mm256_store_ps(sums, lo);
  _mm256_store_ps(sums + 8, hi);
  for (int64_t j = 0; j < cols; ++j) {
    const float sum = bias ? sums[j] + bias[j] : sums[j];
    row[j] = accumulate ? row[j] + sum : sum;
  }
}

// The accumulators are named variables, not arrays: GCC keeps an array of __m256 on the stack and
// stores it back at every k.
template <int Rows>
void panel_tile(int64_t cols, int64_t k, const float* a, int64_t lda, const float* panel, float* c, int64_t ldc,
                bool accumulate, const float* bias) {
  static_assert(Rows >= 1 && Rows <= kTileRows);
  [[maybe_unused]] __m256 lo0 = _mm256_setzero_ps(), hi0 = lo0, lo1 = lo0, hi1 = lo0, lo2 = lo0, hi2 = lo0,
                          lo3 = lo0, hi3 = lo0, lo4 = lo0, hi4 = lo0, lo5 = lo0, hi5 = lo0;
  for (int64_t kk = 0; kk < k; ++kk) {
    const __m256 b0 = _mm256_loadu_ps(panel + kk * kPanelWidth), b1 = _mm256_loadu_ps(panel + kk * kPanelWidth + 8);
#define MINIDL_TILE_ROW(r)                                            \
  if constexpr (Rows > r) {                                           \
    const __m256 av = _mm256_broadcast_ss(a + r * lda + kk);          \
    lo##r = _mm256_fmadd_ps(av, b0, lo##r);                           \
    hi##r = _mm256_fmadd_ps(av, b1, hi##r);                           \
  }
    MINIDL_TILE_ROW(0)
    MINIDL_TILE_ROW(1)
    MINIDL_TILE_ROW(2)
    MINIDL_TILE_ROW(3)
    MINIDL_TILE_ROW(4)
    MINIDL_TILE_ROW(5)
#undef MINIDL_TILE_ROW
  }
  store_tile_row(c, lo0, hi0, cols, accumulate, bias);
  if constexpr (Rows > 1) store_tile_row(c + ldc, lo1, hi1, cols, accumulate, bias);
  if constexpr (Rows > 2) store_tile_row(c + 2 * ldc, lo2, hi2, cols, accumulate, bias);
  if constexpr (Rows > 3) store_tile_row(c + 3 * ldc, lo3, hi3, cols, accumulate, bias);
  if constexpr (Rows > 4) store_tile_row(c + 4 * ldc, lo4, hi4, cols, accumulate, bias);
  if constexpr (Rows > 5) store_tile_row(c + 5 * ldc, lo5, hi5, cols, accumulate, bias);
}

#include "minidl/core/backend/detail/recurrent_cell_kernels.inc"
#undef MINIDL_ROW_MADD

}  // namespace

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const RecurrentCellKernels& avx2_recurrent_cell_kernels() { return kRecurrentCellKernels; }

}  // namespace minidl::backend::detail
