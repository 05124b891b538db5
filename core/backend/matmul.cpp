#include <cblas.h>
#include <omp.h>

#include <string>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"
#include "minidl/core/backend/detail/matmul_thresholds.h"
#include "minidl/core/backend/detail/small_gemm.h"

namespace minidl::backend {
namespace {

using detail::kSingleThreadGemmWork;
using detail::kSmallGemmWork;
using detail::kTinyGemmWork;

struct Operand {
  Dims dims;     // logical (batch..., rows, cols) after the optional transpose
  Dims strides;  // element strides into the stored buffer
};

// Logical view of a stored (batch..., r, c) operand, batch dims right-aligned to `batch_rank`.
Operand view(const Dims& stored, bool transpose, size_t batch_rank) {
  const size_t rank = stored.size();
  const int64_t r = stored[rank - 2], c = stored[rank - 1];
  Operand op;
  op.dims.assign(batch_rank, 1);
  op.strides.assign(batch_rank, r * c);
  int64_t stride = r * c;
  for (size_t i = rank - 2, j = batch_rank; i-- > 0;) {
    --j;
    op.dims[j] = stored[i];
    op.strides[j] = stride;
    stride *= stored[i];
  }
  if (transpose) {
    op.dims.insert(op.dims.end(), {c, r});
    op.strides.insert(op.strides.end(), {1, c});
  } else {
    op.dims.insert(op.dims.end(), {r, c});
    op.strides.insert(op.strides.end(), {c, 1});
  }
  return op;
}

// One (m x k) (k x n) product of stored row-major matrices with row lengths lda and ldb, op
// transposing when asked: the tiny-product kernels, or cblas_sgemm beyond kTinyGemmWork.
void gemm_one(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, bool ta, const float* b, int64_t ldb,
              bool tb, float* c, bool accumulate) {
  if (m * n * k <= kTinyGemmWork) {
    detail::SmallGemmProblem p;
    p.m = m;
    p.n = n;
    p.k = k;
    p.a = a;
    p.a_row = ta ? 1 : lda;
    p.a_depth = ta ? lda : 1;
    p.b = b;
    p.b_depth = tb ? 1 : ldb;
    p.b_col = tb ? ldb : 1;
    p.c = c;
    p.c_row = n;
    p.c_col = 1;
    p.accumulate = accumulate;
    detail::small_gemm(p);
    return;
  }
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, static_cast<int>(m),
              static_cast<int>(n), static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb),
              accumulate ? 1.0f : 0.0f, c, static_cast<int>(n));
}

void small_gemm_loop(const float* a, const Operand& A, bool ta, const float* b, const Operand& B, bool tb, float* c,
                     const Dims& c_shape, bool accumulate) {
  const size_t rank = c_shape.size();
  const int64_t m = c_shape[rank - 2], n = c_shape[rank - 1], k = A.dims[rank - 1];
  const int64_t lda = ta ? A.dims[rank - 2] : k;  // row length of the stored matrix
  const int64_t ldb = tb ? k : n;
  int64_t batches = 1;
  for (size_t i = 0; i + 2 < rank; ++i) batches *= c_shape[i];
  for (int64_t batch = 0; batch < batches; ++batch) {
    int64_t rest = batch, offset_a = 0, offset_b = 0;
    for (size_t i = rank - 2; i-- > 0;) {
      const int64_t index = rest % c_shape[i];
      rest /= c_shape[i];
      if (A.dims[i] != 1) offset_a += index * A.strides[i];
      if (B.dims[i] != 1) offset_b += index * B.strides[i];
    }
    gemm_one(m, n, k, a + offset_a, lda, ta, b + offset_b, ldb, tb, c + batch * m * n, accumulate);
  }
}

}  // namespace

void matmul(const float* a, const Dims& a_shape, bool transpose_a, const float* b, const Dims& b_shape,
            bool transpose_b, float* c, const Dims& c_shape, bool accumulate) {
  detail::ensure_initialized();
  const size_t rank = c_shape.size();
  const int64_t m = c_shape[rank - 2], n = c_shape[rank - 1];
  if (rank == 2 && a_shape.size() == 2 && b_shape.size() == 2) {
    // A small unbatched product is one gemm_one on the stored matrices (the same call
    // small_gemm_loop makes), without building the strided views; the row lengths of the
    // stored matrices are the leading dimensions.
    const int64_t k = transpose_a ? a_shape[0] : a_shape[1];
    if (m * n > 0 && k > 0 && m * n * k <= kSmallGemmWork) {
      gemm_one(m, n, k, a, a_shape[1], transpose_a, b, b_shape[1], transpose_b, c, accumulate);
      return;
    }
  }
  const Operand A = view(a_shape, transpose_a, rank - 2);
  const Operand B = view(b_shape, transpose_b, rank - 2);
  const int64_t k = A.dims[rank - 1];
  if (detail::product(c_shape) == 0) return;
  if (k == 0) {
    if (!accumulate) fill(c, detail::product(c_shape), 0.0f);
    return;
  }
  if (m * n * k <= kSmallGemmWork) {
    small_gemm_loop(a, A, transpose_a, b, B, transpose_b, c, c_shape, accumulate);
    return;
  }
  // The primitive cache is keyed by thread count, so this one has its own one-thread entry.
  const detail::OneThreadScope one_thread(detail::product(c_shape) * k <= kSingleThreadGemmWork);
  const std::string key = detail::KeyBuilder("matmul")
                              .add(A.dims)
                              .add(A.strides)
                              .add(B.dims)
                              .add(B.strides)
                              .add(c_shape)
                              .add(accumulate ? "accumulate" : "overwrite")
                              .str();
  const auto& entry = detail::thread_primitive(
      key,
      [&] {
        dnnl::matmul::desc desc(detail::strided_desc(A.dims, A.strides), detail::strided_desc(B.dims, B.strides),
                                detail::dense_desc(c_shape));
        dnnl::primitive_attr attr;
        if (accumulate) {
          dnnl::post_ops ops;
          ops.append_sum(1.0f);
          attr.set_post_ops(ops);
        }
        return dnnl::matmul::primitive_desc(desc, attr, detail::engine());
      },
      [&] {
        return std::vector<detail::ArgumentDesc>{{DNNL_ARG_SRC, detail::strided_desc(A.dims, A.strides)},
                                                 {DNNL_ARG_WEIGHTS, detail::strided_desc(B.dims, B.strides)},
                                                 {DNNL_ARG_DST, detail::dense_desc(c_shape)}};
      });
  if (entry.is_reference()) {
    detail::mark_unused(key);
    small_gemm_loop(a, A, transpose_a, b, B, transpose_b, c, c_shape, accumulate);
    return;
  }
  entry.run({a, b, c});
}

}  // namespace minidl::backend
