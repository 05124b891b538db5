// Unary elementwise ops on oneDNN eltwise primitives. The first derivative is one oneDNN
// backward primitive (eltwise_grad); eltwise_grad's own rule gives the second derivative.
#include <cmath>
#include <numbers>

#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::ops {

using autograd::BackwardArgs;
using compute::EltwiseOp;

namespace {

// The graph node of a unary op on a symbolic tensor: same shape, float32.
Tensor traced_unary(const char* class_name, const Tensor& x, json config = json::object()) {
  return trace_op(class_name, config, CallArgs::positional({x}), spec(x.shape()));
}

Tensor unary(const char* name, EltwiseOp op, const Tensor& x, float alpha = 0.0f, float beta = 0.0f) {
  Tensor y = compute::eltwise(op, x, alpha, beta);
  if (autograd::should_record(x)) {
    const bool from_output = compute::eltwise_backward_uses_output(op);
    autograd::record(name, {x}, {y}, {from_output ? y : x}, [op, alpha, beta](const BackwardArgs& g) {
      return std::vector<Tensor>{detail::eltwise_grad(op, g.saved[0], g.grad(), alpha, beta)};
    });
  }
  return y;
}

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

Tensor negative(const Tensor& x) {
  if (symbolic::any(x)) return traced_unary("Negative", x);
  return unary("negative", EltwiseOp::linear, x, -1.0f, 0.0f);
}
Tensor square(const Tensor& x) {
  if (symbolic::any(x)) return traced_unary("Square", x);
  return unary("square", EltwiseOp::square, x);
}
Tensor sqrt(const Tensor& x) {
  if (symbolic::any(x)) return traced_unary("Sqrt", x);
  return unary("sqrt", EltwiseOp::sqrt, x);
}
Tensor exp(const Tensor& x) {
  if (symbolic::any(x)) return traced_unary("Exp", x);
  return unary("exp", EltwiseOp::exp, x);
}
Tensor log(const Tensor& x) {
  if (symbolic::any(x)) return traced_unary("Log", x);
  return unary("log", EltwiseOp::log, x);
}
Tensor abs(const Tensor& x) {
  if (symbolic::any(x)) return traced_unary("Absolute", x);
  return unary("abs", EltwiseOp::abs, x);
}
Tensor tanh(const Tensor& x) {
  if (symbolic::any(x)) return traced_unary("Tanh", x);
  return unary("tanh", EltwiseOp::tanh, x);
}
Tensor sigmoid(const Tensor& x) {
  if (symbolic::any(x)) return traced_unary("Sigmoid", x);
  return unary("sigmoid", EltwiseOp::sigmoid, x);
}
Tensor relu(const Tensor& x) {
  if (symbolic::any(x)) return traced_unary("Relu", x);
  return unary("relu", EltwiseOp::relu, x);
}
Tensor softplus(const Tensor& x) {
  if (symbolic::any(x)) return traced_unary("Softplus", x);
  return unary("softplus", EltwiseOp::soft_relu, x);
}
Tensor gelu(const Tensor& x, bool approximate) {
  if (symbolic::any(x)) return traced_unary("Gelu", x, {{"approximate", approximate}});
  return unary("gelu", approximate ? EltwiseOp::gelu_tanh : EltwiseOp::gelu, x);
}
Tensor power(const Tensor& x, float exponent) {
  if (symbolic::any(x)) {
    CallArgs args = CallArgs::positional({x});
    args.args.push_back(exponent);
    return trace_op("Power", json::object(), args, spec(x.shape()));
  }
  return unary("power", EltwiseOp::pow, x, 1.0f, exponent);
}

Tensor clip(const Tensor& x, float min_value, float max_value) {
  if (min_value > max_value) {
    throw ValueError("clip: min_value (" + std::to_string(min_value) + ") must not exceed max_value (" +
                     std::to_string(max_value) + ").");
  }
  if (symbolic::any(x)) return traced_unary("Clip", x, {{"x_min", min_value}, {"x_max", max_value}});
  Tensor y = compute::eltwise(EltwiseOp::clip, x, min_value, max_value);
  if (autograd::should_record(x)) {
    // The gradient passes where min <= x <= max, bounds included (TensorFlow's rule).
    Tensor inside = logical_and(greater_equal(x, Tensor::scalar(min_value)), less_equal(x, Tensor::scalar(max_value)));
    autograd::record("clip", {x}, {y}, {inside}, [](const BackwardArgs& g) {
      return std::vector<Tensor>{where(g.saved[0], g.grad(), Tensor::scalar(0.0f))};
    });
  }
  return y;
}

Tensor cast(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  if (symbolic::any(x)) {
    return trace_op("Cast", {{"dtype", dtype_name(dtype)}}, CallArgs::positional({x}), spec(x.shape(), dtype));
  }
  return x.astype(dtype);
}

Tensor argmax(const Tensor& x, int64_t axis) {
  const int a = normalize_axis(axis, x.ndim());
  Shape out_shape = x.shape();
  out_shape.erase(out_shape.begin() + a);
  if (symbolic::any(x)) {
    return trace_op("Argmax", {{"axis", axis}, {"keepdims", false}}, CallArgs::positional({x}),
                    spec(out_shape, DType::int32));
  }
  if (x.shape()[a] == 0) throw ValueError("argmax: cannot take the argmax of an empty axis (shape " +
                                          shape_to_string(x.shape()) + ").");
  return compute::argmax(x, a);
}

// ---- the op table ----------------------------------------------------------------------------
namespace {
}  // namespace
MINIDL_REGISTER_OP(Negative, kNumpyModule, { return {negative(arg(a, 0))}; });
MINIDL_REGISTER_OP(Square, kNumpyModule, { return {square(arg(a, 0))}; });
MINIDL_REGISTER_OP(Sqrt, kNumpyModule, { return {sqrt(arg(a, 0))}; });
MINIDL_REGISTER_OP(Exp, kNumpyModule, { return {exp(arg(a, 0))}; });
MINIDL_REGISTER_OP(Log, kNumpyModule, { return {log(arg(a, 0))}; });
MINIDL_REGISTER_OP(Absolute, kNumpyModule, { return {abs(arg(a, 0))}; });
MINIDL_REGISTER_OP(Tanh, kNumpyModule, { return {tanh(arg(a, 0))}; });
MINIDL_REGISTER_OP(Power, kNumpyModule, { return {power(arg(a, 0), a.args.at(1).get<float>())}; });
MINIDL_REGISTER_OP(Clip, kNumpyModule,
                   { return {clip(arg(a, 0), config.at("x_min").get<float>(), config.at("x_max").get<float>())}; });
MINIDL_REGISTER_OP(Argmax, kNumpyModule, { return {argmax(arg(a, 0), config.value("axis", int64_t{-1}))}; });
MINIDL_REGISTER_OP(Sigmoid, kNnModule, { return {sigmoid(arg(a, 0))}; });
MINIDL_REGISTER_OP(Relu, kNnModule, { return {relu(arg(a, 0))}; });
MINIDL_REGISTER_OP(Softplus, kNnModule, { return {softplus(arg(a, 0))}; });
MINIDL_REGISTER_OP(Gelu, kNnModule, { return {gelu(arg(a, 0), config.value("approximate", true))}; });
MINIDL_REGISTER_OP(Cast, "keras.src.ops.core",
                   { return {cast(arg(a, 0), dtype_from_name(config.at("dtype").get<std::string>()))}; });

}  // namespace minidl::ops
