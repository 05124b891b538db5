// Matrix products on the oneDNN matmul primitive (cblas_sgemm for small ones).
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/compute.h"

namespace minidl::ops {

using autograd::BackwardArgs;

namespace {

// Both operands have rank >= 2 here.
Tensor matmul_nd(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  Tensor c = compute::matmul(a, b, ta, tb);
  if (autograd::should_record(a, b)) {
    autograd::record("matmul", {a, b}, {c}, {a, b}, [ta, tb](const BackwardArgs& g) {
      const Tensor &a = g.saved[0], &b = g.saved[1], &dc = g.grad();
      // With C = op(A) op(B): d op(A) = dC op(B)^T and d op(B) = op(A)^T dC, each transposed
      // back when the operand was used transposed. The flags keep every product copy-free.
      Tensor da, db;
      if (g.needs(0)) {
        da = !ta ? matmul(dc, b, false, !tb) : matmul(b, dc, tb, true);
        da = sum_to(da, a.shape());
      }
      if (g.needs(1)) {
        db = !tb ? matmul(a, dc, !ta, false) : matmul(dc, a, true, ta);
        db = sum_to(db, b.shape());
      }
      return std::vector<Tensor>{da, db};
    });
  }
  return c;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  if (symbolic::any(a, b)) {
    json config = json::object();
    // Keras's Matmul has no transpose flags; minidl writes them only when they are set.
    if (transpose_a) config["transpose_a"] = true;
    if (transpose_b) config["transpose_b"] = true;
    return trace_op("Matmul", config, CallArgs::positional({a, b}),
                    spec(compute::matmul_shape(a.shape(), b.shape(), transpose_a, transpose_b)));
  }
  if (a.ndim() >= 2 && b.ndim() >= 2) return matmul_nd(a, b, transpose_a, transpose_b);
  compute::matmul_shape(a.shape(), b.shape(), transpose_a, transpose_b);  // validates, names both shapes
  // NumPy's 1-D rules: a vector on the left is a row, on the right a column; removed after.
  const Tensor a2 = a.ndim() == 1 ? reshape(a, {1, a.dim(0)}) : a;
  const Tensor b2 = b.ndim() == 1 ? reshape(b, {b.dim(0), 1}) : b;
  Tensor c = matmul_nd(a2, b2, transpose_a && a.ndim() > 1, transpose_b && b.ndim() > 1);
  Shape shape = c.shape();
  if (b.ndim() == 1) shape.pop_back();
  if (a.ndim() == 1) shape.erase(shape.end() - (b.ndim() == 1 ? 1 : 2));
  return reshape(c, shape);
}

MINIDL_REGISTER_OP(Matmul, "keras.src.ops.numpy", {
  return {matmul(arg(a, 0), arg(a, 1), config.value("transpose_a", false), config.value("transpose_b", false))};
});

}  // namespace minidl::ops
