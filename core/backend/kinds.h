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

// Parameters of the Adam and RMSprop updates (backend.h has the formulas).
struct AdamStep {
  float alpha, one_minus_beta_1, one_minus_beta_2, epsilon;
};
struct RmspropStep {
  float learning_rate, rho, one_minus_rho, momentum, epsilon;
};

}  // namespace minidl::backend
