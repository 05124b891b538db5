// Binary elementwise ops (broadcasting), comparisons, logic and selection: one OpDef each
// (autograd/op_def.h), forward and gradient rule side by side. Gradients of broadcast operands
// are summed back to their shapes (unbroadcast, below).
#include <algorithm>
#include <numeric>

#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/core/compute.h"

namespace minidl::ops {

using compute::BinaryOp;

namespace {

// The gradient of a broadcast operand: `grad` summed back to the operand's `shape`. When
// broadcasting only prepended axes (a bias (n) added to (batch, n)), one sum over those axes
// without keepdims already has the shape; sum_to sums with keepdims and then reshapes, one more
// recorded op (and tensor) per gradient, a twentieth of the 32-32-1 MLP step.
Tensor unbroadcast(const Tensor& grad, const Shape& shape) {
  const Shape& from = grad.shape();
  if (from.size() > shape.size() && std::equal(shape.begin(), shape.end(), from.end() - shape.size())) {
    std::vector<int64_t> leading(from.size() - shape.size());
    std::iota(leading.begin(), leading.end(), int64_t{0});
    return sum(grad, leading, /*keepdims=*/false);
  }
  return sum_to(grad, shape);
}

// The output of `op` on operands of these specs: the broadcast shape and the op's dtype.
template <BinaryOp kOp>
Tensor binary_spec(OpInputs x, const NoAttrs&) {
  return Tensor::symbolic(broadcast_shapes(x[0].shape(), x[1].shape()),
                          compute::binary_result_dtype(kOp, x[0].dtype(), x[1].dtype()));
}

template <BinaryOp kOp>
Tensor binary_forward(OpInputs x, const NoAttrs&, OpSaved&) {
  return compute::binary(kOp, x[0], x[1]);
}

// Saves both operands (multiply and divide differentiate through them).
template <BinaryOp kOp>
Tensor binary_forward_saving(OpInputs x, const NoAttrs&, OpSaved& saved) {
  saved.push_back(x[0]);
  saved.push_back(x[1]);
  return compute::binary(kOp, x[0], x[1]);
}

constexpr OpDef<> kAdd{.name = "Add",
                       .module = kNumpyModule,
                       .spec = binary_spec<BinaryOp::add>,
                       .forward = binary_forward<BinaryOp::add>,
                       .backward = [](const OpGrad& g, const NoAttrs&) {
                         return std::vector<Tensor>{g.needs(0) ? unbroadcast(g.grad(), g.shape(0)) : Tensor(),
                                                    g.needs(1) ? unbroadcast(g.grad(), g.shape(1)) : Tensor()};
                       }};

constexpr OpDef<> kSubtract{.name = "Subtract",
                            .module = kNumpyModule,
                            .spec = binary_spec<BinaryOp::sub>,
                            .forward = binary_forward<BinaryOp::sub>,
                            .backward = [](const OpGrad& g, const NoAttrs&) {
                              return std::vector<Tensor>{
                                  g.needs(0) ? unbroadcast(g.grad(), g.shape(0)) : Tensor(),
                                  g.needs(1) ? unbroadcast(negative(g.grad()), g.shape(1)) : Tensor()};
                            }};

constexpr OpDef<> kMultiply{.name = "Multiply",
                            .module = kNumpyModule,
                            .spec = binary_spec<BinaryOp::mul>,
                            .forward = binary_forward_saving<BinaryOp::mul>,
                            .backward = [](const OpGrad& g, const NoAttrs&) {
                              const Tensor &a = g.saved(0), &b = g.saved(1);
                              return std::vector<Tensor>{
                                  g.needs(0) ? unbroadcast(multiply(g.grad(), b), g.shape(0)) : Tensor(),
                                  g.needs(1) ? unbroadcast(multiply(g.grad(), a), g.shape(1)) : Tensor()};
                            }};

// d(a/b)/da = 1/b, d(a/b)/db = -a / b^2.
std::vector<Tensor> divide_backward(const OpGrad& g, const NoAttrs&) {
  const Tensor &a = g.saved(0), &b = g.saved(1);
  return std::vector<Tensor>{
      g.needs(0) ? unbroadcast(divide(g.grad(), b), g.shape(0)) : Tensor(),
      g.needs(1) ? unbroadcast(negative(divide(multiply(g.grad(), a), square(b))), g.shape(1)) : Tensor()};
}
constexpr OpDef<> kDivide{.name = "Divide",
                          .module = kNumpyModule,
                          .spec = binary_spec<BinaryOp::div>,
                          .forward = binary_forward_saving<BinaryOp::div>,
                          .backward = divide_backward};
// Keras's `a / b` on tensors records TrueDivide; it is divide.
constexpr OpDef<> kTrueDivide{.name = "TrueDivide",
                              .module = kNumpyModule,
                              .spec = binary_spec<BinaryOp::div>,
                              .forward = binary_forward_saving<BinaryOp::div>,
                              .backward = divide_backward};

// maximum/minimum: the gradient goes to a where `a_wins` holds (ties included), else to b.
template <BinaryOp kOp, BinaryOp kAWins>
constexpr OpDef<> select_op(const char* name) {
  return {.name = name,
          .module = kNumpyModule,
          .spec = binary_spec<kOp>,
          .forward = binary_forward_saving<kOp>,
          .backward = [](const OpGrad& g, const NoAttrs&) {
            const Tensor a_wins = compute::binary(kAWins, g.saved(0), g.saved(1));
            const Tensor zero = detail::scalar(0.0f);
            return std::vector<Tensor>{g.needs(0) ? unbroadcast(where(a_wins, g.grad(), zero), g.shape(0)) : Tensor(),
                                       g.needs(1) ? unbroadcast(where(a_wins, zero, g.grad()), g.shape(1)) : Tensor()};
          }};
}
constexpr OpDef<> kMaximum = select_op<BinaryOp::max, BinaryOp::ge>("Maximum");
constexpr OpDef<> kMinimum = select_op<BinaryOp::min, BinaryOp::le>("Minimum");

// ---- comparisons and logic: bool results, no gradient ------------------------------------------

template <BinaryOp kOp>
constexpr OpDef<> comparison(const char* name) {
  return {.name = name, .module = kNumpyModule, .spec = binary_spec<kOp>, .forward = binary_forward<kOp>};
}
constexpr OpDef<> kEqual = comparison<BinaryOp::eq>("Equal");
constexpr OpDef<> kNotEqual = comparison<BinaryOp::ne>("NotEqual");
constexpr OpDef<> kLess = comparison<BinaryOp::lt>("Less");
constexpr OpDef<> kLessEqual = comparison<BinaryOp::le>("LessEqual");
constexpr OpDef<> kGreater = comparison<BinaryOp::gt>("Greater");
constexpr OpDef<> kGreaterEqual = comparison<BinaryOp::ge>("GreaterEqual");

// Non-zero means true; the result is a bool tensor of 0/1.
Tensor truth(const Tensor& x) { return compute::binary(BinaryOp::ne, x, 0.0f); }

constexpr OpDef<> kLogicalAnd{.name = "LogicalAnd",
                              .module = kNumpyModule,
                              .spec = binary_spec<BinaryOp::eq>,
                              .forward = [](OpInputs x, const NoAttrs&, OpSaved&) {
                                return compute::binary(BinaryOp::mul, truth(x[0]), truth(x[1]));
                              }};
constexpr OpDef<> kLogicalOr{.name = "LogicalOr",
                             .module = kNumpyModule,
                             .spec = binary_spec<BinaryOp::eq>,
                             .forward = [](OpInputs x, const NoAttrs&, OpSaved&) {
                               return compute::binary(BinaryOp::max, truth(x[0]), truth(x[1]));
                             }};
constexpr OpDef<> kLogicalNot{
    .name = "LogicalNot",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const NoAttrs&) { return Tensor::symbolic(x[0].shape(), DType::bool_); },
    .forward = [](OpInputs x, const NoAttrs&, OpSaved&) { return compute::binary(BinaryOp::eq, x[0], 0.0f); }};

// ---- selection -------------------------------------------------------------------------------

// cond ? a : b; the gradient flows to the chosen branch (none to the condition).
constexpr OpDef<> kWhere{
    .name = "Where",
    .module = kNumpyModule,
    .spec =
        [](OpInputs x, const NoAttrs&) {
          return Tensor::symbolic(broadcast_shapes(broadcast_shapes(x[0].shape(), x[1].shape()), x[2].shape()),
                                  x[1].dtype() == x[2].dtype() ? x[1].dtype() : DType::float32);
        },
    .forward =
        [](OpInputs x, const NoAttrs&, OpSaved& saved) {
          saved.push_back(x[0]);
          return compute::where(x[0], x[1], x[2]);
        },
    .backward =
        [](const OpGrad& g, const NoAttrs&) {
          const Tensor& c = g.saved(0);
          const Tensor zero = detail::scalar(0.0f);
          return std::vector<Tensor>{Tensor(),
                                     g.needs(1) ? unbroadcast(where(c, g.grad(), zero), g.shape(1)) : Tensor(),
                                     g.needs(2) ? unbroadcast(where(c, zero, g.grad()), g.shape(2)) : Tensor()};
        }};

}  // namespace

MINIDL_DEFINE_OP(kAdd);
MINIDL_DEFINE_OP(kSubtract);
MINIDL_DEFINE_OP(kMultiply);
MINIDL_DEFINE_OP(kDivide);
MINIDL_DEFINE_OP(kTrueDivide);
MINIDL_DEFINE_OP(kMaximum);
MINIDL_DEFINE_OP(kMinimum);
MINIDL_DEFINE_OP(kEqual);
MINIDL_DEFINE_OP(kNotEqual);
MINIDL_DEFINE_OP(kLess);
MINIDL_DEFINE_OP(kLessEqual);
MINIDL_DEFINE_OP(kGreater);
MINIDL_DEFINE_OP(kGreaterEqual);
MINIDL_DEFINE_OP(kLogicalAnd);
MINIDL_DEFINE_OP(kLogicalOr);
MINIDL_DEFINE_OP(kLogicalNot);
MINIDL_DEFINE_OP(kWhere);

Tensor add(const Tensor& a, const Tensor& b) { return apply(kAdd, {a, b}); }
Tensor subtract(const Tensor& a, const Tensor& b) { return apply(kSubtract, {a, b}); }
Tensor multiply(const Tensor& a, const Tensor& b) { return apply(kMultiply, {a, b}); }
Tensor divide(const Tensor& a, const Tensor& b) { return apply(kDivide, {a, b}); }
Tensor maximum(const Tensor& a, const Tensor& b) { return apply(kMaximum, {a, b}); }
Tensor minimum(const Tensor& a, const Tensor& b) { return apply(kMinimum, {a, b}); }

Tensor add(const Tensor& a, float b) { return add(a, Tensor::scalar(b)); }
Tensor subtract(const Tensor& a, float b) { return subtract(a, Tensor::scalar(b)); }
Tensor multiply(const Tensor& a, float b) { return multiply(a, Tensor::scalar(b)); }
Tensor divide(const Tensor& a, float b) { return divide(a, Tensor::scalar(b)); }

Tensor equal(const Tensor& a, const Tensor& b) { return apply(kEqual, {a, b}); }
Tensor not_equal(const Tensor& a, const Tensor& b) { return apply(kNotEqual, {a, b}); }
Tensor less(const Tensor& a, const Tensor& b) { return apply(kLess, {a, b}); }
Tensor less_equal(const Tensor& a, const Tensor& b) { return apply(kLessEqual, {a, b}); }
Tensor greater(const Tensor& a, const Tensor& b) { return apply(kGreater, {a, b}); }
Tensor greater_equal(const Tensor& a, const Tensor& b) { return apply(kGreaterEqual, {a, b}); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return apply(kLogicalAnd, {a, b}); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return apply(kLogicalOr, {a, b}); }
Tensor logical_not(const Tensor& x) { return apply(kLogicalNot, {x}); }

Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b) { return apply(kWhere, {condition, a, b}); }

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
