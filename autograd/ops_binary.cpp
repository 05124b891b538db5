// Binary elementwise ops (broadcasting), comparisons, logic and selection: forward and
// gradient rule side by side.
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/core/compute.h"

namespace minidl::ops {

using autograd::BackwardArgs;
using compute::BinaryOp;

Tensor add(const Tensor& a, const Tensor& b) {
  Tensor out = compute::binary(BinaryOp::add, a, b);
  if (autograd::should_record(a, b)) {
    autograd::record("add", {a, b}, {out}, {}, [sa = a.shape(), sb = b.shape()](const BackwardArgs& g) {
      return std::vector<Tensor>{g.needs(0) ? sum_to(g.grad(), sa) : Tensor(),
                                 g.needs(1) ? sum_to(g.grad(), sb) : Tensor()};
    });
  }
  return out;
}

Tensor subtract(const Tensor& a, const Tensor& b) {
  Tensor out = compute::binary(BinaryOp::sub, a, b);
  if (autograd::should_record(a, b)) {
    autograd::record("subtract", {a, b}, {out}, {}, [sa = a.shape(), sb = b.shape()](const BackwardArgs& g) {
      return std::vector<Tensor>{g.needs(0) ? sum_to(g.grad(), sa) : Tensor(),
                                 g.needs(1) ? sum_to(negative(g.grad()), sb) : Tensor()};
    });
  }
  return out;
}

Tensor multiply(const Tensor& a, const Tensor& b) {
  Tensor out = compute::binary(BinaryOp::mul, a, b);
  if (autograd::should_record(a, b)) {
    autograd::record("multiply", {a, b}, {out}, {a, b}, [](const BackwardArgs& g) {
      const Tensor &a = g.saved[0], &b = g.saved[1];
      return std::vector<Tensor>{g.needs(0) ? sum_to(multiply(g.grad(), b), a.shape()) : Tensor(),
                                 g.needs(1) ? sum_to(multiply(g.grad(), a), b.shape()) : Tensor()};
    });
  }
  return out;
}

Tensor divide(const Tensor& a, const Tensor& b) {
  Tensor out = compute::binary(BinaryOp::div, a, b);
  if (autograd::should_record(a, b)) {
    autograd::record("divide", {a, b}, {out}, {a, b}, [](const BackwardArgs& g) {
      const Tensor &a = g.saved[0], &b = g.saved[1];
      // d(a/b)/db = -a / b^2
      return std::vector<Tensor>{
          g.needs(0) ? sum_to(divide(g.grad(), b), a.shape()) : Tensor(),
          g.needs(1) ? sum_to(negative(divide(multiply(g.grad(), a), square(b))), b.shape()) : Tensor()};
    });
  }
  return out;
}

namespace {

// maximum/minimum: the gradient goes where `mask` holds (ties included) for a, else to b.
Tensor select_binary(const char* name, BinaryOp op, BinaryOp a_wins, const Tensor& a, const Tensor& b) {
  Tensor out = compute::binary(op, a, b);
  if (autograd::should_record(a, b)) {
    Tensor mask = compute::binary(a_wins, a, b);
    autograd::record(name, {a, b}, {out}, {mask}, [sa = a.shape(), sb = b.shape()](const BackwardArgs& g) {
      const Tensor& mask = g.saved[0];
      const Tensor zero = detail::scalar(0.0f);
      return std::vector<Tensor>{g.needs(0) ? sum_to(where(mask, g.grad(), zero), sa) : Tensor(),
                                 g.needs(1) ? sum_to(where(mask, zero, g.grad()), sb) : Tensor()};
    });
  }
  return out;
}

}  // namespace

Tensor maximum(const Tensor& a, const Tensor& b) { return select_binary("maximum", BinaryOp::max, BinaryOp::ge, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return select_binary("minimum", BinaryOp::min, BinaryOp::le, a, b); }

Tensor add(const Tensor& a, float b) { return add(a, Tensor::scalar(b)); }
Tensor subtract(const Tensor& a, float b) { return subtract(a, Tensor::scalar(b)); }
Tensor multiply(const Tensor& a, float b) { return multiply(a, Tensor::scalar(b)); }
Tensor divide(const Tensor& a, float b) { return divide(a, Tensor::scalar(b)); }

// ---- comparisons and logic: no gradient ----------------------------------------------------

Tensor equal(const Tensor& a, const Tensor& b) { return compute::binary(BinaryOp::eq, a, b); }
Tensor not_equal(const Tensor& a, const Tensor& b) { return compute::binary(BinaryOp::ne, a, b); }
Tensor less(const Tensor& a, const Tensor& b) { return compute::binary(BinaryOp::lt, a, b); }
Tensor less_equal(const Tensor& a, const Tensor& b) { return compute::binary(BinaryOp::le, a, b); }
Tensor greater(const Tensor& a, const Tensor& b) { return compute::binary(BinaryOp::gt, a, b); }
Tensor greater_equal(const Tensor& a, const Tensor& b) { return compute::binary(BinaryOp::ge, a, b); }

Tensor logical_not(const Tensor& x) { return compute::binary(BinaryOp::eq, x, 0.0f); }
Tensor logical_and(const Tensor& a, const Tensor& b) {
  return compute::binary(BinaryOp::mul, compute::binary(BinaryOp::ne, a, 0.0f), compute::binary(BinaryOp::ne, b, 0.0f));
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  return compute::binary(BinaryOp::max, compute::binary(BinaryOp::ne, a, 0.0f), compute::binary(BinaryOp::ne, b, 0.0f));
}

// ---- selection -----------------------------------------------------------------------------

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  Tensor out = compute::where(condition, a, b);
  if (autograd::should_record(a, b)) {
    autograd::record("where", {condition, a, b}, {out}, {condition},
                     [sa = a.shape(), sb = b.shape()](const BackwardArgs& g) {
                       const Tensor& c = g.saved[0];
                       const Tensor zero = detail::scalar(0.0f);
                       return std::vector<Tensor>{Tensor(),
                                                  g.needs(1) ? sum_to(where(c, g.grad(), zero), sa) : Tensor(),
                                                  g.needs(2) ? sum_to(where(c, zero, g.grad()), sb) : Tensor()};
                     });
  }
  return out;
}

}  // namespace minidl::ops

namespace minidl {

Tensor operator+(const Tensor& a, const Tensor& b) { return ops::add(a, b); }
Tensor operator-(const Tensor& a, const Tensor& b) { return ops::subtract(a, b); }
Tensor operator*(const Tensor& a, const Tensor& b) { return ops::multiply(a, b); }
Tensor operator/(const Tensor& a, const Tensor& b) { return ops::divide(a, b); }
Tensor operator-(const Tensor& x) { return ops::negative(x); }
Tensor operator+(const Tensor& a, float b) { return ops::add(a, b); }
Tensor operator-(const Tensor& a, float b) { return ops::subtract(a, b); }
Tensor operator*(const Tensor& a, float b) { return ops::multiply(a, b); }
Tensor operator/(const Tensor& a, float b) { return ops::divide(a, b); }
Tensor operator+(float a, const Tensor& b) { return ops::add(Tensor::scalar(a), b); }
Tensor operator-(float a, const Tensor& b) { return ops::subtract(Tensor::scalar(a), b); }
Tensor operator*(float a, const Tensor& b) { return ops::multiply(Tensor::scalar(a), b); }
Tensor operator/(float a, const Tensor& b) { return ops::divide(Tensor::scalar(a), b); }

}  // namespace minidl
