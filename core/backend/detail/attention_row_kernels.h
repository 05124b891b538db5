#pragma once
// Private to core/backend: the per-row kernels behind attention_kernels.h. The driver
// (attention_kernels.cpp) plans masks and threads and calls one of three implementations for each
// (b, i) query row: attention_kernels_avx512.cpp (intrinsics, compiled for AVX-512 through
// function target attributes), or the plain C++ loops of attention_row_kernels_generic.inc under
// `omp simd`, built for AVX2 + FMA (attention_kernels_avx2.cpp) and for baseline x86-64
// (attention_kernels_portable.cpp).
//
// A row sees the keys of its batch element through an index list `keys[0..count)`, ascending,
// without repeats; masked keys are simply not listed. Both files evaluate the same rational tanh,
// x * P(x^2) / Q(x^2) with x clamped to +-kTanhClamp (coefficients below), on the direct path,
// and the same tanh-sum identity on the identity path (attention_kernels.cpp says which runs where).
#include <cstdint>

namespace minidl::backend::detail {

// scores_row[keys[t]] = sum_d scale[d] * tanh(query_row[d] + key_batch[keys[t] * dim + d]) for
// t < count; other entries of scores_row are left alone. dim >= 1.
using AttentionForwardRow = void (*)(const float* query_row, const float* key_batch, int64_t dim, const int32_t* keys,
                                     int64_t count, const float* scale, float* scores_row);

// With t = tanh(q[d] + k[j, d]) and g = d_scores_row[j] * (1 - t^2), over the listed keys j:
//   dq_acc[d] += sum_j g                      (the driver applies scale at the end)
//   ds_acc[d] += sum_j d_scores_row[j] * t
//   dk_batch[j * dim + d] += g                (unscaled; skipped when dk_batch is nullptr)
// The driver calls it once per tile of keys, so everything accumulates. dq_acc and ds_acc are
// dim-long scratch rows; they never alias dk_batch. dim >= 1.
using AttentionBackwardRow = void (*)(const float* query_row, const float* key_batch, int64_t dim, const int32_t* keys,
                                      int64_t count, const float* d_scores_row, float* dq_acc, float* ds_acc,
                                      float* dk_batch);

// out[i] = f(a[i], b[i]) (b unused by the one-argument functions).
using ElementwiseTanh = void (*)(const float* a, const float* b, int64_t n, float* out);
using ElementwiseTanh1 = void (*)(const float* x, int64_t n, float* out);

struct AttentionRowKernels {
  // The direct path: tanh(q + k) by the rational tanh, from the raw q and k.
  AttentionForwardRow forward_row;
  AttentionBackwardRow backward_row;
  // The identity path: the same contracts, but query_row and key_batch hold tanh(q) and tanh(k)
  // (from precise_tanh), and tanh(q + k) = (tanh q + tanh k) / (1 + tanh q tanh k).
  AttentionForwardRow forward_row_identity;
  AttentionBackwardRow backward_row_identity;
  ElementwiseTanh1 precise_tanh;    // out = tanh(x), within 0.5 ulp + 1e-10
  ElementwiseTanh direct_tanh;      // out = rational tanh(a + b), as the direct path computes it
  ElementwiseTanh identity_tanh;    // out = (a + b) / (1 + a b), as the identity path computes it
};

// The AVX-512 kernels; call them only when the CPU has AVX-512 F/DQ/BW/VL.
const AttentionRowKernels& avx512_attention_row_kernels();
// The portable loops built for AVX2 + FMA; call them only when the CPU has both.
const AttentionRowKernels& avx2_attention_row_kernels();
const AttentionRowKernels& portable_attention_row_kernels();

// tanh(x) ~= x * P(x^2) / Q(x^2) with P of degree 3 and Q of degree 4 in x^2, and |x| clamped to
// kTanhClamp (1 - tanh(8) = 2.3e-7). Our own near-minimax fit, made by
// bench/tools/fit_tanh_rational.py (Lawson iterations in float64, then an ulp search on the
// float32 coefficients against the float32 evaluation). 9 multiply/FMA steps instead of the 11 of
// the common 13/6 form. Max abs error against tanh over every float32, checked by
// bench/tools/check_tanh_rational.cpp: about 4.2e-7 with FMA (AVX-512 path) and 4.3e-7 without
// (portable path on baseline x86-64); the tests check <= 5e-7.
inline constexpr float kTanhClamp = 8.0f;
inline constexpr float kTanhP1 = 9.9999934e-01f;
inline constexpr float kTanhP3 = 1.2913643e-01f;
inline constexpr float kTanhP5 = 2.938829e-03f;
inline constexpr float kTanhP7 = 1.1310237e-05f;
inline constexpr float kTanhQ0 = 1.0f;
inline constexpr float kTanhQ2 = 4.6246737e-01f;
inline constexpr float kTanhQ4 = 2.3763834e-02f;
inline constexpr float kTanhQ6 = 2.3702862e-04f;
inline constexpr float kTanhQ8 = 2.423844e-07f;

}  // namespace minidl::backend::detail
