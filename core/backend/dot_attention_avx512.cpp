// AVX-512 build of dot-product attention's softmax rows (detail/dot_attention_rows.h), for the
// blocked path on the avx512 kernel path (dot_attention.cpp). The library is built for baseline
// x86-64; only the functions marked MINIDL_AVX512 use AVX-512, they have internal linkage, and
// dot_attention.cpp calls them only on the avx512 kernel path (checked by attention_kernels.cpp).
//
// Why a second build of rows the AVX2 file already has: the softmax's exp is one long chain of
// dependent FP operations per vector, and on the AVX2 build the FP scheduler holds about two
// iterations of the row loop, so the row waited on that chain's latency (~14 cycles per 8
// floats at (8, 256, 256, 8)). A 512-bit operation does 16 lanes in one scheduler entry (on
// double-pumped cores too), which doubles how much of the row is in flight, and AVX-512 computes
// p 2^n in one vscalefps and the underflow in a mask register instead of three vector operations.
// Same formulas as dot_attention_avx2.cpp (the exp's range reduction and Estrin polynomial), so the
// same results up to the rounding of the scaling (exact here: p 2^n is a normal float for every
// kept lane).

// GCC 12's AVX-512 headers build _mm*_undefined_* from a self-initialised variable, which
// -Wmaybe-uninitialized and -Wuninitialized (here: _mm512_max_ps, the 256-bit extracts) report
// once the intrinsics are inlined at -O3 (GCC bug 105593). This file is its own translation unit
// (CMakeLists.txt), so these pragmas precede the header's first inclusion.
#pragma GCC diagnostic push
#if !defined(__clang__)  // clang has no such warning (and would warn about the unknown option)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

#include "minidl/core/backend/detail/dot_attention_gemm.h"
#include "minidl/core/backend/detail/dot_attention_rows.h"

#define MINIDL_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

namespace minidl::backend::detail {
namespace {

// Lanes [0, count) of a 16-lane tail.
inline __mmask16 tail_lanes16(int64_t count) { return static_cast<__mmask16>((1u << count) - 1u); }

// The maximum and the sum of a vector's 16 lanes (not _mm512_reduce_*: GCC 12's expansion of
// those reads undefined vectors and trips -Wuninitialized).
MINIDL_AVX512 inline float max16(__m512 v) {
  const __m256 m8 = _mm256_max_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}

MINIDL_AVX512 inline float sum16(__m512 v) {
  const __m256 s8 = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(s8), _mm256_extractf128_ps(s8, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// exp(x) for x in [-inf, 0] without NaN (a score minus its finite row maximum), 16 lanes: exactly
// 0 below kExpUnderflow (the lanes outside `kept`), else 2^n p(r) as in dot_attention_avx2.cpp.
// Lanes below the underflow (-1e9, -inf) may compute NaN or infinities on the way; the zeroing
// scale drops them.
MINIDL_AVX512 inline __m512 exp16_finite(__m512 x) {
  const __mmask16 kept = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kExpUnderflow), _CMP_NLT_UQ);
  const __m512 round = _mm512_set1_ps(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  const __m512 nf = _mm512_sub_ps(_mm512_fmadd_ps(x, _mm512_set1_ps(1.44269504088896341f), round), round);
  __m512 r = _mm512_fmadd_ps(nf, _mm512_set1_ps(-0.693359375f), x);
  r = _mm512_fmadd_ps(nf, _mm512_set1_ps(2.12194440e-4f), r);
  // Estrin's scheme: (1 + r) + r^2 (1/2 + r/6) + r^4 (1/24 + r/120 + r^2/720).
  const __m512 r2 = _mm512_mul_ps(r, r);
  const __m512 r4 = _mm512_mul_ps(r2, r2);
  const __m512 low = _mm512_add_ps(r, _mm512_set1_ps(1.0f));
  const __m512 mid = _mm512_fmadd_ps(r, _mm512_set1_ps(1.0f / 6.0f), _mm512_set1_ps(0.5f));
  const __m512 high = _mm512_fmadd_ps(r2, _mm512_set1_ps(1.0f / 720.0f),
                                      _mm512_fmadd_ps(r, _mm512_set1_ps(1.0f / 120.0f), _mm512_set1_ps(1.0f / 24.0f)));
  const __m512 p = _mm512_fmadd_ps(r4, high, _mm512_fmadd_ps(r2, mid, low));
  return _mm512_maskz_scalef_ps(kept, p, nf);
}

// The row's softmax in place. A row with a NaN score or an infinite maximum goes to the AVX2
// build's row (its checked loop: the whole row NaN, as the generic loops), every other row
// through exp16_finite, four vectors per step.
MINIDL_AVX512 void softmax_row16(float* row, int64_t n) {
  const int64_t full = n / 16 * 16;
  const __mmask16 tail = tail_lanes16(n - full);
  const __m512 lowest = _mm512_set1_ps(-__builtin_inff());
  __m512 m0 = lowest, m1 = lowest, m2 = lowest, m3 = lowest;
  __mmask16 nan = 0;
  int64_t j = 0;
  for (; j + 64 <= full; j += 64) {
    const __m512 x0 = _mm512_loadu_ps(row + j), x1 = _mm512_loadu_ps(row + j + 16);
    const __m512 x2 = _mm512_loadu_ps(row + j + 32), x3 = _mm512_loadu_ps(row + j + 48);
    m0 = _mm512_max_ps(m0, x0);
    m1 = _mm512_max_ps(m1, x1);
    m2 = _mm512_max_ps(m2, x2);
    m3 = _mm512_max_ps(m3, x3);
    nan |= _mm512_cmp_ps_mask(x0, x1, _CMP_UNORD_Q) | _mm512_cmp_ps_mask(x2, x3, _CMP_UNORD_Q);
  }
  for (; j < full; j += 16) {
    const __m512 x = _mm512_loadu_ps(row + j);
    m0 = _mm512_max_ps(m0, x);
    nan |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  }
  if (full < n) {
    const __m512 x = _mm512_mask_loadu_ps(lowest, tail, row + full);
    m1 = _mm512_max_ps(m1, x);
    nan |= _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  }
  const float row_max = max16(_mm512_max_ps(_mm512_max_ps(m0, m1), _mm512_max_ps(m2, m3)));
  const bool finite = row_max > -__builtin_inff() && row_max < __builtin_inff();
  if (!finite || nan != 0) return avx2_attention_gemm_kernels().rows.softmax_row(row, n);
  const __m512 max = _mm512_set1_ps(row_max);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  j = 0;
  for (; j + 64 <= full; j += 64) {
    const __m512 e0 = exp16_finite(_mm512_sub_ps(_mm512_loadu_ps(row + j), max));
    const __m512 e1 = exp16_finite(_mm512_sub_ps(_mm512_loadu_ps(row + j + 16), max));
    const __m512 e2 = exp16_finite(_mm512_sub_ps(_mm512_loadu_ps(row + j + 32), max));
    const __m512 e3 = exp16_finite(_mm512_sub_ps(_mm512_loadu_ps(row + j + 48), max));
    _mm512_storeu_ps(row + j, e0);
    _mm512_storeu_ps(row + j + 16, e1);
    _mm512_storeu_ps(row + j + 32, e2);
    _mm512_storeu_ps(row + j + 48, e3);
    s0 = _mm512_add_ps(s0, e0);
    s1 = _mm512_add_ps(s1, e1);
    s2 = _mm512_add_ps(s2, e2);
    s3 = _mm512_add_ps(s3, e3);
  }
  for (; j < full; j += 16) {
    const __m512 e = exp16_finite(_mm512_sub_ps(_mm512_loadu_ps(row + j), max));
    _mm512_storeu_ps(row + j, e);
    s0 = _mm512_add_ps(s0, e);
  }
  if (full < n) {
    const __m512 e = exp16_finite(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, row + full), max));
    _mm512_mask_storeu_ps(row + full, tail, e);
    s1 = _mm512_add_ps(s1, _mm512_maskz_mov_ps(tail, e));
  }
  const __m512 inverse = _mm512_set1_ps(1.0f / sum16(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))));
  for (j = 0; j < full; j += 16) _mm512_storeu_ps(row + j, _mm512_mul_ps(_mm512_loadu_ps(row + j), inverse));
  if (full < n)
    _mm512_mask_storeu_ps(row + full, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, row + full), inverse));
}

}  // namespace

// The softmax's backward row stays the AVX2 build's: its row is two passes of loads and FMAs
// with no long chain, and the 512-bit build measured slower in the attention core's backward
// (5.91-6.00 ms against 5.74-5.87 at (8, 256, 256, 8) on 2 threads).
const DotAttentionRowKernels& avx512_dot_attention_softmax_rows() {
  static const DotAttentionRowKernels rows{softmax_row16, avx2_attention_gemm_kernels().rows.softmax_backward_row};
  return rows;
}

}  // namespace minidl::backend::detail
