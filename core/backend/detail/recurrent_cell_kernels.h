#pragma once
// Private to core/backend: the gate arithmetic of one time step of a recurrent cell, one batch row
// (`units` wide) per call, behind recurrent.cpp's loop, and the product every one of its matrix
// products runs on: per step against a kernel packed once per sequence (oneDNN's sgemm would
// repack the same recurrent kernel at every step of every thread), and the weight gradients over
// all steps against the gate gradients packed by the loop. The gate kernels turn pre-activations
// into states and, backwards, state gradients into pre-activation gradients. Written once in
// recurrent_cell_kernels.inc and built for AVX2 + FMA (recurrent_cells_avx2.cpp) and for baseline
// x86-64 (recurrent_cells_portable.cpp); sigmoid and tanh are the rational tanh of
// attention_row_kernels.h (sigmoid(x) = (1 + tanh(x / 2)) / 2), so they agree with tanh to about
// 5e-7.
//
// Gate rows hold the gates side by side in Keras's order, each `units` long. Rows named *_prev are
// the state before the step.
#include <cstdint>

namespace minidl::backend::detail {

// A packed right-hand side b (k x n) is ceil(n / kPanelWidth) panels, panel p holding columns
// [p kPanelWidth, (p + 1) kPanelWidth) of every row k contiguously (panel[k kPanelWidth + j]), the
// columns past n zero. One panel row is two AVX2 registers.
constexpr int64_t kPanelWidth = 16;

struct RecurrentCellKernels {
  // LSTM. gates: pre-activations of i, f, c, o in, activations out; c = f c_prev + i g;
  // h = o tanh(c), tanh(c) kept for the backward (which would otherwise evaluate it again).
  void (*lstm_forward)(float* gates, const float* c_prev, float* c, float* tanh_c, float* h, int64_t units);
  // dh: the gradient reaching h; dc: in, the gradient reaching c from the next step, out, the one
  // reaching c_prev; d_gates: the pre-activation gradients.
  void (*lstm_backward)(const float* gates, const float* c_prev, const float* tanh_c, const float* dh, float* dc,
                        float* d_gates, int64_t units);
  // GRU, reset before the product (Keras reset_after=false), in two halves around the product
  // (r h_prev) Uh. First: z, r pre-activations -> activations, rh = r h_prev.
  void (*gru_forward_gates)(float* gates, const float* h_prev, float* rh, int64_t units);
  // Then: hh pre-activation -> activation, h = z h_prev + (1 - z) hh.
  void (*gru_forward_output)(float* gates, const float* h_prev, float* h, int64_t units);
  // Backward, first half: the z and hh parts of d_gates, and dh_prev = dh z.
  void (*gru_backward_output)(const float* gates, const float* h_prev, const float* dh, float* d_gates,
                              float* dh_prev, int64_t units);
  // Second half, from d_rh = d(hh pre) Uh^T: the r part of d_gates, and dh_prev += d_rh r.
  void (*gru_backward_reset)(const float* gates, const float* h_prev, const float* d_rh, float* d_gates,
                             float* dh_prev, int64_t units);
  // GRU, reset after the product (reset_after=true). gates: x W + b_x pre-activations in,
  // activations out; hu = h_prev U + b_h (3 units); hr_out = its h part (kept for backward).
  void (*gru_after_forward)(float* gates, const float* hu, const float* h_prev, float* hr_out, float* h,
                            int64_t units);
  // d_input: gradients of the x W + b_x pre-activations; d_recurrent: of h_prev U + b_h;
  // dh_prev = dh z (the product's share is added outside).
  void (*gru_after_backward)(const float* gates, const float* hr, const float* h_prev, const float* dh,
                             float* d_input, float* d_recurrent, float* dh_prev, int64_t units);
  // Simple RNN: h = activation(pre) for activation 0 tanh, 1 relu, 2 sigmoid; backward from h.
  void (*simple_forward)(const float* pre, float* h, int64_t units, int activation);
  void (*simple_backward)(const float* h, const float* dh, float* d_pre, int64_t units, int activation);
  // c (m x n, leading dimension ldc) = a (m x k, lda) b [+ bias], or c + that when `accumulate`;
  // b packed as above, bias (n) or nullptr. Each element's sum runs over k in order (in slices of
  // 256 added in order when k is deeper), whatever m, so a row's result does not depend on how the
  // batch was split between threads.
  void (*panel_product)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* panels, float* c,
                        int64_t ldc, bool accumulate, const float* bias);
};

const RecurrentCellKernels& avx2_recurrent_cell_kernels();  // only when cpu_has_avx2_fma()
const RecurrentCellKernels& portable_recurrent_cell_kernels();

}  // namespace minidl::backend::detail
