// AVX2 + FMA build of the small-product kernels (detail/small_gemm.h), under a target pragma as
// attention_kernels_avx2.cpp: the library stays baseline x86-64, small_gemm() calls these only
// after cpu_has_avx2_fma().
#include <immintrin.h>

#include <cstdint>

#include "minidl/core/backend/detail/small_gemm.h"

// clang (the fuzz preset) has no `#pragma GCC target`: it pushes the target attribute instead.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace minidl::backend::detail {
namespace {

// maskload/maskstore take a lane mask: the window [8 - count, 16 - count) of this table has its
// first `count` lanes set.
alignas(32) constexpr int32_t kLaneMasks[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

struct Lanes {
  using Vec = __m256;
  static constexpr int64_t kWidth = 8;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec broadcast(float x) { return _mm256_set1_ps(x); }
  static Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  static __m256i mask(int64_t count) {
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(kLaneMasks + kWidth - count));
  }
  // Masked-off lanes are neither read nor faulted on.
  static Vec load_first(const float* p, int64_t count) { return _mm256_maskload_ps(p, mask(count)); }
  static void store_first(float* p, Vec v, int64_t count) { _mm256_maskstore_ps(p, mask(count), v); }
  static Vec add(Vec x, Vec y) { return _mm256_add_ps(x, y); }
  static Vec madd(Vec x, Vec y, Vec z) { return _mm256_fmadd_ps(x, y, z); }
  static float sum(Vec v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    __m128 odd = _mm_movehdup_ps(s);  // lanes 1, 1, 3, 3
    s = _mm_add_ps(s, odd);           // lane 0: 0 + 1, lane 2: 2 + 3
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehl_ps(odd, s)));
  }
};

#include "minidl/core/backend/detail/small_gemm_kernels.inc"

}  // namespace

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const SmallGemmKernels& avx2_small_gemm_kernels() { return kSmallGemmKernels; }

}  // namespace minidl::backend::detail
