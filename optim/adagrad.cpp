#include "minidl/optim/adagrad.h"

#include <cmath>

#include "minidl/optim/detail/optimizer_config.h"

namespace minidl::optim {
namespace {
constexpr int64_t kAdagradParallelThreshold = int64_t{1} << 15;
}  // namespace

Adagrad::Adagrad(const AdagradOptions& options)
    : Optimizer("Adagrad", detail::base_options(options)),
      initial_accumulator_value_(options.initial_accumulator_value),
      epsilon_(options.epsilon) {}

void Adagrad::build_slots(const std::vector<Variable>& variables) {
  add_optimizer_variables(variables, "accumulator", static_cast<float>(initial_accumulator_value_));
}

void Adagrad::update_step(const Tensor& gradient, const Variable& variable, float learning_rate) {
  const float eps = static_cast<float>(epsilon_);
  const float lr = learning_rate;
  const float* g = gradient.data();
  const int64_t n = gradient.size();
  float* w = mutable_values(variable);
  float* acc = mutable_values(slot("accumulator", variable_index(variable)));
#pragma omp parallel for simd if (n > kAdagradParallelThreshold) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    acc[i] += g[i] * g[i];
    w[i] -= (lr * g[i]) / std::sqrt(acc[i] + eps);
  }
}

json Adagrad::get_config() const {
  json config = Optimizer::get_config();
  config["initial_accumulator_value"] = initial_accumulator_value_;
  config["epsilon"] = epsilon_;
  return config;
}

Adagrad Adagrad::from_config(const json& config) {
  detail::ConfigFields f(config, "Adagrad");
  AdagradOptions o;
  detail::read_optimizer_options(f, o);
  o.initial_accumulator_value = f.number("initial_accumulator_value", 0.1);
  o.epsilon = f.number("epsilon", 1e-7);
  f.reject_unread();
  return Adagrad(o);
}

}  // namespace minidl::optim
