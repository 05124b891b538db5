// Unary ops. The elementwise ones run on oneDNN eltwise primitives: each is one OpDef (an entry
// below), its first derivative one oneDNN backward primitive (detail::eltwise_grad), whose own
// rule gives the second derivative. Adding an elementwise op: one OpDef and its one-line
// function here, and its declaration in ops.h.
#include <cmath>
#include <numbers>

#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::ops {

using autograd::BackwardArgs;
using compute::EltwiseOp;

namespace {

// The standard normal density and distribution function, for gelu's derivatives.
Tensor normal_pdf(const Tensor& x) {
  return exp(multiply(square(x), -0.5f)) * static_cast<float>(1.0 / std::sqrt(2.0 * std::numbers::pi));
}

// d f'(s) / ds for each op, written with differentiable ops: the second-derivative factor.
Tensor derivative_of_derivative(EltwiseOp op, const Tensor& s, float alpha, float beta) {
  switch (op) {
    case EltwiseOp::tanh:  // f' = 1 - y^2
      return multiply(s, -2.0f);
    case EltwiseOp::sigmoid:  // f' = y (1 - y)
      return subtract(Tensor::scalar(1.0f), multiply(s, 2.0f));
    case EltwiseOp::exp:  // f' = y
      return Tensor::ones(s.shape());
    case EltwiseOp::sqrt:  // f' = 1 / (2y)
      return divide(Tensor::scalar(-0.5f), square(s));
    case EltwiseOp::log:  // f' = 1 / x
      return negative(divide(Tensor::scalar(1.0f), square(s)));
    case EltwiseOp::square:  // f' = 2x
      return Tensor::full(s.shape(), 2.0f);
    case EltwiseOp::soft_relu: {  // f' = sigmoid(x)
      const Tensor p = sigmoid(s);
      return multiply(p, subtract(Tensor::scalar(1.0f), p));
    }
    case EltwiseOp::gelu:  // f' = Phi(x) + x phi(x)
      return multiply(normal_pdf(s), subtract(Tensor::scalar(2.0f), square(s)));
    case EltwiseOp::gelu_tanh: {
      // f = x/2 (1 + tanh u), u = c (x + k x^3): f'' = (1 - t^2) (u' - x t u'^2 + x u'' / 2)
      const float c = static_cast<float>(std::sqrt(2.0 / std::numbers::pi)), k = 0.044715f;
      const Tensor t = tanh(multiply(add(s, multiply(power(s, 3.0f), k)), c));
      const Tensor du = multiply(add(multiply(square(s), 3.0f * k), 1.0f), c);
      const Tensor d2u = multiply(s, 6.0f * k * c);
      const Tensor inner = add(subtract(du, multiply(multiply(s, t), square(du))), multiply(multiply(s, d2u), 0.5f));
      return multiply(subtract(Tensor::scalar(1.0f), square(t)), inner);
    }
    case EltwiseOp::pow:  // f' = alpha beta x^(beta-1)
      return multiply(power(s, beta - 2.0f), alpha * beta * (beta - 1.0f));
    case EltwiseOp::abs:
    case EltwiseOp::relu:
    case EltwiseOp::linear:
    case EltwiseOp::clip:
      return Tensor();  // piecewise linear: f'' = 0
  }
  return Tensor();
}

}  // namespace

namespace detail {

Tensor eltwise_grad(EltwiseOp op, const Tensor& saved, const Tensor& dy, float alpha, float beta) {
  const bool from_output = compute::eltwise_backward_uses_output(op);
  Tensor dx = compute::eltwise_backward(op, from_output ? Tensor() : saved, from_output ? saved : Tensor(), dy, alpha,
                                        beta);
  if (autograd::should_record(saved, dy)) {
    autograd::record("eltwise_grad", {saved, dy}, {dx}, {saved, dy}, [op, alpha, beta](const BackwardArgs& g) {
      const Tensor &s = g.saved[0], &dy = g.saved[1];
      Tensor d_saved;
      if (g.needs(0)) {
        const Tensor h = derivative_of_derivative(op, s, alpha, beta);
        if (h.defined()) d_saved = multiply(multiply(g.grad(), dy), h);
      }
      return std::vector<Tensor>{d_saved, g.needs(1) ? eltwise_grad(op, s, g.grad(), alpha, beta) : Tensor()};
    });
  }
  return dx;
}

}  // namespace detail

// ---- the elementwise ops ---------------------------------------------------------------------
namespace {

// An elementwise op on one oneDNN eltwise kind: y = f(x) (float32, x's shape), saving x or y as
// the backward primitive reads it. The coefficients are whole numbers as template arguments:
// clang 14 (the fuzz preset) has no floating-point template parameters, and these ops need only
// alpha = -1 (Negative) and 0.
template <EltwiseOp kOp, int kAlpha = 0, int kBeta = 0>
constexpr OpDef<> eltwise_op(const char* name, const char* module) {
  return {.name = name,
          .module = module,
          .spec = float_spec<>,
          .forward = [](OpInputs x, const NoAttrs&, OpSaved& saved) {
            Tensor y = compute::eltwise(kOp, x[0], static_cast<float>(kAlpha), static_cast<float>(kBeta));
            saved.push_back(compute::eltwise_backward_uses_output(kOp) ? y : x[0]);
            return y;
          },
          .backward = [](const OpGrad& g, const NoAttrs&) {
            return std::vector<Tensor>{detail::eltwise_grad(kOp, g.saved(0), g.grad(), static_cast<float>(kAlpha),
                                                            static_cast<float>(kBeta))};
          }};
}

//                                       oneDNN kind              Keras class  Keras module
constexpr OpDef<> kNegative = eltwise_op<EltwiseOp::linear, -1>("Negative", kNumpyModule);
constexpr OpDef<> kSquare = eltwise_op<EltwiseOp::square>("Square", kNumpyModule);
constexpr OpDef<> kSqrt = eltwise_op<EltwiseOp::sqrt>("Sqrt", kNumpyModule);
constexpr OpDef<> kExp = eltwise_op<EltwiseOp::exp>("Exp", kNumpyModule);
constexpr OpDef<> kLog = eltwise_op<EltwiseOp::log>("Log", kNumpyModule);
constexpr OpDef<> kAbs = eltwise_op<EltwiseOp::abs>("Absolute", kNumpyModule);
constexpr OpDef<> kTanh = eltwise_op<EltwiseOp::tanh>("Tanh", kNumpyModule);
constexpr OpDef<> kSigmoid = eltwise_op<EltwiseOp::sigmoid>("Sigmoid", kNnModule);
constexpr OpDef<> kRelu = eltwise_op<EltwiseOp::relu>("Relu", kNnModule);
constexpr OpDef<> kSoftplus = eltwise_op<EltwiseOp::soft_relu>("Softplus", kNnModule);

// keras.ops.gelu(x, approximate=True): the default here is the only one (ops::gelu(x) uses it);
// keras.activations.gelu, the exact form, calls gelu(x, false).
struct GeluAttrs {
  bool approximate = true;
  static constexpr auto fields() { return std::tuple{op_attr("approximate", &GeluAttrs::approximate)}; }
};
constexpr OpDef<GeluAttrs> kGelu{
    .name = "Gelu",
    .module = kNnModule,
    .spec = float_spec<GeluAttrs>,
    .forward = [](OpInputs x, const GeluAttrs& a, OpSaved& saved) {
      saved.push_back(x[0]);
      return compute::eltwise(a.approximate ? EltwiseOp::gelu_tanh : EltwiseOp::gelu, x[0]);
    },
    .backward = [](const OpGrad& g, const GeluAttrs& a) {
      return std::vector<Tensor>{
          detail::eltwise_grad(a.approximate ? EltwiseOp::gelu_tanh : EltwiseOp::gelu, g.saved(0), g.grad())};
    }};

// Keras records ops.power(x, 3.0) with the exponent as its second positional argument.
struct PowerAttrs {
  float exponent = 1.0f;
  static constexpr auto fields() { return std::tuple{op_attr("exponent", &PowerAttrs::exponent).at_position(1)}; }
};
constexpr OpDef<PowerAttrs> kPower{
    .name = "Power",
    .module = kNumpyModule,
    .spec = float_spec<PowerAttrs>,
    .forward = [](OpInputs x, const PowerAttrs& a, OpSaved& saved) {
      saved.push_back(x[0]);
      return compute::eltwise(EltwiseOp::pow, x[0], 1.0f, a.exponent);
    },
    .backward = [](const OpGrad& g, const PowerAttrs& a) {
      return std::vector<Tensor>{detail::eltwise_grad(EltwiseOp::pow, g.saved(0), g.grad(), 1.0f, a.exponent)};
    }};

struct ClipAttrs {
  float x_min = 0.0f, x_max = 0.0f;
  static constexpr auto fields() {
    return std::tuple{op_attr("x_min", &ClipAttrs::x_min), op_attr("x_max", &ClipAttrs::x_max)};
  }
};
constexpr OpDef<ClipAttrs> kClip{
    .name = "Clip",
    .module = kNumpyModule,
    .spec = float_spec<ClipAttrs>,
    .forward = [](OpInputs x, const ClipAttrs& a, OpSaved& saved) {
      saved.push_back(x[0]);
      return compute::eltwise(EltwiseOp::clip, x[0], a.x_min, a.x_max);
    },
    .backward = [](const OpGrad& g, const ClipAttrs& a) {
      // The gradient passes where min <= x <= max, bounds included (TensorFlow's rule).
      const Tensor& x = g.saved(0);
      const Tensor inside =
          logical_and(greater_equal(x, Tensor::scalar(a.x_min)), less_equal(x, Tensor::scalar(a.x_max)));
      return std::vector<Tensor>{where(inside, g.grad(), Tensor::scalar(0.0f))};
    }};

struct CastAttrs {
  DType dtype = DType::float32;
  static constexpr auto fields() { return std::tuple{op_attr("dtype", &CastAttrs::dtype)}; }
};
constexpr OpDef<CastAttrs> kCast{
    .name = "Cast",
    .module = "keras.src.ops.core",
    .spec = [](OpInputs x, const CastAttrs& a) { return Tensor::symbolic(x[0].shape(), a.dtype); },
    .forward = [](OpInputs x, const CastAttrs& a, OpSaved&) { return x[0].astype(a.dtype); }};

// Keras's Argmax(axis=None, keepdims=False): no axis means the index into the flattened tensor.
struct ArgmaxAttrs {
  std::optional<int64_t> axis{};
  bool keepdims = false;
  static constexpr auto fields() {
    return std::tuple{op_attr("axis", &ArgmaxAttrs::axis), op_attr("keepdims", &ArgmaxAttrs::keepdims)};
  }
};
// The input's shape without the axis, or with it as 1 (keepdims); without an axis, a scalar (or
// all ones with keepdims).
Shape argmax_shape(const Shape& shape, std::optional<int64_t> axis, bool keepdims) {
  if (!axis) return keepdims ? Shape(shape.size(), 1) : Shape{};
  Shape out = shape;
  const int a = normalize_axis(*axis, static_cast<int64_t>(shape.size()));
  if (keepdims) {
    out[a] = 1;
  } else {
    out.erase(out.begin() + a);
  }
  return out;
}
constexpr OpDef<ArgmaxAttrs> kArgmax{
    .name = "Argmax",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const ArgmaxAttrs& a) {
      return Tensor::symbolic(argmax_shape(x[0].shape(), a.axis, a.keepdims), DType::int32);
    },
    .forward = [](OpInputs x, const ArgmaxAttrs& a, OpSaved&) {
      const Tensor source = a.axis ? x[0] : x[0].reshape({-1});
      const int axis = a.axis ? normalize_axis(*a.axis, x[0].ndim()) : 0;
      if (source.shape()[axis] == 0) {
        throw ValueError("argmax: cannot take the argmax of an empty axis (shape " + shape_to_string(x[0].shape()) +
                         ").");
      }
      return compute::argmax(source, axis).reshape(argmax_shape(x[0].shape(), a.axis, a.keepdims));
    }};

}  // namespace

MINIDL_DEFINE_OP(kNegative);
MINIDL_DEFINE_OP(kSquare);
MINIDL_DEFINE_OP(kSqrt);
MINIDL_DEFINE_OP(kExp);
MINIDL_DEFINE_OP(kLog);
MINIDL_DEFINE_OP(kAbs);
MINIDL_DEFINE_OP(kTanh);
MINIDL_DEFINE_OP(kSigmoid);
MINIDL_DEFINE_OP(kRelu);
MINIDL_DEFINE_OP(kSoftplus);
MINIDL_DEFINE_OP(kGelu);
MINIDL_DEFINE_OP(kPower);
MINIDL_DEFINE_OP(kClip);
MINIDL_DEFINE_OP(kCast);
MINIDL_DEFINE_OP(kArgmax);

Tensor negative(const Tensor& x) { return apply(kNegative, {x}); }
Tensor square(const Tensor& x) { return apply(kSquare, {x}); }
Tensor sqrt(const Tensor& x) { return apply(kSqrt, {x}); }
Tensor exp(const Tensor& x) { return apply(kExp, {x}); }
Tensor log(const Tensor& x) { return apply(kLog, {x}); }
Tensor abs(const Tensor& x) { return apply(kAbs, {x}); }
Tensor tanh(const Tensor& x) { return apply(kTanh, {x}); }
Tensor sigmoid(const Tensor& x) { return apply(kSigmoid, {x}); }
Tensor relu(const Tensor& x) { return apply(kRelu, {x}); }
Tensor softplus(const Tensor& x) { return apply(kSoftplus, {x}); }
Tensor gelu(const Tensor& x) { return apply(kGelu, {x}, GeluAttrs{}); }
Tensor gelu(const Tensor& x, bool approximate) { return apply(kGelu, {x}, {.approximate = approximate}); }
Tensor power(const Tensor& x, float exponent) { return apply(kPower, {x}, {.exponent = exponent}); }

Tensor clip(const Tensor& x, float min_value, float max_value) {
  if (min_value > max_value) {
    throw ValueError("clip: min_value (" + std::to_string(min_value) + ") must not exceed max_value (" +
                     std::to_string(max_value) + ").");
  }
  return apply(kClip, {x}, {.x_min = min_value, .x_max = max_value});
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  return apply(kCast, {x}, {.dtype = dtype});
}

Tensor argmax(const Tensor& x, int64_t axis) {
  normalize_axis(axis, x.ndim());  // the axis error before anything else
  return apply(kArgmax, {x}, {.axis = axis, .keepdims = false});
}

}  // namespace minidl::ops
