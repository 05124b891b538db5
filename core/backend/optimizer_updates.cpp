// The optimizers' update loops (optim/ calls them through core/compute.h): Keras's formulas in
// float32, one pass over the weights, their slots and the gradient, parallel for large
// variables. Each element's arithmetic is the same at any thread count.
#include <algorithm>
#include <cmath>

#include "minidl/core/backend/backend.h"

namespace minidl::backend {
namespace {
// Below this many elements an update runs on the calling thread.
constexpr int64_t kUpdateParallelGrain = int64_t{1} << 15;
}  // namespace

void sgd_update(float* w, float* momentum, const float* g, int64_t n, float learning_rate, float mu,
                bool nesterov) {
  const float lr = learning_rate;
  if (momentum == nullptr) {
#pragma omp parallel for simd if (n > kUpdateParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) w[i] -= g[i] * lr;
    return;
  }
  float* m = momentum;
  if (nesterov) {
#pragma omp parallel for simd if (n > kUpdateParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      m[i] = m[i] * mu - g[i] * lr;
      w[i] += m[i] * mu - g[i] * lr;
    }
  } else {
#pragma omp parallel for simd if (n > kUpdateParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      m[i] = m[i] * mu - g[i] * lr;
      w[i] += m[i];
    }
  }
}

void adam_update(float* w, float* m, float* v, float* v_hat, const float* g, int64_t n, const AdamStep& s) {
  const float alpha = s.alpha, one_minus_beta_1 = s.one_minus_beta_1, one_minus_beta_2 = s.one_minus_beta_2,
              eps = s.epsilon;
  if (v_hat != nullptr) {
#pragma omp parallel for simd if (n > kUpdateParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      m[i] += (g[i] - m[i]) * one_minus_beta_1;
      v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2;
      v_hat[i] = std::max(v_hat[i], v[i]);
      w[i] -= (m[i] * alpha) / (std::sqrt(v_hat[i]) + eps);
    }
  } else {
#pragma omp parallel for simd if (n > kUpdateParallelGrain) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      m[i] += (g[i] - m[i]) * one_minus_beta_1;
      v[i] += (g[i] * g[i] - v[i]) * one_minus_beta_2;
      w[i] -= (m[i] * alpha) / (std::sqrt(v[i]) + eps);
    }
  }
}

void rmsprop_update(float* w, float* velocity, float* momentum, float* average, const float* g, int64_t n,
                    const RmspropStep& s) {
  const float rho = s.rho, one_minus_rho = s.one_minus_rho, eps = s.epsilon, mu = s.momentum,
              lr = s.learning_rate;
  float* vel = velocity;
  float* mom = momentum;
  float* avg = average;
#pragma omp parallel for if (n > kUpdateParallelGrain) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
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
}

void adagrad_update(float* w, float* accumulator, const float* g, int64_t n, float learning_rate, float epsilon) {
  const float lr = learning_rate, eps = epsilon;
  float* acc = accumulator;
#pragma omp parallel for simd if (n > kUpdateParallelGrain) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    acc[i] += g[i] * g[i];
    w[i] -= (lr * g[i]) / std::sqrt(acc[i] + eps);
  }
}

void decay_weights(float* w, int64_t n, float weight_decay, float learning_rate) {
  // (w * wd) * lr, in Keras's order: w - w * wd * lr.
#pragma omp parallel for simd if (n > kUpdateParallelGrain) schedule(static)
  for (int64_t i = 0; i < n; ++i) w[i] = w[i] - w[i] * weight_decay * learning_rate;
}

}  // namespace minidl::backend
