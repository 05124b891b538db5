// AVX2 + FMA build of dot-product attention's small products (detail/dot_attention_gemm.h). The
// library is built for baseline x86-64; only the functions marked MINIDL_AVX2 use AVX2, they have
// internal linkage, and dot_attention.cpp calls them only on the avx2/avx512 kernel paths.
//
// The tile: 6 rows of A times one 16-column panel of packed B, 12 ymm accumulators. Per k step
// two panel loads, six broadcasts of A and twelve FMAs: the FMA pipes, not the loads, bound it.
// The panel (k x 16 floats: 16 KiB for k = 256) stays in L1 while the tiles walk down A.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "minidl/core/backend/detail/dot_attention_gemm.h"

#define MINIDL_AVX2 __attribute__((target("avx2,fma")))

namespace minidl::backend::detail {
namespace {

constexpr int64_t kRows = 6;  // rows of one register tile

// 8 x 8 block transpose: rows[r] holds (r, 0..7) on entry, (0..7, r) on return.
MINIDL_AVX2 inline void transpose8(__m256 rows[8]) {
  const __m256 t0 = _mm256_unpacklo_ps(rows[0], rows[1]), t1 = _mm256_unpackhi_ps(rows[0], rows[1]);
  const __m256 t2 = _mm256_unpacklo_ps(rows[2], rows[3]), t3 = _mm256_unpackhi_ps(rows[2], rows[3]);
  const __m256 t4 = _mm256_unpacklo_ps(rows[4], rows[5]), t5 = _mm256_unpackhi_ps(rows[4], rows[5]);
  const __m256 t6 = _mm256_unpacklo_ps(rows[6], rows[7]), t7 = _mm256_unpackhi_ps(rows[6], rows[7]);
  const __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xee);
  const __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xee);
  const __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xee);
  const __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xee);
  rows[0] = _mm256_permute2f128_ps(u0, u4, 0x20);
  rows[1] = _mm256_permute2f128_ps(u1, u5, 0x20);
  rows[2] = _mm256_permute2f128_ps(u2, u6, 0x20);
  rows[3] = _mm256_permute2f128_ps(u3, u7, 0x20);
  rows[4] = _mm256_permute2f128_ps(u0, u4, 0x31);
  rows[5] = _mm256_permute2f128_ps(u1, u5, 0x31);
  rows[6] = _mm256_permute2f128_ps(u2, u6, 0x31);
  rows[7] = _mm256_permute2f128_ps(u3, u7, 0x31);
}

MINIDL_AVX2 void pack_panels(int64_t k, int64_t n, const float* b, int64_t row_stride, int64_t col_stride,
                             float* packed) {
  for (int64_t j0 = 0; j0 < n; j0 += kAttentionPanel) {
    const int64_t width = std::min(kAttentionPanel, n - j0);
    float* panel = packed + j0 * k;
    if (col_stride == 1 && width == kAttentionPanel) {
      for (int64_t kk = 0; kk < k; ++kk) {
        const float* src = b + kk * row_stride + j0;
        _mm256_storeu_ps(panel + kk * kAttentionPanel, _mm256_loadu_ps(src));
        _mm256_storeu_ps(panel + kk * kAttentionPanel + 8, _mm256_loadu_ps(src + 8));
      }
      continue;
    }
    int64_t kk = 0;
    if (row_stride == 1 && width == kAttentionPanel) {
      // A transposed operand (K^T, V^T: column j of B is row j of K in memory): 8 x 8 blocks.
      for (; kk + 8 <= k; kk += 8) {
        for (int64_t half = 0; half < kAttentionPanel; half += 8) {
          __m256 block[8];
          for (int r = 0; r < 8; ++r) block[r] = _mm256_loadu_ps(b + kk + (j0 + half + r) * col_stride);
          transpose8(block);
          for (int c = 0; c < 8; ++c) _mm256_storeu_ps(panel + (kk + c) * kAttentionPanel + half, block[c]);
        }
      }
    }
    // The rest (rows past the last 8, other strides, the last and narrower panel): element by
    // element, zero-padded to the panel's width.
    for (; kk < k; ++kk) {
      float* dst = panel + kk * kAttentionPanel;
      for (int64_t j = 0; j < width; ++j) dst[j] = b[kk * row_stride + (j0 + j) * col_stride];
      for (int64_t j = width; j < kAttentionPanel; ++j) dst[j] = 0.0f;
    }
  }
}

// One tile: rows [0, R) of A (row pointers a[r], stepping a_col per k) times one panel; writes
// `width` (<= 16) columns of C.
template <int R>
MINIDL_AVX2 void tile(int64_t k, float alpha, const float* a, int64_t a_row, int64_t a_col, const float* panel,
                      bool accumulate, float* c, int64_t ldc, int64_t width) {
  __m256 lo[R], hi[R];
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  // Two row pointers, rows r and r + 3 at [base + r * a_row]: x86 addresses those with one index
  // register and scales 4 and 8, so the loop needs no pointer per row.
  const float* low = a;
  const float* high = a + 3 * a_row;
  for (int64_t kk = 0; kk < k; ++kk) {
    const __m256 b0 = _mm256_loadu_ps(panel), b1 = _mm256_loadu_ps(panel + 8);
    panel += kAttentionPanel;
#pragma GCC unroll 6
    for (int r = 0; r < R; ++r) {
      const __m256 x = _mm256_broadcast_ss(r < 3 ? low + r * a_row : high + (r - 3) * a_row);
      lo[r] = _mm256_fmadd_ps(x, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(x, b1, hi[r]);
    }
    low += a_col;
    high += a_col;
  }
  const __m256 scale = _mm256_set1_ps(alpha);
#pragma GCC unroll 6
  for (int r = 0; r < R; ++r) {
    float* out = c + r * ldc;
    __m256 v0 = _mm256_mul_ps(lo[r], scale), v1 = _mm256_mul_ps(hi[r], scale);
    if (width == kAttentionPanel) {
      if (accumulate) {
        v0 = _mm256_add_ps(v0, _mm256_loadu_ps(out));
        v1 = _mm256_add_ps(v1, _mm256_loadu_ps(out + 8));
      }
      _mm256_storeu_ps(out, v0);
      _mm256_storeu_ps(out + 8, v1);
    } else {
      alignas(32) float buffer[kAttentionPanel];
      _mm256_store_ps(buffer, v0);
      _mm256_store_ps(buffer + 8, v1);
      for (int64_t j = 0; j < width; ++j) out[j] = accumulate ? out[j] + buffer[j] : buffer[j];
    }
  }
}

// Row tiles outside, panels inside: a tile's rows of A (6 x k) stay in L1 while every panel
// streams past, whatever A's strides (Q's rows are heads x depth x 3 floats apart in a packed
// projection, which maps a block of them onto a few L1 sets); the panels (k x n, 32 KiB for the
// attention's operands) stream from L1 or L2 in order.
template <int R>
MINIDL_AVX2 void tile_row(int64_t n, int64_t k, float alpha, const float* a, int64_t a_row, int64_t a_col,
                          const float* packed_b, bool accumulate, float* c, int64_t ldc) {
  for (int64_t j0 = 0; j0 < n; j0 += kAttentionPanel) {
    tile<R>(k, alpha, a, a_row, a_col, packed_b + j0 * k, accumulate, c + j0, ldc, std::min(kAttentionPanel, n - j0));
  }
}

// tile_row for a given number of rows: full tiles, then the last 1-5 rows.
using TileRow = void (*)(int64_t n, int64_t k, float alpha, const float* a, int64_t a_row, int64_t a_col,
                         const float* packed_b, bool accumulate, float* c, int64_t ldc);
constexpr TileRow kTileRows[kRows + 1] = {nullptr,     tile_row<1>, tile_row<2>, tile_row<3>,
                                          tile_row<4>, tile_row<5>, tile_row<6>};

MINIDL_AVX2 void packed_gemm(int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t a_row, int64_t a_col,
                             const float* packed_b, bool accumulate, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; i += kRows) {
    kTileRows[std::min(kRows, m - i)](n, k, alpha, a + i * a_row, a_row, a_col, packed_b, accumulate, c + i * ldc, ldc);
  }
}

// exp(x) for x in [-inf, 0] (a score minus its finite row maximum, no NaN: the row's common case),
// 8 lanes: the formula of detail/dot_attention_rows_generic.inc (exp(x) = 2^n p(r), the same
// two-part ln 2 and degree-6 polynomial, exactly 0 below kExpUnderflow), which GCC leaves mostly
// scalar there.
MINIDL_AVX2 inline __m256 exp_lanes_finite(__m256 x) {
  const __m256 underflow = _mm256_cmp_ps(x, _mm256_set1_ps(kExpUnderflow), _CMP_LT_OQ);
  const __m256 xc = _mm256_max_ps(x, _mm256_set1_ps(kExpUnderflow));
  const __m256 round = _mm256_set1_ps(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const __m256 shifted = _mm256_fmadd_ps(xc, _mm256_set1_ps(1.44269504088896341f), round);
  const __m256i n = _mm256_sub_epi32(_mm256_castps_si256(shifted), _mm256_castps_si256(round));
  const __m256 nf = _mm256_sub_ps(shifted, round);
  __m256 r = _mm256_fmadd_ps(nf, _mm256_set1_ps(-0.693359375f), xc);
  r = _mm256_fmadd_ps(nf, _mm256_set1_ps(2.12194440e-4f), r);
  // Estrin's scheme: (1 + r) + r^2 (1/2 + r/6) + r^4 (1/24 + r/120 + r^2/720), three FMAs deep
  // instead of Horner's six. The loop is bound by this chain's latency (the FP scheduler holds
  // about two iterations), not by the FMA pipes.
  const __m256 r2 = _mm256_mul_ps(r, r);
  const __m256 r4 = _mm256_mul_ps(r2, r2);
  const __m256 low = _mm256_add_ps(r, _mm256_set1_ps(1.0f));
  const __m256 mid = _mm256_fmadd_ps(r, _mm256_set1_ps(1.0f / 6.0f), _mm256_set1_ps(0.5f));
  const __m256 high = _mm256_fmadd_ps(r2, _mm256_set1_ps(1.0f / 720.0f),
                                      _mm256_fmadd_ps(r, _mm256_set1_ps(1.0f / 120.0f), _mm256_set1_ps(1.0f / 24.0f)));
  const __m256 p = _mm256_fmadd_ps(r4, high, _mm256_fmadd_ps(r2, mid, low));
  const __m256 scaled = _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), _mm256_slli_epi32(n, 23)));
  return _mm256_andnot_ps(underflow, scaled);
}

// The same for any x <= 0 or NaN: NaN lanes are kept.
MINIDL_AVX2 inline __m256 exp_lanes(__m256 x) {
  return _mm256_blendv_ps(exp_lanes_finite(x), x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// Lanes [0, count) of a tail: all-ones where loaded.
MINIDL_AVX2 inline __m256i tail_mask(int64_t count) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(count)), lanes);
}

MINIDL_AVX2 float horizontal_max(__m256 v) {
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

MINIDL_AVX2 float horizontal_sum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// The row's softmax in place, as softmax_row of dot_attention_rows.h, with exp_lanes's NaN and
// infinity handling. A NaN score makes the whole row NaN (through the maximum or the sum), as there.
MINIDL_AVX2 void softmax_row_checked(float* row, int64_t n) {
  const int64_t full = n / 8 * 8;
  const __m256i tail = tail_mask(n - full);
  const __m256 lowest = _mm256_set1_ps(-__builtin_inff());
  __m256 m = lowest;
  for (int64_t j = 0; j < full; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(row + j));
  if (full < n)
    m = _mm256_max_ps(m, _mm256_blendv_ps(lowest, _mm256_maskload_ps(row + full, tail), _mm256_castsi256_ps(tail)));
  const __m256 max = _mm256_set1_ps(horizontal_max(m));
  __m256 sum = _mm256_setzero_ps();
  for (int64_t j = 0; j < full; j += 8) {
    const __m256 e = exp_lanes(_mm256_sub_ps(_mm256_loadu_ps(row + j), max));
    _mm256_storeu_ps(row + j, e);
    sum = _mm256_add_ps(sum, e);
  }
  if (full < n) {
    const __m256 e =
        _mm256_and_ps(exp_lanes(_mm256_sub_ps(_mm256_maskload_ps(row + full, tail), max)), _mm256_castsi256_ps(tail));
    _mm256_maskstore_ps(row + full, tail, e);
    sum = _mm256_add_ps(sum, e);
  }
  const __m256 inverse = _mm256_set1_ps(1.0f / horizontal_sum(sum));
  for (int64_t j = 0; j < full; j += 8) _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inverse));
  if (full < n) _mm256_maskstore_ps(row + full, tail, _mm256_mul_ps(_mm256_maskload_ps(row + full, tail), inverse));
}


// The row's softmax in place. The maximum runs in four independent chains and also flags NaN
// scores; a row with a NaN or an infinite maximum goes through softmax_row_checked (the same
// results as before this fast path), every other row through exp_lanes_finite, four vectors per
// step (each exp is one long dependency chain; four in flight keep the FP pipes fed).
MINIDL_AVX2 void softmax_row(float* row, int64_t n) {
  const int64_t full = n / 8 * 8;
  const __m256i tail = tail_mask(n - full);
  const __m256 lowest = _mm256_set1_ps(-__builtin_inff());
  __m256 m0 = lowest, m1 = lowest, m2 = lowest, m3 = lowest;
  __m256 nan0 = _mm256_setzero_ps(), nan1 = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= full; j += 32) {
    const __m256 x0 = _mm256_loadu_ps(row + j), x1 = _mm256_loadu_ps(row + j + 8);
    const __m256 x2 = _mm256_loadu_ps(row + j + 16), x3 = _mm256_loadu_ps(row + j + 24);
    m0 = _mm256_max_ps(m0, x0);
    m1 = _mm256_max_ps(m1, x1);
    m2 = _mm256_max_ps(m2, x2);
    m3 = _mm256_max_ps(m3, x3);
    nan0 = _mm256_or_ps(nan0, _mm256_or_ps(_mm256_cmp_ps(x0, x1, _CMP_UNORD_Q), _mm256_cmp_ps(x2, x3, _CMP_UNORD_Q)));
  }
  for (; j < full; j += 8) {
    const __m256 x = _mm256_loadu_ps(row + j);
    m0 = _mm256_max_ps(m0, x);
    nan1 = _mm256_or_ps(nan1, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
  }
  if (full < n) {
    const __m256 x = _mm256_blendv_ps(lowest, _mm256_maskload_ps(row + full, tail), _mm256_castsi256_ps(tail));
    m1 = _mm256_max_ps(m1, x);
    nan1 = _mm256_or_ps(nan1, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
  }
  const float row_max = horizontal_max(_mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
  const bool finite = row_max > -__builtin_inff() && row_max < __builtin_inff();
  if (!finite || _mm256_movemask_ps(_mm256_or_ps(nan0, nan1)) != 0) return softmax_row_checked(row, n);
  const __m256 max = _mm256_set1_ps(row_max);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  j = 0;
  for (; j + 32 <= full; j += 32) {
    const __m256 e0 = exp_lanes_finite(_mm256_sub_ps(_mm256_loadu_ps(row + j), max));
    const __m256 e1 = exp_lanes_finite(_mm256_sub_ps(_mm256_loadu_ps(row + j + 8), max));
    const __m256 e2 = exp_lanes_finite(_mm256_sub_ps(_mm256_loadu_ps(row + j + 16), max));
    const __m256 e3 = exp_lanes_finite(_mm256_sub_ps(_mm256_loadu_ps(row + j + 24), max));
    _mm256_storeu_ps(row + j, e0);
    _mm256_storeu_ps(row + j + 8, e1);
    _mm256_storeu_ps(row + j + 16, e2);
    _mm256_storeu_ps(row + j + 24, e3);
    s0 = _mm256_add_ps(s0, e0);
    s1 = _mm256_add_ps(s1, e1);
    s2 = _mm256_add_ps(s2, e2);
    s3 = _mm256_add_ps(s3, e3);
  }
  for (; j < full; j += 8) {
    const __m256 e = exp_lanes_finite(_mm256_sub_ps(_mm256_loadu_ps(row + j), max));
    _mm256_storeu_ps(row + j, e);
    s0 = _mm256_add_ps(s0, e);
  }
  if (full < n) {
    const __m256 e = _mm256_and_ps(exp_lanes_finite(_mm256_sub_ps(_mm256_maskload_ps(row + full, tail), max)),
                                   _mm256_castsi256_ps(tail));
    _mm256_maskstore_ps(row + full, tail, e);
    s1 = _mm256_add_ps(s1, e);
  }
  const __m256 inverse =
      _mm256_set1_ps(1.0f / horizontal_sum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3))));
  j = 0;
  for (; j + 16 <= full; j += 16) {
    _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inverse));
    _mm256_storeu_ps(row + j + 8, _mm256_mul_ps(_mm256_loadu_ps(row + j + 8), inverse));
  }
  for (; j < full; j += 8) _mm256_storeu_ps(row + j, _mm256_mul_ps(_mm256_loadu_ps(row + j), inverse));
  if (full < n) _mm256_maskstore_ps(row + full, tail, _mm256_mul_ps(_mm256_maskload_ps(row + full, tail), inverse));
}

// g = p (g - sum_k p_k g_k) in place, as softmax_backward_row of dot_attention_rows.h.
MINIDL_AVX2 void softmax_backward_row(const float* p, float* g, int64_t n) {
  const int64_t full = n / 8 * 8;
  const __m256i tail = tail_mask(n - full);
  // Four independent chains for the dot: one chain of FMAs waits on its latency at every step.
  __m256 dot0 = _mm256_setzero_ps(), dot1 = _mm256_setzero_ps(), dot2 = _mm256_setzero_ps(), dot3 = _mm256_setzero_ps();
  int64_t j = 0;
  for (; j + 32 <= full; j += 32) {
    dot0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j), _mm256_loadu_ps(g + j), dot0);
    dot1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j + 8), _mm256_loadu_ps(g + j + 8), dot1);
    dot2 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j + 16), _mm256_loadu_ps(g + j + 16), dot2);
    dot3 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j + 24), _mm256_loadu_ps(g + j + 24), dot3);
  }
  for (; j < full; j += 8) dot0 = _mm256_fmadd_ps(_mm256_loadu_ps(p + j), _mm256_loadu_ps(g + j), dot0);
  if (full < n) dot1 = _mm256_fmadd_ps(_mm256_maskload_ps(p + full, tail), _mm256_maskload_ps(g + full, tail), dot1);
  const __m256 d = _mm256_set1_ps(horizontal_sum(_mm256_add_ps(_mm256_add_ps(dot0, dot1), _mm256_add_ps(dot2, dot3))));
  for (int64_t j = 0; j < full; j += 8) {
    _mm256_storeu_ps(g + j, _mm256_mul_ps(_mm256_loadu_ps(p + j), _mm256_sub_ps(_mm256_loadu_ps(g + j), d)));
  }
  if (full < n) {
    const __m256 pt = _mm256_maskload_ps(p + full, tail), gt = _mm256_maskload_ps(g + full, tail);
    _mm256_maskstore_ps(g + full, tail, _mm256_mul_ps(pt, _mm256_sub_ps(gt, d)));
  }
}

constexpr AttentionGemmKernels kKernels{pack_panels, packed_gemm, {softmax_row, softmax_backward_row}};

}  // namespace

const AttentionGemmKernels& avx2_attention_gemm_kernels() { return kKernels; }

}  // namespace minidl::backend::detail
