// Portable row kernels for the additive-attention scores (see detail/attention_row_kernels.h):
// plain C++ loops over d under `#pragma omp simd`, which GCC vectorises at -O3 for whatever
// ISA the library is built for (SSE2 on baseline x86-64). They evaluate the same rational tanh
// as the AVX-512 kernels, so the two paths agree to float rounding.
#include <bit>
#include <cstdint>

#include "minidl/core/backend/detail/attention_row_kernels.h"

namespace minidl::backend::detail {
namespace {

// The clamp works on the bit pattern: with GCC's default -ftrapping-math a float compare-and-select
// is not if-converted, so the loop would stay scalar; integer compares are. NaN stays NaN.
inline float clamp_tanh_input(float x) {
  constexpr uint32_t kSign = 0x80000000u, kInf = 0x7f800000u;
  constexpr uint32_t kClampBits = std::bit_cast<uint32_t>(kTanhClamp);
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t magnitude = bits & ~kSign;
  const uint32_t clamped = (magnitude > kClampBits && magnitude <= kInf) ? kClampBits : magnitude;
  return std::bit_cast<float>(clamped | (bits & kSign));
}

inline float rational_tanh(float x) {
  x = clamp_tanh_input(x);
  const float x2 = x * x;
  float p = x2 * kTanhP7 + kTanhP5;
  p = p * x2 + kTanhP3;
  p = p * x2 + kTanhP1;
  p = p * x;
  float q = x2 * kTanhQ8 + kTanhQ6;
  q = q * x2 + kTanhQ4;
  q = q * x2 + kTanhQ2;
  q = q * x2 + kTanhQ0;
  return p / q;
}

void forward_row(const float* query_row, const float* key_batch, int64_t dim, const int32_t* keys, int64_t count,
                 const float* scale, float* scores_row) {
  for (int64_t t = 0; t < count; ++t) {
    const float* k = key_batch + int64_t{keys[t]} * dim;
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t d = 0; d < dim; ++d) sum += scale[d] * rational_tanh(query_row[d] + k[d]);
    scores_row[keys[t]] = sum;
  }
}

void backward_row(const float* query_row, const float* key_batch, int64_t dim, const int32_t* keys, int64_t count,
                  const float* d_scores_row, float* dq_acc, float* ds_acc, float* dk_batch) {
  for (int64_t t = 0; t < count; ++t) {
    const int64_t offset = int64_t{keys[t]} * dim;
    const float* k = key_batch + offset;
    const float g0 = d_scores_row[keys[t]];
    if (dk_batch) {
      float* dk = dk_batch + offset;
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) {
        const float th = rational_tanh(query_row[d] + k[d]);
        const float m = g0 * th;
        const float g = g0 - m * th;
        ds_acc[d] += m;
        dq_acc[d] += g;
        dk[d] += g;
      }
    } else {
#pragma omp simd
      for (int64_t d = 0; d < dim; ++d) {
        const float th = rational_tanh(query_row[d] + k[d]);
        const float m = g0 * th;
        ds_acc[d] += m;
        dq_acc[d] += g0 - m * th;
      }
    }
  }
}

}  // namespace

const AttentionRowKernels& portable_attention_row_kernels() {
  static const AttentionRowKernels kernels{forward_row, backward_row};
  return kernels;
}

}  // namespace minidl::backend::detail
