// softmax / log_softmax on oneDNN's softmax primitives (one OpDef each, autograd/op_def.h), and
// their gradient op, whose own rule gives second derivatives.
#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/core/compute.h"

namespace minidl::ops {

using autograd::BackwardArgs;

namespace {

struct SoftmaxAttrs {
  int64_t axis = -1;
  static constexpr auto fields() { return std::tuple{op_attr("axis", &SoftmaxAttrs::axis)}; }
};

template <bool kLog>
constexpr OpDef<SoftmaxAttrs> softmax_def(const char* name) {
  return {.name = name,
          .module = kNnModule,
          .spec = [](OpInputs x, const SoftmaxAttrs& a) {
            normalize_axis(a.axis, x[0].ndim());
            return Tensor::symbolic(x[0].shape(), DType::float32);
          },
          .forward = [](OpInputs x, const SoftmaxAttrs& a, OpSaved& saved) {
            Tensor y = compute::softmax(x[0], a.axis, kLog);
            saved.push_back(y);
            return y;
          },
          .backward = [](const OpGrad& g, const SoftmaxAttrs& a) {
            return std::vector<Tensor>{detail::softmax_grad(g.saved(0), g.grad(), a.axis, kLog)};
          }};
}
constexpr OpDef<SoftmaxAttrs> kSoftmax = softmax_def<false>("Softmax");
constexpr OpDef<SoftmaxAttrs> kLogSoftmax = softmax_def<true>("LogSoftmax");

}  // namespace

MINIDL_DEFINE_OP(kSoftmax);
MINIDL_DEFINE_OP(kLogSoftmax);

Tensor softmax(const Tensor& x, int64_t axis) { return apply(kSoftmax, {x}, {.axis = axis}); }
Tensor log_softmax(const Tensor& x, int64_t axis) { return apply(kLogSoftmax, {x}, {.axis = axis}); }

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
