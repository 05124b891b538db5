// AVX-512 row kernels for the additive-attention scores (see detail/attention_row_kernels.h).
// The library is built for baseline x86-64; only the functions marked MINIDL_AVX512 use
// AVX-512, and the driver calls them only after checking the CPU (cpu_has_avx512()).
//
// Forward: four keys in flight, each accumulating sum_d scale * tanh(q + k) over 16-float
// vectors (a masked vector for the dim % 16 tail); one shuffle tree reduces the four sums.
// Backward: per 64-float chunk of d, the query, dq and dscale accumulators stay in registers
// while the loop runs over the keys; dk rows are read-modified-written (they sit in L1/L2).
// These are the direct path; the identity path is the generic loops built for AVX-512 (below).

// GCC 12's AVX-512 headers build _mm256_undefined_* from a self-initialised variable, which
// -Wmaybe-uninitialized reports once the intrinsics are inlined at -O3 (GCC bug 105593).
#pragma GCC diagnostic push
#if !defined(__clang__)  // clang has no such warning (and would warn about the unknown option)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <bit>
#include <cstdint>
#include <cstring>

#include "minidl/core/backend/detail/attention_row_kernels.h"

#define MINIDL_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma")))

namespace minidl::backend::detail {
namespace {

// x clamped to [-c, c]. The operand order makes a NaN x come through (vminps/vmaxps return the
// second operand when either is NaN); vrangeps would be one instruction but turns NaN into c.
MINIDL_AVX512 inline __m512 clamp_tanh_input(__m512 x) {
  return _mm512_min_ps(_mm512_set1_ps(kTanhClamp), _mm512_max_ps(_mm512_set1_ps(-kTanhClamp), x));
}

MINIDL_AVX512 inline __m512 tanh16(__m512 x) {
  x = clamp_tanh_input(x);
  const __m512 x2 = _mm512_mul_ps(x, x);
  __m512 p = _mm512_fmadd_ps(x2, _mm512_set1_ps(kTanhP7), _mm512_set1_ps(kTanhP5));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(kTanhP3));
  p = _mm512_fmadd_ps(p, x2, _mm512_set1_ps(kTanhP1));
  p = _mm512_mul_ps(p, x);
  __m512 q = _mm512_fmadd_ps(x2, _mm512_set1_ps(kTanhQ8), _mm512_set1_ps(kTanhQ6));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(kTanhQ4));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(kTanhQ2));
  q = _mm512_fmadd_ps(q, x2, _mm512_set1_ps(kTanhQ0));
  return _mm512_div_ps(p, q);
}

// {sum(a), sum(b), sum(c), sum(d)}.
MINIDL_AVX512 inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
  // Per 128-bit lane: ab = {a0+a2, b0+b2, a1+a3, b1+b3}, cd likewise.
  const __m512 ab = _mm512_add_ps(_mm512_unpacklo_ps(a, b), _mm512_unpackhi_ps(a, b));
  const __m512 cd = _mm512_add_ps(_mm512_unpacklo_ps(c, d), _mm512_unpackhi_ps(c, d));
  // Per lane: {a, b, c, d} partial sums.
  const __m512 abcd = _mm512_add_ps(_mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_ps(ab, cd, _MM_SHUFFLE(3, 2, 3, 2)));
  const __m256 half = _mm256_add_ps(_mm512_castps512_ps256(abcd), _mm512_extractf32x8_ps(abcd, 1));
  return _mm_add_ps(_mm256_castps256_ps128(half), _mm256_extractf128_ps(half, 1));
}

MINIDL_AVX512 void forward_row(const float* query_row, const float* key_batch, int64_t dim, const int32_t* keys,
                               int64_t count, const float* scale, float* scores_row) {
  const int64_t full = dim & ~int64_t{15};
  const __mmask16 tail = static_cast<__mmask16>((1u << (dim & 15)) - 1u);
  int64_t t = 0;
  for (; t + 4 <= count; t += 4) {
    const float* k0 = key_batch + int64_t{keys[t]} * dim;
    const float* k1 = key_batch + int64_t{keys[t + 1]} * dim;
    const float* k2 = key_batch + int64_t{keys[t + 2]} * dim;
    const float* k3 = key_batch + int64_t{keys[t + 3]} * dim;
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    for (int64_t d = 0; d < full; d += 16) {
      const __m512 q = _mm512_loadu_ps(query_row + d);
      const __m512 s = _mm512_loadu_ps(scale + d);
      a0 = _mm512_fmadd_ps(s, tanh16(_mm512_add_ps(q, _mm512_loadu_ps(k0 + d))), a0);
      a1 = _mm512_fmadd_ps(s, tanh16(_mm512_add_ps(q, _mm512_loadu_ps(k1 + d))), a1);
      a2 = _mm512_fmadd_ps(s, tanh16(_mm512_add_ps(q, _mm512_loadu_ps(k2 + d))), a2);
      a3 = _mm512_fmadd_ps(s, tanh16(_mm512_add_ps(q, _mm512_loadu_ps(k3 + d))), a3);
    }
    if (tail) {
      // Masked-off lanes load zeros: tanh(0) = 0 and scale 0 leave the sums alone.
      const __m512 q = _mm512_maskz_loadu_ps(tail, query_row + full);
      const __m512 s = _mm512_maskz_loadu_ps(tail, scale + full);
      a0 = _mm512_fmadd_ps(s, tanh16(_mm512_add_ps(q, _mm512_maskz_loadu_ps(tail, k0 + full))), a0);
      a1 = _mm512_fmadd_ps(s, tanh16(_mm512_add_ps(q, _mm512_maskz_loadu_ps(tail, k1 + full))), a1);
      a2 = _mm512_fmadd_ps(s, tanh16(_mm512_add_ps(q, _mm512_maskz_loadu_ps(tail, k2 + full))), a2);
      a3 = _mm512_fmadd_ps(s, tanh16(_mm512_add_ps(q, _mm512_maskz_loadu_ps(tail, k3 + full))), a3);
    }
    const __m128 sums = reduce4(a0, a1, a2, a3);
    if (keys[t + 3] - keys[t] == 3) {
      _mm_storeu_ps(scores_row + keys[t], sums);
    } else {
      alignas(16) float out[4];
      _mm_store_ps(out, sums);
      scores_row[keys[t]] = out[0];
      scores_row[keys[t + 1]] = out[1];
      scores_row[keys[t + 2]] = out[2];
      scores_row[keys[t + 3]] = out[3];
    }
  }
  for (; t < count; ++t) {
    const float* k0 = key_batch + int64_t{keys[t]} * dim;
    __m512 a0 = _mm512_setzero_ps();
    for (int64_t d = 0; d < full; d += 16) {
      const __m512 x = _mm512_add_ps(_mm512_loadu_ps(query_row + d), _mm512_loadu_ps(k0 + d));
      a0 = _mm512_fmadd_ps(_mm512_loadu_ps(scale + d), tanh16(x), a0);
    }
    if (tail) {
      const __m512 x =
          _mm512_add_ps(_mm512_maskz_loadu_ps(tail, query_row + full), _mm512_maskz_loadu_ps(tail, k0 + full));
      a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, scale + full), tanh16(x), a0);
    }
    scores_row[keys[t]] = _mm512_reduce_add_ps(a0);
  }
}

// One chunk of kVectors 16-float vectors starting at d0, the last one masked by `tail` when
// kMaskLast. Masked-off lanes load zeros (t = 0) and are never stored.
template <int kVectors, bool kMaskLast, bool kWithDk>
MINIDL_AVX512 inline void backward_chunk(const float* query_row, const float* key_batch, int64_t dim, int64_t d0,
                                         const int32_t* keys, int64_t count, const float* d_scores_row, __mmask16 tail,
                                         float* dq_acc, float* ds_acc, float* dk_batch) {
  constexpr auto masked = [](int v) { return kMaskLast && v == kVectors - 1; };
  __m512 q[kVectors], dq[kVectors], ds[kVectors];
#pragma GCC unroll 4
  for (int v = 0; v < kVectors; ++v) {
    q[v] = masked(v) ? _mm512_maskz_loadu_ps(tail, query_row + d0 + 16 * v) : _mm512_loadu_ps(query_row + d0 + 16 * v);
    dq[v] = _mm512_setzero_ps();
    ds[v] = _mm512_setzero_ps();
  }
  for (int64_t t = 0; t < count; ++t) {
    const int64_t offset = int64_t{keys[t]} * dim + d0;
    const float* k = key_batch + offset;
    const __m512 g0 = _mm512_set1_ps(d_scores_row[keys[t]]);
#pragma GCC unroll 4
    for (int v = 0; v < kVectors; ++v) {
      const __m512 kv = masked(v) ? _mm512_maskz_loadu_ps(tail, k + 16 * v) : _mm512_loadu_ps(k + 16 * v);
      const __m512 th = tanh16(_mm512_add_ps(q[v], kv));
      const __m512 m = _mm512_mul_ps(g0, th);  // dS * t
      ds[v] = _mm512_add_ps(ds[v], m);
      const __m512 g = _mm512_fnmadd_ps(m, th, g0);  // dS * (1 - t^2)
      dq[v] = _mm512_add_ps(dq[v], g);
      if constexpr (kWithDk) {
        float* dk = dk_batch + offset + 16 * v;
        if (masked(v)) {
          _mm512_mask_storeu_ps(dk, tail, _mm512_add_ps(_mm512_maskz_loadu_ps(tail, dk), g));
        } else {
          _mm512_storeu_ps(dk, _mm512_add_ps(_mm512_loadu_ps(dk), g));
        }
      }
    }
  }
#pragma GCC unroll 4
  for (int v = 0; v < kVectors; ++v) {
    float* dq_out = dq_acc + d0 + 16 * v;
    float* ds_out = ds_acc + d0 + 16 * v;
    if (masked(v)) {
      _mm512_mask_storeu_ps(dq_out, tail, _mm512_add_ps(_mm512_maskz_loadu_ps(tail, dq_out), dq[v]));
      _mm512_mask_storeu_ps(ds_out, tail, _mm512_add_ps(_mm512_maskz_loadu_ps(tail, ds_out), ds[v]));
    } else {
      _mm512_storeu_ps(dq_out, _mm512_add_ps(_mm512_loadu_ps(dq_out), dq[v]));
      _mm512_storeu_ps(ds_out, _mm512_add_ps(_mm512_loadu_ps(ds_out), ds[v]));
    }
  }
}

template <bool kWithDk>
MINIDL_AVX512 void backward_row_impl(const float* query_row, const float* key_batch, int64_t dim, const int32_t* keys,
                                     int64_t count, const float* d_scores_row, float* dq_acc, float* ds_acc,
                                     float* dk_batch) {
  const int64_t vectors = dim / 16;
  const __mmask16 tail = static_cast<__mmask16>((1u << (dim & 15)) - 1u);
  int64_t v = 0;
  for (; v + 4 <= vectors; v += 4) {
    backward_chunk<4, false, kWithDk>(query_row, key_batch, dim, 16 * v, keys, count, d_scores_row, tail, dq_acc,
                                      ds_acc, dk_batch);
  }
  const int64_t d0 = 16 * v;
  const auto chunk = [&](auto kernel) {
    kernel(query_row, key_batch, dim, d0, keys, count, d_scores_row, tail, dq_acc, ds_acc, dk_batch);
  };
  if (tail) {
    switch (vectors - v) {
      case 0:
        chunk(backward_chunk<1, true, kWithDk>);
        break;
      case 1:
        chunk(backward_chunk<2, true, kWithDk>);
        break;
      case 2:
        chunk(backward_chunk<3, true, kWithDk>);
        break;
      default:
        chunk(backward_chunk<4, true, kWithDk>);
        break;
    }
  } else {
    switch (vectors - v) {
      case 1:
        chunk(backward_chunk<1, false, kWithDk>);
        break;
      case 2:
        chunk(backward_chunk<2, false, kWithDk>);
        break;
      case 3:
        chunk(backward_chunk<3, false, kWithDk>);
        break;
      default:
        break;
    }
  }
}

void backward_row(const float* query_row, const float* key_batch, int64_t dim, const int32_t* keys, int64_t count,
                  const float* d_scores_row, float* dq_acc, float* ds_acc, float* dk_batch) {
  if (dk_batch) {
    backward_row_impl<true>(query_row, key_batch, dim, keys, count, d_scores_row, dq_acc, ds_acc, dk_batch);
  } else {
    backward_row_impl<false>(query_row, key_batch, dim, keys, count, d_scores_row, dq_acc, ds_acc, dk_batch);
  }
}

}  // namespace

// The identity path and the elementwise helpers: the portable loops compiled for AVX-512 (the same
// logic as the AVX2 build; the direct path above stays intrinsics). Nested, so that the generic
// forward_row/backward_row do not meet the ones above.
// clang (the fuzz preset) has no `#pragma GCC target`: it pushes the target attribute instead.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma")
#endif
namespace {
namespace generic {

#define MINIDL_ROW_MADD(a, b, c) __builtin_fmaf((a), (b), (c))
#include "minidl/core/backend/detail/attention_row_kernels_generic.inc"
#undef MINIDL_ROW_MADD

}  // namespace generic
}  // namespace
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const AttentionRowKernels& avx512_attention_row_kernels() {
  static const AttentionRowKernels kernels = generic::row_kernels_with(forward_row, backward_row);
  return kernels;
}

}  // namespace minidl::backend::detail
