// Matrix products on the oneDNN matmul primitive (cblas_sgemm for small ones): one OpDef
// (autograd/op_def.h) with NumPy's rules, 1-D operands included.
#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/core/compute.h"

namespace minidl::ops {

namespace {

// Keras's Matmul has no transpose flags; minidl writes them only when they are set.
struct MatmulAttrs {
  bool transpose_a = false, transpose_b = false;
  static constexpr auto fields() {
    return std::tuple{op_attr("transpose_a", &MatmulAttrs::transpose_a).only_when_set(),
                      op_attr("transpose_b", &MatmulAttrs::transpose_b).only_when_set()};
  }
};

// With C = op(A) op(B): d op(A) = dC op(B)^T and d op(B) = op(A)^T dC, each transposed back when
// the operand was used transposed; the flags keep every product copy-free. A 1-D operand is a
// row (left) or a column (right), as NumPy promotes it, and its gradient is reshaped back.
std::vector<Tensor> matmul_backward(const OpGrad& g, const MatmulAttrs& attrs) {
  const Tensor &a = g.saved(0), &b = g.saved(1);
  const bool vector_operand = a.ndim() == 1 || b.ndim() == 1;
  // Matrices are used where they lie (a Tensor copy is two atomic reference-count updates); only
  // a 1-D operand, and then the incoming gradient, is reshaped into a local.
  Tensor a_as_row, b_as_column, dc_as_matrix;
  if (a.ndim() == 1) a_as_row = reshape(a, {1, a.dim(0)});
  if (b.ndim() == 1) b_as_column = reshape(b, {b.dim(0), 1});
  const Tensor& a2 = a.ndim() == 1 ? a_as_row : a;
  const Tensor& b2 = b.ndim() == 1 ? b_as_column : b;
  const bool ta = attrs.transpose_a && a.ndim() > 1, tb = attrs.transpose_b && b.ndim() > 1;
  if (vector_operand) dc_as_matrix = reshape(g.grad(), compute::matmul_shape(a2.shape(), b2.shape(), ta, tb));
  const Tensor& dc = vector_operand ? dc_as_matrix : g.grad();
  Tensor da, db;
  if (g.needs(0)) {
    da = sum_to(!ta ? matmul(dc, b2, false, !tb) : matmul(b2, dc, tb, true), a2.shape());
    if (a.ndim() == 1) da = reshape(da, a.shape());
  }
  if (g.needs(1)) {
    db = sum_to(!tb ? matmul(a2, dc, !ta, false) : matmul(dc, a2, true, ta), b2.shape());
    if (b.ndim() == 1) db = reshape(db, b.shape());
  }
  return {da, db};
}

constexpr OpDef<MatmulAttrs> kMatmul{
    .name = "Matmul",
    .module = kNumpyModule,
    // A transpose flag on a 1-D operand changes nothing (there is no pair of axes to swap).
    .spec = [](OpInputs x, const MatmulAttrs& a) {
      return Tensor::symbolic(compute::matmul_shape(x[0].shape(), x[1].shape(), a.transpose_a && x[0].ndim() > 1,
                                                    a.transpose_b && x[1].ndim() > 1));
    },
    .forward = [](OpInputs x, const MatmulAttrs& a, OpSaved& saved) {
      saved.push_back(x[0]);
      saved.push_back(x[1]);
      return compute::matmul(x[0], x[1], a.transpose_a && x[0].ndim() > 1, a.transpose_b && x[1].ndim() > 1);
    },
    .backward = matmul_backward};

}  // namespace

MINIDL_DEFINE_OP(kMatmul);

Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  return apply(kMatmul, {a, b}, {.transpose_a = transpose_a, .transpose_b = transpose_b});
}

}  // namespace minidl::ops
