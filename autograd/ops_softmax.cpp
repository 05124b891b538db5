// softmax / log_softmax on oneDNN's softmax primitives, forward and backward.
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/compute.h"

namespace minidl::ops {

using autograd::BackwardArgs;

namespace {

Tensor softmax_op(const char* name, const char* class_name, const Tensor& x, int64_t axis, bool log) {
  if (symbolic::any(x)) {
    normalize_axis(axis, x.ndim());
    return trace_op(class_name, {{"axis", axis}}, CallArgs::positional({x}), spec(x.shape()));
  }
  Tensor y = compute::softmax(x, axis, log);
  if (autograd::should_record(x)) {
    autograd::record(name, {x}, {y}, {y}, [axis, log](const BackwardArgs& g) {
      return std::vector<Tensor>{detail::softmax_grad(g.saved[0], g.grad(), axis, log)};
    });
  }
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) { return softmax_op("softmax", "Softmax", x, axis, false); }
Tensor log_softmax(const Tensor& x, int64_t axis) { return softmax_op("log_softmax", "LogSoftmax", x, axis, true); }

MINIDL_REGISTER_OP(Softmax, "keras.src.ops.nn", { return {softmax(arg(a, 0), config.value("axis", int64_t{-1}))}; });
MINIDL_REGISTER_OP(LogSoftmax, "keras.src.ops.nn",
                   { return {log_softmax(arg(a, 0), config.value("axis", int64_t{-1}))}; });

namespace detail {

Tensor softmax_grad(const Tensor& y, const Tensor& dy, int64_t axis, bool log) {
  Tensor dx = compute::softmax_backward(y, dy, axis, log);
  if (autograd::should_record(y, dy)) {
    autograd::record("softmax_grad", {y, dy}, {dx}, {y, dy}, [axis, log](const BackwardArgs& g) {
      const Tensor &y = g.saved[0], &dy = g.saved[1], &G = g.grad();
      Tensor d_y, d_dy;
      if (!log) {
        // dx = y (dy - s), s = sum(dy y):  d/dy_out: G (dy - s) - dy sum(G y);  d/d(dy): softmax_grad(y, G)
        if (g.needs(0)) {
          const Tensor s = sum(multiply(dy, y), {axis}, true);
          d_y = subtract(multiply(G, subtract(dy, s)), multiply(dy, sum(multiply(G, y), {axis}, true)));
        }
        if (g.needs(1)) d_dy = softmax_grad(y, G, axis, false);
      } else {
        // dx = dy - p S, p = exp(y), S = sum(dy):  d/dy_out: -G p S;  d/d(dy): G - sum(G p)
        const Tensor p = exp(y);
        if (g.needs(0)) d_y = negative(multiply(multiply(G, p), sum(dy, {axis}, true)));
        if (g.needs(1)) d_dy = subtract(G, sum(multiply(G, p), {axis}, true));
      }
      return std::vector<Tensor>{d_y, d_dy};
    });
  }
  return dx;
}

}  // namespace detail
}  // namespace minidl::ops
