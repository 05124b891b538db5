// The optimizers' update loops (optim/ calls them through core/compute.h): Keras's formulas in
// float32, one pass over the weights, their slots and the gradient, split across threads for
// large variables. Each element's arithmetic is the same at any thread count and on either
// kernel path (detail/optimizer_update_kernels.h).
#include <algorithm>
#include <cmath>
#include <span>
#include <utility>
#include <vector>

#include "minidl/core/backend/attention_kernels.h"
#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/loops.h"
#include "minidl/core/backend/detail/optimizer_update_kernels.h"

namespace minidl::backend {
namespace {

// Below this many elements an update runs on the calling thread.
constexpr int64_t kUpdateParallelGrain = int64_t{1} << 15;

// body(i) for every i in [0, n).
template <class Body>
void for_each_element(int64_t n, Body&& body) {
  detail::parallel_for(n, kUpdateParallelGrain, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) body(i);
  });
}

}  // namespace

void sgd_update(float* w, float* momentum, const float* g, int64_t n, float learning_rate, float mu,
                bool nesterov) {
  const float lr = learning_rate;
  float* m = momentum;
  if (m == nullptr) {
    for_each_element(n, [&](int64_t i) { w[i] -= g[i] * lr; });
  } else if (nesterov) {
    for_each_element(n, [&](int64_t i) {
      m[i] = m[i] * mu - g[i] * lr;
      w[i] += m[i] * mu - g[i] * lr;
    });
  } else {
    for_each_element(n, [&](int64_t i) {
      m[i] = m[i] * mu - g[i] * lr;
      w[i] += m[i];
    });
  }
}

namespace {

// The AVX2 build of Adam's loop when the active kernel path has AVX2 (attention_kernels.h's
// KernelPath, which tests pin to run both), else the portable one; each element is the same.
const detail::OptimizerUpdateKernels& optimizer_update_kernels() {
  return active_kernel_path() == KernelPath::portable ? detail::portable_optimizer_update_kernels()
                                                      : detail::avx2_optimizer_update_kernels();
}

}  // namespace

void adam_update(float* w, float* m, float* v, float* v_hat, const float* g, int64_t n, const AdamStep& s) {
  const AdamOperands variable{.w = w, .m = m, .v = v, .v_hat = v_hat, .g = g, .n = n};
  adam_update_all(std::span<const AdamOperands>(&variable, 1), s);
}

void adam_update_all(std::span<const AdamOperands> variables, const AdamStep& s) {
  // The variables' elements in order form one range [0, total) that is split across the threads
  // once: a model's small variables (biases, a 256 x 128 kernel) share the team instead of each
  // running alone on the calling thread, and a step pays one parallel region, not one per variable.
  std::vector<int64_t> starts(variables.size() + 1, 0);
  for (size_t i = 0; i < variables.size(); ++i) starts[i + 1] = starts[i] + variables[i].n;
  const detail::OptimizerUpdateKernels& kernels = optimizer_update_kernels();
  const float alpha = s.alpha, one_minus_beta_1 = s.one_minus_beta_1, one_minus_beta_2 = s.one_minus_beta_2,
              eps = s.epsilon;
  detail::parallel_for(starts.back(), kUpdateParallelGrain, [&](int64_t begin, int64_t end) {
    // The first variable that ends after `begin`, then each one that overlaps [begin, end).
    size_t i = static_cast<size_t>(std::upper_bound(starts.begin(), starts.end(), begin) - starts.begin()) - 1;
    for (; i < variables.size() && starts[i] < end; ++i) {
      const AdamOperands& x = variables[i];
      const int64_t from = std::max(begin, starts[i]) - starts[i], to = std::min(end, starts[i + 1]) - starts[i];
      if (from >= to) continue;
      if (x.v_hat != nullptr) {
        kernels.amsgrad(x.w + from, x.m + from, x.v + from, x.v_hat + from, x.g + from, to - from, alpha,
                        one_minus_beta_1, one_minus_beta_2, eps);
      } else {
        kernels.adam(x.w + from, x.m + from, x.v + from, x.g + from, to - from, alpha, one_minus_beta_1,
                     one_minus_beta_2, eps);
      }
    }
  });
}

void rmsprop_update(float* w, float* velocity, float* momentum, float* average, const float* g, int64_t n,
                    const RmspropStep& s) {
  const float rho = s.rho, one_minus_rho = s.one_minus_rho, eps = s.epsilon, mu = s.momentum, lr = s.learning_rate;
  float* vel = velocity;
  float* mom = momentum;
  float* avg = average;
  detail::parallel_for(n, kUpdateParallelGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      vel[i] = rho * vel[i] + one_minus_rho * (g[i] * g[i]);
      float denominator;
      if (avg != nullptr) {
        avg[i] = rho * avg[i] + one_minus_rho * g[i];
        denominator = vel[i] - avg[i] * avg[i] + eps;
      } else {
        denominator = vel[i] + eps;
      }
      const float increment = (lr * g[i]) / std::sqrt(denominator);
      if (mom != nullptr) {
        mom[i] = mu * mom[i] + increment;
        w[i] -= mom[i];
      } else {
        w[i] -= increment;
      }
    }
  });
}

void adagrad_update(float* w, float* accumulator, const float* g, int64_t n, float learning_rate, float epsilon) {
  const float lr = learning_rate, eps = epsilon;
  float* acc = accumulator;
  for_each_element(n, [&](int64_t i) {
    acc[i] += g[i] * g[i];
    w[i] -= (lr * g[i]) / std::sqrt(acc[i] + eps);
  });
}

void decay_weights(float* w, int64_t n, float weight_decay, float learning_rate) {
  // (w * wd) * lr, in Keras's order: w - w * wd * lr.
  for_each_element(n, [&](int64_t i) { w[i] = w[i] - w[i] * weight_decay * learning_rate; });
}

}  // namespace minidl::backend
