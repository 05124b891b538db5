#pragma once
// Private to core/backend: the per-element loops of the optimizer updates that are worth a wider
// vector build. Adam's update divides by a square root per element, and in the baseline x86-64
// build (4-float SSE vectors) those two instructions bound it; built again for 8-float AVX2
// vectors it takes about half the time (optimizer_updates_avx2.cpp). Both builds come from one
// file (optimizer_update_kernels.inc) without fused multiply-adds, so every element is rounded
// exactly as in the portable build: the paths give bit-identical weights and slots.
#include <cstdint>

namespace minidl::backend::detail {

struct OptimizerUpdateKernels {
  // Adam over n elements: m += (g - m) one_minus_beta_1; v += (g^2 - v) one_minus_beta_2;
  // w -= m alpha / (sqrt(v) + eps). amsgrad: the same with v_hat = max(v_hat, v) under the root.
  void (*adam)(float* w, float* m, float* v, const float* g, int64_t n, float alpha, float one_minus_beta_1,
               float one_minus_beta_2, float eps);
  void (*amsgrad)(float* w, float* m, float* v, float* v_hat, const float* g, int64_t n, float alpha,
                  float one_minus_beta_1, float one_minus_beta_2, float eps);
};

const OptimizerUpdateKernels& avx2_optimizer_update_kernels();  // only when the CPU has AVX2
const OptimizerUpdateKernels& portable_optimizer_update_kernels();

}  // namespace minidl::backend::detail
