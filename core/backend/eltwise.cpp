#include <cmath>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {
namespace {

dnnl::algorithm forward_algorithm(EltwiseOp op) {
  switch (op) {
    case EltwiseOp::tanh:
      return dnnl::algorithm::eltwise_tanh_use_dst_for_bwd;
    case EltwiseOp::exp:
      return dnnl::algorithm::eltwise_exp_use_dst_for_bwd;
    case EltwiseOp::log:
      return dnnl::algorithm::eltwise_log;
    case EltwiseOp::relu:
      return dnnl::algorithm::eltwise_relu;
    case EltwiseOp::sigmoid:
      return dnnl::algorithm::eltwise_logistic_use_dst_for_bwd;
    case EltwiseOp::sqrt:
      return dnnl::algorithm::eltwise_sqrt_use_dst_for_bwd;
    case EltwiseOp::abs:
      return dnnl::algorithm::eltwise_abs;
    case EltwiseOp::square:
      return dnnl::algorithm::eltwise_square;
    case EltwiseOp::gelu:
      return dnnl::algorithm::eltwise_gelu_erf;
    case EltwiseOp::gelu_tanh:
      return dnnl::algorithm::eltwise_gelu_tanh;
    case EltwiseOp::soft_relu:
      return dnnl::algorithm::eltwise_soft_relu;
    case EltwiseOp::linear:
      return dnnl::algorithm::eltwise_linear;
    case EltwiseOp::clip:
      return dnnl::algorithm::eltwise_clip_v2;
    case EltwiseOp::pow:
      return dnnl::algorithm::eltwise_pow;
  }
  return dnnl::algorithm::eltwise_linear;
}

dnnl::eltwise_forward::primitive_desc forward_desc(EltwiseOp op, int64_t n, float alpha, float beta) {
  dnnl::eltwise_forward::desc desc(dnnl::prop_kind::forward_training, forward_algorithm(op),
                                   detail::dense_desc({n}), alpha, beta);
  return dnnl::eltwise_forward::primitive_desc(desc, detail::engine());
}

}  // namespace

const char* eltwise_op_name(EltwiseOp op) {
  switch (op) {
    case EltwiseOp::tanh:
      return "tanh";
    case EltwiseOp::exp:
      return "exp";
    case EltwiseOp::log:
      return "log";
    case EltwiseOp::relu:
      return "relu";
    case EltwiseOp::sigmoid:
      return "sigmoid";
    case EltwiseOp::sqrt:
      return "sqrt";
    case EltwiseOp::abs:
      return "abs";
    case EltwiseOp::square:
      return "square";
    case EltwiseOp::gelu:
      return "gelu";
    case EltwiseOp::gelu_tanh:
      return "gelu_tanh";
    case EltwiseOp::soft_relu:
      return "soft_relu";
    case EltwiseOp::linear:
      return "linear";
    case EltwiseOp::clip:
      return "clip";
    case EltwiseOp::pow:
      return "pow";
  }
  return "?";
}

bool eltwise_backward_uses_output(EltwiseOp op) {
  return op == EltwiseOp::tanh || op == EltwiseOp::exp || op == EltwiseOp::sigmoid || op == EltwiseOp::sqrt;
}

namespace {

// relu, clip (and softplus, below) in our own loop: oneDNN 2.6's kernels compute relu and clip
// with SIMD max/min, which map a NaN input to 0 or to a bound. Written so that a NaN fails every
// comparison and passes through, as in PyTorch and TensorFlow; one pass, vectorised, as fast as
// oneDNN's.
template <class F>
void map_elements(const float* x, float* y, int64_t n, F f) {
  detail::parallel_for(n, detail::kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) y[i] = f(x[i]);
  });
}

bool forward_in_our_loop(EltwiseOp op, const float* x, float* y, int64_t n, float alpha, float beta) {
  if (op == EltwiseOp::relu && alpha == 0.0f) {
    map_elements(x, y, n, [](float v) { return v <= 0.0f ? 0.0f : v; });
    return true;
  }
  if (op == EltwiseOp::clip) {
    map_elements(x, y, n, [alpha, beta](float v) { return v < alpha ? alpha : (v > beta ? beta : v); });
    return true;
  }
  // One multiply(-add) per element: a primitive call would cost more than the loop on the small
  // tensors of a training step (a loss's square, negative), and no less on large ones.
  if (op == EltwiseOp::square) {
    map_elements(x, y, n, [](float v) { return v * v; });
    return true;
  }
  if (op == EltwiseOp::linear) {
    map_elements(x, y, n, [alpha, beta](float v) { return alpha * v + beta; });
    return true;
  }
  // oneDNN 2.6's soft_relu loses the small values of log(1 + exp(x)) below 0: it gives
  // -1.9e-6 for x = -20 (the answer is 2.1e-9) and 0 for x = -15 (3.1e-7), so x * softplus(x)
  // (mish) was off by 4e-5. log1p keeps them to float32 precision; a NaN fails x > 0 and passes.
  if (op == EltwiseOp::soft_relu) {
    map_elements(x, y, n, [](float v) { return v > 0.0f ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)); });
    return true;
  }
  // oneDNN's exp clamps its input with SIMD min/max first, so exp(NaN) comes out as +inf.
  if (op == EltwiseOp::exp && detail::any_nan(x, n)) {
    map_elements(x, y, n, [](float v) { return std::exp(v); });
    return true;
  }
  return false;
}

// The gradients that are one multiply or select per element, in our loop at every size: a
// oneDNN backward primitive's key, lookup and execute cost about 1 us, what a small training
// step pays for every relu, square and negative (bench/autograd_bench's 32-32-1 MLP), and on
// large tensors the loop streams as fast as oneDNN's kernel. The formulas are oneDNN's, so
// the results are the same: relu's is dy where x > 0, else alpha * dy (a NaN x fails x > 0).
template <class F>
void map_gradient(const float* x, const float* dy, float* dx, int64_t n, F f) {
  detail::parallel_for(n, detail::kParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) dx[i] = f(x[i], dy[i]);
  });
}

bool backward_in_our_loop(EltwiseOp op, const float* x, const float* dy, float* dx, int64_t n, float alpha) {
  switch (op) {
    case EltwiseOp::relu:
      // Only the plain relu: `x > 0 ? dy : 0` is a select, which vectorises. With a slope, any
      // form of `x > 0 ? dy : alpha * dy` GCC turns back into a branch on the sign of x (it will
      // not run a multiply it could skip, under -ftrapping-math), mispredicted half the time:
      // 3.6 ns per element of a (64, 256) gradient, 10x oneDNN's kernel. (dy * 0 would give NaN
      // for an infinite dy where x <= 0; PyTorch's threshold_backward gives 0, as here.)
      if (alpha != 0.0f) return false;
      map_gradient(x, dy, dx, n, [](float s, float d) { return s > 0.0f ? d : 0.0f; });
      return true;
    case EltwiseOp::square:
      map_gradient(x, dy, dx, n, [](float s, float d) { return 2.0f * s * d; });
      return true;
    case EltwiseOp::linear:
      detail::parallel_for(n, detail::kParallelGrain, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) dx[i] = dy[i] * alpha;
      });
      return true;
    default:
      return false;
  }
}

}  // namespace

void eltwise_forward(EltwiseOp op, const float* x, float* y, int64_t n, float alpha, float beta) {
  detail::ensure_initialized();
  if (n <= 0) return;
  if (forward_in_our_loop(op, x, y, n, alpha, beta)) return;
  const detail::OneThreadScope one_thread(n <= detail::kSingleThreadElements);
  const std::string key =
      detail::KeyBuilder("eltwise_fwd").add(eltwise_op_name(op)).add(n).add_float(alpha).add_float(beta).str();
  const auto& entry = detail::thread_primitive(
      key, [&] { return forward_desc(op, n, alpha, beta); },
      [&] {
        const auto desc = detail::dense_desc({n});
        return std::vector<detail::ArgumentDesc>{{DNNL_ARG_SRC, desc}, {DNNL_ARG_DST, desc}};
      });
  entry.run({x, y});
}

void eltwise_backward(EltwiseOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                      float alpha, float beta) {
  detail::ensure_initialized();
  if (n <= 0) return;
  if (backward_in_our_loop(op, x, dy, dx, n, alpha)) return;
  const detail::OneThreadScope one_thread(n <= detail::kSingleThreadElements);
  const std::string key =
      detail::KeyBuilder("eltwise_bwd").add(eltwise_op_name(op)).add(n).add_float(alpha).add_float(beta).str();
  const bool uses_output = eltwise_backward_uses_output(op);
  const auto& entry = detail::thread_primitive(
      key,
      [&] {
        const auto desc = detail::dense_desc({n});
        dnnl::eltwise_backward::desc bwd(forward_algorithm(op), desc, desc, alpha, beta);
        return dnnl::eltwise_backward::primitive_desc(bwd, detail::engine(), forward_desc(op, n, alpha, beta));
      },
      [&] {
        const auto desc = detail::dense_desc({n});
        return std::vector<detail::ArgumentDesc>{
            {uses_output ? DNNL_ARG_DST : DNNL_ARG_SRC, desc}, {DNNL_ARG_DIFF_DST, desc}, {DNNL_ARG_DIFF_SRC, desc}};
      });
  entry.run({uses_output ? y : x, dy, dx});
}

}  // namespace minidl::backend
