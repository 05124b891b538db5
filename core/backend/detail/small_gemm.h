#pragma once
// Private to core/backend: the products too small for a BLAS call to pay off. At 8x32x32 (the
// 32-32-1 MLP's layers at batch 8) cblas_sgemm's fixed cost — argument checks, its zeroing pass
// over c for beta 0 and a slow thread-local lookup inside OpenBLAS on every call — was more than
// the arithmetic (bench/RESULTS.md, issue 16 part 3). These loops work on the operands where they
// lie, any strides, and keep every sum of one element of c in registers.
//
// Written once in small_gemm_kernels.inc and built for AVX-512, for AVX2 + FMA and for baseline
// x86-64 (small_gemm_avx512.cpp, small_gemm_avx2.cpp, small_gemm_portable.cpp); small_gemm()
// runs the path active_kernel_path() names (attention_kernels.h), so tests can pin each.
#include <cstdint>

namespace minidl::backend::detail {

// c(i, j) = sum_p a(i, p) b(p, j), plus the old c(i, j) when `accumulate` (c is not read
// otherwise), for i < m, j < n, p < k, with the elements at
//   a(i, p) = a[i * a_row + p * a_depth], b(p, j) = b[p * b_depth + j * b_col],
//   c(i, j) = c[i * c_row + j * c_col].
struct SmallGemmProblem {
  int64_t m = 0, n = 0, k = 0;
  const float* a = nullptr;
  int64_t a_row = 0, a_depth = 0;
  const float* b = nullptr;
  int64_t b_depth = 0, b_col = 0;
  float* c = nullptr;
  int64_t c_row = 0, c_col = 0;
  bool accumulate = false;
};

struct SmallGemmKernels {
  // Vectors along the rows of b and c (needs b_col == 1 and c_col == 1), a's element broadcast:
  // no horizontal sums, the best layout when n is at least a vector wide.
  void (*row_vectors)(const SmallGemmProblem& problem);
  // Vectors along k (needs a_depth == 1 and b_depth == 1), one horizontal sum per element of c:
  // for b transposed (a row of b^T is a column of b), or n too narrow for row vectors.
  void (*depth_vectors)(const SmallGemmProblem& problem);
};

const SmallGemmKernels& avx512_small_gemm_kernels();  // only when cpu_has_avx512()
const SmallGemmKernels& avx2_small_gemm_kernels();    // only when cpu_has_avx2_fma()
const SmallGemmKernels& portable_small_gemm_kernels();

// The product on the active kernel path, in whichever of the kernels' layouts fits the strides
// with the longest vectors (the problem or its transpose c^T = b^T a^T), else a plain loop.
// k == 0 sets c to zero (or leaves it, when accumulating).
void small_gemm(const SmallGemmProblem& problem);

}  // namespace minidl::backend::detail
