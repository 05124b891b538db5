#pragma once
// Private to core/backend: where a product leaves one implementation for the next. Both
// backend::matmul (matmul.cpp) and the strided products of the attention projections
// (dot_attention_projections.cpp) pick their path by these, so they live in one place.
#include <cstdint>

namespace minidl::backend::detail {

// Up to this many multiply-adds per matrix, detail::small_gemm's register-tile loops beat
// cblas_sgemm, whose fixed cost per call (argument checks, a zeroing pass over c for beta 0, a
// thread-local lookup) was larger than the arithmetic of the 32-32-1 MLP's 8x32x32 products
// (bench/RESULTS.md, issue 16 part 3). Beyond, its packing pays off.
inline constexpr int64_t kTinyGemmWork = 16 * 1024;

// Up to this many multiply-adds per matrix, a single-threaded cblas_sgemm beats the oneDNN
// matmul primitive and its call cost: cblas won at 40^3, oneDNN at 48^3 (bench/backend_bench,
// "matmul, small" and bench/RESULTS.md).
inline constexpr int64_t kSmallGemmWork = 40 * 40 * 40;

// Up to this many multiply-adds in all, the oneDNN primitive is created and run on one thread.
// oneDNN splits even small matmuls across every OpenMP thread, and an OpenMP region costs about
// 3.5 us on the 2-vCPU VM of bench/RESULTS.md: up to 96^3 one thread was faster than two (and
// two were slower than cblas_sgemm up to 72^3); from 128^3 two threads win.
inline constexpr int64_t kSingleThreadGemmWork = 100 * 100 * 100;

}  // namespace minidl::backend::detail
