#pragma once
// Gradient checking: tape gradients against central finite differences.
//
//   auto f = [](const std::vector<md::Tensor>& in) { return md::ops::tanh(in[0] * in[1]); };
//   auto result = md::testing::gradcheck(f, {x, y});
//   REQUIRE(result.max_relative_error < 1e-2);   // result.describe() says where it peaked
//
// fn may return a tensor of any shape; the checked scalar is sum(fn(inputs) * R) for a fixed
// random R, so every output element is exercised. Finite differences (a five-point stencil)
// perturb each float32 input element by +-eps and +-2 eps and accumulate the scalar in double.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl::testing {

using TensorFunction = std::function<Tensor(const std::vector<Tensor>&)>;

struct GradcheckOptions {
  double eps = 1e-2;          // finite-difference step (float32 rounding noise grows as eps shrinks)
  double abs_floor = 1e-3;    // relative errors divide by max(|analytic|, |numeric|, abs_floor)
  uint64_t seed = 20240531;   // for the output projection R
  int64_t max_elements = 0;   // > 0: check at most this many elements per input (evenly spread)
};

struct GradcheckResult {
  double max_relative_error = 0.0;
  size_t input_index = 0;     // where the worst error happened
  int64_t element_index = 0;
  double analytic = 0.0;
  double numeric = 0.0;
  int64_t checked_elements = 0;
  std::string describe() const;
};

// First order: d/dx sum(fn(x) * R).
GradcheckResult gradcheck(const TensorFunction& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

// Second order: the gradient (through nested tapes) of h(x) = sum_i <grad_i(x), R2_i>, where
// grad_i is the first-order tape gradient, against finite differences of h.
GradcheckResult gradgradcheck(const TensorFunction& fn, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options = {});

}  // namespace minidl::testing
