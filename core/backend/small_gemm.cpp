// small_gemm (detail/small_gemm.h): picks the kernel layout and the instruction-set path for one
// small product. The kernels need unit strides along their vectors; a dimension of extent 1 has
// no stride to speak of, and c^T = b^T a^T is the same product read the other way, so most
// products of a dense layer (any transposes, a column or a row as an operand) find one.
#include "minidl/core/backend/detail/small_gemm.h"

#include <cstdint>

#include "minidl/core/backend/attention_kernels.h"

namespace minidl::backend::detail {
namespace {

const SmallGemmKernels& active_kernels() {
  switch (active_kernel_path()) {
    case KernelPath::avx512:
      return avx512_small_gemm_kernels();
    case KernelPath::avx2:
      return avx2_small_gemm_kernels();
    default:
      return portable_small_gemm_kernels();
  }
}

// Strides along an extent-1 dimension are never used: set them to 1, so that a column vector
// counts as contiguous along its rows and a row vector along its columns.
SmallGemmProblem with_unit_strides_where_unused(SmallGemmProblem p) {
  if (p.m == 1) p.a_row = p.c_row = 1;
  if (p.n == 1) p.b_col = p.c_col = 1;
  if (p.k == 1) p.a_depth = p.b_depth = 1;
  return p;
}

// c^T (n x m) = b^T a^T: the same sums written to the same places.
SmallGemmProblem transposed(const SmallGemmProblem& p) {
  SmallGemmProblem t = p;
  t.m = p.n;
  t.n = p.m;
  t.a = p.b;
  t.a_row = p.b_col;
  t.a_depth = p.b_depth;
  t.b = p.a;
  t.b_depth = p.a_depth;
  t.b_col = p.a_row;
  t.c_row = p.c_col;
  t.c_col = p.c_row;
  return t;
}

bool fits_row_vectors(const SmallGemmProblem& p) { return p.b_col == 1 && p.c_col == 1; }
bool fits_depth_vectors(const SmallGemmProblem& p) { return p.a_depth == 1 && p.b_depth == 1; }

// Any strides; each sum over k in order.
void plain_loop(const SmallGemmProblem& p) {
  for (int64_t i = 0; i < p.m; ++i) {
    for (int64_t j = 0; j < p.n; ++j) {
      float sum = 0.0f;
      for (int64_t kk = 0; kk < p.k; ++kk) sum += p.a[i * p.a_row + kk * p.a_depth] * p.b[kk * p.b_depth + j * p.b_col];
      float& out = p.c[i * p.c_row + j * p.c_col];
      out = p.accumulate ? out + sum : sum;
    }
  }
}

}  // namespace

void small_gemm(const SmallGemmProblem& problem) {
  if (problem.m <= 0 || problem.n <= 0) return;
  if (problem.k <= 0) {  // every sum is empty: c = 0, or c kept when accumulating
    plain_loop(problem);
    return;
  }
  const SmallGemmProblem p = with_unit_strides_where_unused(problem);
  const SmallGemmProblem t = transposed(p);
  // The fitting layout with the longest vector dimension; on a tie row vectors (no horizontal
  // sums), the problem as given before its transpose.
  enum class Choice { none, rows, transposed_rows, depth } choice = Choice::none;
  int64_t longest = 0;
  if (fits_row_vectors(p)) choice = Choice::rows, longest = p.n;
  if (fits_row_vectors(t) && t.n > longest) choice = Choice::transposed_rows, longest = t.n;
  if (fits_depth_vectors(p) && p.k > longest) choice = Choice::depth, longest = p.k;
  const SmallGemmKernels& kernels = active_kernels();
  switch (choice) {
    case Choice::rows:
      kernels.row_vectors(p);
      return;
    case Choice::transposed_rows:
      kernels.row_vectors(t);
      return;
    case Choice::depth:
      kernels.depth_vectors(p);
      return;
    case Choice::none:
      plain_loop(p);
      return;
  }
}

}  // namespace minidl::backend::detail
