// Binary elementwise ops (broadcasting), comparisons, logic and selection: forward and
// gradient rule side by side.
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/compute.h"

namespace minidl::ops {

using autograd::BackwardArgs;
using compute::BinaryOp;

namespace {

// The graph node for a binary op on symbolic operands (Keras's numpy op classes).
Tensor traced(const char* class_name, BinaryOp op, const Tensor& a, const Tensor& b) {
  return trace_op(class_name, json::object(), CallArgs::positional({a, b}),
                  spec(broadcast_shapes(a.shape(), b.shape()), compute::binary_result_dtype(op, a.dtype(), b.dtype())));
}

}  // namespace

MINIDL_REGISTER_OP(Add, kNumpyModule, { return {add(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(Subtract, kNumpyModule, { return {subtract(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(Multiply, kNumpyModule, { return {multiply(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(Divide, kNumpyModule, { return {divide(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(TrueDivide, kNumpyModule, { return {divide(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(Maximum, kNumpyModule, { return {maximum(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(Minimum, kNumpyModule, { return {minimum(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(Equal, kNumpyModule, { return {equal(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(NotEqual, kNumpyModule, { return {not_equal(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(Less, kNumpyModule, { return {less(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(LessEqual, kNumpyModule, { return {less_equal(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(Greater, kNumpyModule, { return {greater(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(GreaterEqual, kNumpyModule, { return {greater_equal(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(LogicalAnd, kNumpyModule, { return {logical_and(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(LogicalOr, kNumpyModule, { return {logical_or(arg(a, 0), arg(a, 1))}; });
MINIDL_REGISTER_OP(LogicalNot, kNumpyModule, { return {logical_not(arg(a, 0))}; });
MINIDL_REGISTER_OP(Where, kNumpyModule, { return {where(arg(a, 0), arg(a, 1), arg(a, 2))}; });

Tensor add(const Tensor& a, const Tensor& b) {
  if (symbolic::any(a, b)) return traced("Add", BinaryOp::add, a, b);
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
  if (symbolic::any(a, b)) return traced("Subtract", BinaryOp::sub, a, b);
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
  if (symbolic::any(a, b)) return traced("Multiply", BinaryOp::mul, a, b);
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
  if (symbolic::any(a, b)) return traced("Divide", BinaryOp::div, a, b);
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
Tensor select_binary(const char* name, const char* class_name, BinaryOp op, BinaryOp a_wins, const Tensor& a,
                     const Tensor& b) {
  if (symbolic::any(a, b)) return traced(class_name, op, a, b);
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

Tensor maximum(const Tensor& a, const Tensor& b) {
  return select_binary("maximum", "Maximum", BinaryOp::max, BinaryOp::ge, a, b);
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  return select_binary("minimum", "Minimum", BinaryOp::min, BinaryOp::le, a, b);
}

Tensor add(const Tensor& a, float b) { return add(a, Tensor::scalar(b)); }
Tensor subtract(const Tensor& a, float b) { return subtract(a, Tensor::scalar(b)); }
Tensor multiply(const Tensor& a, float b) { return multiply(a, Tensor::scalar(b)); }
Tensor divide(const Tensor& a, float b) { return divide(a, Tensor::scalar(b)); }

// ---- comparisons and logic: no gradient ----------------------------------------------------

namespace {

Tensor compare(const char* class_name, BinaryOp op, const Tensor& a, const Tensor& b) {
  if (symbolic::any(a, b)) return traced(class_name, op, a, b);
  return compute::binary(op, a, b);
}

// Non-zero means true; the result is a bool tensor of 0/1.
Tensor truth(const Tensor& x) { return compute::binary(BinaryOp::ne, x, 0.0f); }

}  // namespace

Tensor equal(const Tensor& a, const Tensor& b) { return compare("Equal", BinaryOp::eq, a, b); }
Tensor not_equal(const Tensor& a, const Tensor& b) { return compare("NotEqual", BinaryOp::ne, a, b); }
Tensor less(const Tensor& a, const Tensor& b) { return compare("Less", BinaryOp::lt, a, b); }
Tensor less_equal(const Tensor& a, const Tensor& b) { return compare("LessEqual", BinaryOp::le, a, b); }
Tensor greater(const Tensor& a, const Tensor& b) { return compare("Greater", BinaryOp::gt, a, b); }
Tensor greater_equal(const Tensor& a, const Tensor& b) { return compare("GreaterEqual", BinaryOp::ge, a, b); }

Tensor logical_not(const Tensor& x) {
  if (symbolic::any(x)) {
    return trace_op("LogicalNot", json::object(), CallArgs::positional({x}), spec(x.shape(), DType::bool_));
  }
  return compute::binary(BinaryOp::eq, x, 0.0f);
}
Tensor logical_and(const Tensor& a, const Tensor& b) {
  if (symbolic::any(a, b)) return traced("LogicalAnd", BinaryOp::eq, a, b);
  return compute::binary(BinaryOp::mul, truth(a), truth(b));
}
Tensor logical_or(const Tensor& a, const Tensor& b) {
  if (symbolic::any(a, b)) return traced("LogicalOr", BinaryOp::eq, a, b);
  return compute::binary(BinaryOp::max, truth(a), truth(b));
}

// ---- selection -----------------------------------------------------------------------------

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) {
  if (symbolic::any(condition, a, b)) {
    const Shape shape = broadcast_shapes(broadcast_shapes(condition.shape(), a.shape()), b.shape());
    return trace_op("Where", json::object(), CallArgs::positional({condition, a, b}),
                    spec(shape, a.dtype() == b.dtype() ? a.dtype() : DType::float32));
  }
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
