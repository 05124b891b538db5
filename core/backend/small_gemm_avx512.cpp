// AVX-512 build of the small-product kernels (detail/small_gemm.h): 16 floats a vector and mask
// registers for the tails. Under a target pragma as attention_kernels_avx512.cpp: the library
// stays baseline x86-64, small_gemm() calls these only after cpu_has_avx512().

// GCC 12's AVX-512 headers build _mm256_undefined_* from a self-initialised variable, which
// -Wmaybe-uninitialized reports once the intrinsics are inlined at -O3 (GCC bug 105593).
#pragma GCC diagnostic push
#if !defined(__clang__)  // clang has no such warning (and would warn about the unknown option)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <cstdint>

#include "minidl/core/backend/detail/small_gemm.h"

// clang (the fuzz preset) has no `#pragma GCC target`: it pushes the target attribute instead.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512bw,avx512vl,fma")
#endif

namespace minidl::backend::detail {
namespace {

struct Lanes {
  using Vec = __m512;
  static constexpr int64_t kWidth = 16;
  static Vec zero() { return _mm512_setzero_ps(); }
  static Vec broadcast(float x) { return _mm512_set1_ps(x); }
  static Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  static __mmask16 mask(int64_t count) { return static_cast<__mmask16>((1u << count) - 1u); }
  // Masked-off lanes are neither read nor faulted on.
  static Vec load_first(const float* p, int64_t count) { return _mm512_maskz_loadu_ps(mask(count), p); }
  static void store_first(float* p, Vec v, int64_t count) { _mm512_mask_storeu_ps(p, mask(count), v); }
  static Vec add(Vec x, Vec y) { return _mm512_add_ps(x, y); }
  static Vec madd(Vec x, Vec y, Vec z) { return _mm512_fmadd_ps(x, y, z); }
  // Not _mm512_reduce_add_ps, nor the unmasked shuffles and 512-to-256 casts: their undefined
  // pass-through operand trips GCC 12's -Wuninitialized (the bug above); the zero-masking forms
  // have none. Every lane ends up with the total.
  static float sum(Vec v) {
    constexpr __mmask16 kAll = 0xFFFF;
    v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(kAll, v, v, _MM_SHUFFLE(1, 0, 3, 2)));  // 128-bit blocks
    v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(kAll, v, v, _MM_SHUFFLE(2, 3, 0, 1)));
    v = _mm512_add_ps(v, _mm512_maskz_permute_ps(kAll, v, _MM_SHUFFLE(1, 0, 3, 2)));  // within a block
    v = _mm512_add_ps(v, _mm512_maskz_permute_ps(kAll, v, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_cvtss_f32(v);
  }
};

#include "minidl/core/backend/detail/small_gemm_kernels.inc"

}  // namespace

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const SmallGemmKernels& avx512_small_gemm_kernels() { return kSmallGemmKernels; }

}  // namespace minidl::backend::detail
