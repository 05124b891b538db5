#pragma once
// The kinds of backend operation (binary, eltwise, reduction) and the optimizer step
// parameters: plain enums and structs that core/compute.h passes through to the backend. This is
// the one backend header the folders above core see (the layering in CMakeLists.txt gives them
// no other): they name an operation here and call it through md::compute.
#include <cstdint>

namespace minidl::backend {

enum class BinaryOp { add, sub, mul, div, max, min, eq, ne, lt, le, gt, ge };
const char* binary_op_name(BinaryOp op);

enum class EltwiseOp {
  tanh,
  exp,
  log,
  relu,       // alpha: slope for x < 0 (0 = plain ReLU)
  sigmoid,
  sqrt,
  abs,
  square,
  gelu,       // exact (erf) form, Keras's and PyTorch's default
  gelu_tanh,  // tanh approximation
  soft_relu,  // softplus: log(1 + exp(x))
  linear,     // alpha * x + beta
  clip,       // min(max(x, alpha), beta)
  pow,        // alpha * x^beta
};
const char* eltwise_op_name(EltwiseOp op);

enum class ReduceOp { sum, mean, max, min };
const char* reduce_op_name(ReduceOp op);

// The recurrent cells of backend::recurrent_forward, with Keras's equations and gate order.
enum class RecurrentCell {
  lstm,             // gates i, f, c, o: c' = f c + i tanh(.), h' = o tanh(c')
  gru,              // reset_after=false: gates z, r, h; hh = tanh(x Wh + (r h) Uh + b)
  gru_reset_after,  // reset_after=true: hh = tanh(x Wh + bx + r (h Uh + bh)); two bias rows
  simple,           // h' = activation(x W + h U + b)
};

// Parameters of the Adam and RMSprop updates (backend.h has the formulas).
struct AdamStep {
  float alpha, one_minus_beta_1, one_minus_beta_2, epsilon;
};
struct RmspropStep {
  float learning_rate, rho, one_minus_rho, momentum, epsilon;
};

}  // namespace minidl::backend
