#include "minidl/optim/adagrad.h"

#include <cmath>

#include "minidl/core/compute.h"
#include "minidl/optim/detail/optimizer_config.h"

namespace minidl::optim {
Adagrad::Adagrad(const AdagradOptions& options)
    : Optimizer("Adagrad", detail::base_options(options)),
      initial_accumulator_value_(options.initial_accumulator_value),
      epsilon_(options.epsilon) {}

void Adagrad::build_slots(const std::vector<Variable>& variables) {
  add_optimizer_variables(variables, "accumulator", static_cast<float>(initial_accumulator_value_));
}

void Adagrad::update_step(const Tensor& gradient, const Variable& variable, float learning_rate) {
  compute::adagrad_update(writable(variable), writable(slot("accumulator", variable_index(variable))), gradient,
                          learning_rate, static_cast<float>(epsilon_));
}

json Adagrad::get_config() const {
  json config = Optimizer::get_config();
  config["initial_accumulator_value"] = initial_accumulator_value_;
  config["epsilon"] = epsilon_;
  return config;
}

Adagrad Adagrad::from_config(const json& config) {
  ConfigReader f(config, "Adagrad");
  AdagradOptions o;
  detail::read_optimizer_options(f, o);
  o.initial_accumulator_value = f.optional<double>("initial_accumulator_value", 0.1);
  o.epsilon = f.optional<double>("epsilon", 1e-7);
  f.reject_unread();
  return Adagrad(o);
}

}  // namespace minidl::optim
