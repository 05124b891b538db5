#include "minidl/autograd/gradcheck.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "minidl/autograd/ops.h"
#include "minidl/autograd/tape.h"
#include "minidl/core/error.h"
#include "minidl/core/random.h"

namespace minidl::testing {
namespace {

double dot(const Tensor& a, const Tensor& b) {
  const float* pa = a.data();
  const float* pb = b.data();
  double s = 0.0;
  for (int64_t i = 0; i < a.size(); ++i) s += static_cast<double>(pa[i]) * pb[i];
  return s;
}

// The scalar whose gradient is checked, evaluated without any tape, in double.
using ScalarFunction = std::function<double(const std::vector<Tensor>&)>;
// The same scalar's gradient with respect to every input, from tapes.
using GradientFunction = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

GradcheckResult compare(const ScalarFunction& scalar, const GradientFunction& gradient,
                        const std::vector<Tensor>& inputs, const GradcheckOptions& options) {
  // Work on private copies so that perturbations never touch the caller's tensors.
  std::vector<Tensor> x;
  for (const Tensor& t : inputs) x.push_back(t.clone());
  const std::vector<Tensor> analytic = gradient(x);

  GradcheckResult result;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!is_floating(x[i].dtype())) continue;
    const int64_t n = x[i].size();
    const int64_t stride = options.max_elements > 0 ? std::max<int64_t>(1, n / options.max_elements) : 1;
    float* p = x[i].mutable_data();
    for (int64_t e = 0; e < n; e += stride) {
      // Five-point central stencil: truncation error O(eps^4), so a step large enough to keep
      // float32 rounding noise small still gives accurate slopes.
      const float original = p[e];
      auto at = [&](double offset) {
        p[e] = static_cast<float>(original + offset);
        const double value = scalar(x);
        p[e] = original;
        return value;
      };
      const double h = options.eps;
      const double numeric = (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12.0 * h);
      const double a = analytic[i].defined() ? analytic[i].data()[e] : 0.0;
      const double denom = std::max({std::fabs(a), std::fabs(numeric), options.abs_floor});
      const double err = std::fabs(a - numeric) / denom;
      ++result.checked_elements;
      if (err > result.max_relative_error || (std::isnan(err) && !std::isnan(result.max_relative_error))) {
        result.max_relative_error = err;
        result.input_index = i;
        result.element_index = e;
        result.analytic = a;
        result.numeric = numeric;
      }
    }
  }
  return result;
}

std::vector<Tensor> projections(const std::vector<Tensor>& like, uint64_t seed) {
  std::vector<Tensor> r;
  for (size_t i = 0; i < like.size(); ++i) r.push_back(random::uniform(like[i].shape(), -1.0f, 1.0f, seed + 7919 * i));
  return r;
}

}  // namespace

std::string GradcheckResult::describe() const {
  return fmt::format("max relative error {:.3g} at input {} element {} (tape {:.6g}, finite differences {:.6g}; "
                     "{} elements checked)",
                     max_relative_error, input_index, element_index, analytic, numeric, checked_elements);
}

GradcheckResult gradcheck(const TensorFunction& fn, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options) {
  const Tensor probe = fn(inputs);
  const Tensor r = random::uniform(probe.shape(), -1.0f, 1.0f, options.seed);
  auto scalar = [&](const std::vector<Tensor>& x) { return dot(fn(x), r); };
  auto gradient = [&](const std::vector<Tensor>& x) {
    GradientTape tape;
    for (const Tensor& t : x) tape.watch(t);
    const Tensor y = fn(x);
    return tape.gradient(ops::sum(ops::multiply(y, r)), x);
  };
  return compare(scalar, gradient, inputs, options);
}

GradcheckResult gradgradcheck(const TensorFunction& fn, const std::vector<Tensor>& inputs,
                              const GradcheckOptions& options) {
  const Tensor probe = fn(inputs);
  const Tensor r = random::uniform(probe.shape(), -1.0f, 1.0f, options.seed);
  const std::vector<Tensor> r2 = projections(inputs, options.seed + 1);
  // The first-order tape gradients d/dx_i sum(fn(x) r).
  auto first_order = [&](const std::vector<Tensor>& x) {
    GradientTape inner;
    for (const Tensor& t : x) inner.watch(t);
    const Tensor y = fn(x);
    return inner.gradient(ops::sum(ops::multiply(y, r)), x);
  };
  // h(x) = sum_i <grad_i(x), r2_i>: in double for the finite differences (float32 sums would
  // add rounding noise of order eps_float * |h| / eps), with differentiable ops for the outer tape.
  auto scalar = [&](const std::vector<Tensor>& x) {
    const std::vector<Tensor> g = first_order(x);
    double total = 0.0;
    for (size_t i = 0; i < g.size(); ++i) {
      if (g[i].defined()) total += dot(g[i], r2[i]);
    }
    return total;
  };
  auto gradient = [&](const std::vector<Tensor>& x) {
    GradientTape outer;
    for (const Tensor& t : x) outer.watch(t);
    const std::vector<Tensor> g = first_order(x);
    Tensor total = Tensor::scalar(0.0f);
    for (size_t i = 0; i < g.size(); ++i) {
      if (g[i].defined()) total = ops::add(total, ops::sum(ops::multiply(g[i], r2[i])));
    }
    return outer.gradient(total, x);
  };
  return compare(scalar, gradient, inputs, options);
}

}  // namespace minidl::testing
