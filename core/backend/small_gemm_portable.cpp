// Baseline build of the small-product kernels (detail/small_gemm.h), on GCC/clang vector
// extensions of four floats (SSE2 on x86-64, what any other target has otherwise); no fused
// multiply-add, as the rest of the baseline build.
#include <cstdint>
#include <cstring>

#include "minidl/core/backend/detail/small_gemm.h"

namespace minidl::backend::detail {
namespace {

struct Lanes {
  using Vec = float __attribute__((vector_size(16)));
  static constexpr int64_t kWidth = 4;
  static Vec zero() { return Vec{}; }
  static Vec broadcast(float x) { return Vec{x, x, x, x}; }
  static Vec load(const float* p) {
    Vec v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, Vec v) { std::memcpy(p, &v, sizeof v); }
  static Vec load_first(const float* p, int64_t count) {
    Vec v{};
    std::memcpy(&v, p, static_cast<size_t>(count) * sizeof(float));
    return v;
  }
  static void store_first(float* p, Vec v, int64_t count) {
    std::memcpy(p, &v, static_cast<size_t>(count) * sizeof(float));
  }
  static Vec add(Vec x, Vec y) { return x + y; }
  static Vec madd(Vec x, Vec y, Vec z) { return x * y + z; }
  static float sum(Vec v) { return (v[0] + v[1]) + (v[2] + v[3]); }
};

#include "minidl/core/backend/detail/small_gemm_kernels.inc"

}  // namespace

const SmallGemmKernels& portable_small_gemm_kernels() { return kSmallGemmKernels; }

}  // namespace minidl::backend::detail
