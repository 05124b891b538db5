// Batch normalization with batch statistics on oneDNN's batch-normalization primitives (forward
// training, which also gives the mean and the biased variance, and backward for dx, dgamma,
// dbeta). oneDNN 2.6 runs them with jit kernels only on 4-D data (its 2-D and 3-D forms are
// bnorm_ref:any), so every view is described as 4-D: (batch, channels, spatial, 1), with the
// nhwc tag for channels-last data and nchw otherwise. Our own loop covers ref:* fallbacks.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {
namespace {

using dnnl::memory;

dnnl::normalization_flags bn_flags() {
  return dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
}

memory::desc bn_data_desc(const BatchNormProblem& p) {
  return memory::desc({p.batch, p.channels, p.spatial, 1}, memory::data_type::f32,
                      p.channels_last ? memory::format_tag::nhwc : memory::format_tag::nchw);
}

memory::desc bn_channel_desc(const BatchNormProblem& p) { return detail::dense_desc({p.channels}); }

std::string bn_key(const char* kind, const BatchNormProblem& p) {
  return detail::KeyBuilder(kind)
      .add(p.channels_last ? "nspc" : "ncsp")
      .add(Dims{p.batch, p.channels, p.spatial})
      .add_float(p.epsilon)
      .str();
}

dnnl::batch_normalization_forward::primitive_desc bn_forward_desc(const BatchNormProblem& p) {
  dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_training, bn_data_desc(p), p.epsilon, bn_flags());
  return dnnl::batch_normalization_forward::primitive_desc(desc, detail::engine());
}

// Element (n, c, s) of the view.
struct BnView {
  const BatchNormProblem& p;
  int64_t at(int64_t n, int64_t c, int64_t s) const {
    return p.channels_last ? (n * p.spatial + s) * p.channels + c : (n * p.channels + c) * p.spatial + s;
  }
  template <class F>
  void for_channel(int64_t c, F&& f) const {
    for (int64_t n = 0; n < p.batch; ++n)
      for (int64_t s = 0; s < p.spatial; ++s) f(at(n, c, s));
  }
};

void bn_forward_loop(const BatchNormProblem& p, const float* x, const float* gamma, const float* beta, float* y,
                  float* mean, float* variance) {
  const BnView v{p};
  const auto count = static_cast<float>(p.batch * p.spatial);
  detail::parallel_for(p.channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      float sum = 0.0f, squares = 0.0f;
      v.for_channel(c, [&](int64_t i) { sum += x[i]; });
      const float m = sum / count;
      v.for_channel(c, [&](int64_t i) { squares += (x[i] - m) * (x[i] - m); });
      mean[c] = m;
      variance[c] = squares / count;
      const float scale = gamma[c] / std::sqrt(variance[c] + p.epsilon);
      v.for_channel(c, [&](int64_t i) { y[i] = (x[i] - m) * scale + beta[c]; });
    }
  });
}

void bn_backward_loop(const BatchNormProblem& p, const float* x, const float* mean, const float* variance,
                   const float* dy, const float* gamma, float* dx, float* dgamma, float* dbeta) {
  const BnView v{p};
  const auto count = static_cast<float>(p.batch * p.spatial);
  detail::parallel_for(p.channels, 1, [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      const float rstd = 1.0f / std::sqrt(variance[c] + p.epsilon);
      float sum_dy = 0.0f, sum_dy_xhat = 0.0f;
      v.for_channel(c, [&](int64_t i) {
        sum_dy += dy[i];
        sum_dy_xhat += dy[i] * (x[i] - mean[c]) * rstd;
      });
      dgamma[c] = sum_dy_xhat;
      dbeta[c] = sum_dy;
      // dx = gamma rstd (dy - mean(dy) - xhat mean(dy xhat))
      v.for_channel(c, [&](int64_t i) {
        const float xhat = (x[i] - mean[c]) * rstd;
        dx[i] = gamma[c] * rstd * (dy[i] - sum_dy / count - xhat * sum_dy_xhat / count);
      });
    }
  });
}

}  // namespace

void batch_norm_forward(const BatchNormProblem& p, const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* variance) {
  detail::ensure_initialized();
  if (p.channels == 0) return;
  const int64_t n = p.batch * p.channels * p.spatial;
  if (n == 0) {  // Keras's mean of nothing: NaN statistics
    std::fill(mean, mean + p.channels, std::nanf(""));
    std::fill(variance, variance + p.channels, std::nanf(""));
    return;
  }
  const detail::OneThreadScope one_thread(n <= detail::kSingleThreadElements);
  const std::string key = bn_key("bnorm_fwd", p);
  const auto& entry = detail::thread_primitive(
      key, [&] { return bn_forward_desc(p); },
      [&] {
        return std::vector<detail::ArgumentDesc>{{DNNL_ARG_SRC, bn_data_desc(p)},       {DNNL_ARG_DST, bn_data_desc(p)},
                                                 {DNNL_ARG_SCALE, bn_channel_desc(p)},  {DNNL_ARG_SHIFT, bn_channel_desc(p)},
                                                 {DNNL_ARG_MEAN, bn_channel_desc(p)},   {DNNL_ARG_VARIANCE, bn_channel_desc(p)}};
      });
  if (entry.is_reference()) {
    detail::mark_unused(key);
    bn_forward_loop(p, x, gamma, beta, y, mean, variance);
    return;
  }
  entry.run({x, y, gamma, beta, mean, variance});
}

void batch_norm_backward(const BatchNormProblem& p, const float* x, const float* mean, const float* variance,
                         const float* dy, const float* gamma, float* dx, float* dgamma, float* dbeta) {
  detail::ensure_initialized();
  if (p.channels == 0) return;
  const int64_t n = p.batch * p.channels * p.spatial;
  if (n == 0) {
    std::fill(dgamma, dgamma + p.channels, 0.0f);
    std::fill(dbeta, dbeta + p.channels, 0.0f);
    return;
  }
  const detail::OneThreadScope one_thread(n <= detail::kSingleThreadElements);
  const std::string key = bn_key("bnorm_bwd", p);
  const auto& entry = detail::thread_primitive(
      key,
      [&] {
        dnnl::batch_normalization_backward::desc desc(dnnl::prop_kind::backward, bn_data_desc(p), bn_data_desc(p),
                                                      p.epsilon, bn_flags());
        return dnnl::batch_normalization_backward::primitive_desc(desc, detail::engine(), bn_forward_desc(p));
      },
      [&] {
        return std::vector<detail::ArgumentDesc>{
            {DNNL_ARG_SRC, bn_data_desc(p)},          {DNNL_ARG_MEAN, bn_channel_desc(p)},
            {DNNL_ARG_VARIANCE, bn_channel_desc(p)},  {DNNL_ARG_DIFF_DST, bn_data_desc(p)},
            {DNNL_ARG_SCALE, bn_channel_desc(p)},     {DNNL_ARG_SHIFT, bn_channel_desc(p)},
            {DNNL_ARG_DIFF_SRC, bn_data_desc(p)},
            {DNNL_ARG_DIFF_SCALE, bn_channel_desc(p)}, {DNNL_ARG_DIFF_SHIFT, bn_channel_desc(p)}};
      });
  if (entry.is_reference()) {
    detail::mark_unused(key);
    bn_backward_loop(p, x, mean, variance, dy, gamma, dx, dgamma, dbeta);
    return;
  }
  // oneDNN 2.6 refuses to run the backward without a SHIFT argument, which it does not read:
  // gamma stands in.
  entry.run({x, mean, variance, dy, gamma, gamma, dx, dgamma, dbeta});
}

}  // namespace minidl::backend
