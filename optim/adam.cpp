#include "minidl/optim/adam.h"

#include <cmath>

#include "minidl/core/compute.h"
#include "minidl/optim/detail/optimizer_config.h"

namespace minidl::optim {

Adam::Adam(const AdamOptions& options) : Adam("Adam", options) {}

Adam::Adam(std::string class_name, const AdamOptions& options)
    : Optimizer(std::move(class_name), detail::base_options(options)),
      beta_1_(options.beta_1),
      beta_2_(options.beta_2),
      epsilon_(options.epsilon),
      amsgrad_(options.amsgrad) {}

void Adam::build_slots(const std::vector<Variable>& variables) {
  add_optimizer_variables(variables, std::vector<std::string>{"momentum", "velocity"});
  if (amsgrad_) add_optimizer_variables(variables, "velocity_hat");
}

void Adam::update_step(const Tensor& gradient, const Variable& variable, float learning_rate) {
  // Keras computes in the variable's float32, with the Python-float hyperparameters narrowed
  // where they meet a tensor; (1 - beta) is formed in double first, as in Python.
  const float t = static_cast<float>(iterations() + 1);
  const float beta_1_power = std::pow(static_cast<float>(beta_1_), t);
  const float beta_2_power = std::pow(static_cast<float>(beta_2_), t);
  const float alpha = learning_rate * std::sqrt(1.0f - beta_2_power) / (1.0f - beta_1_power);
  const float one_minus_beta_1 = static_cast<float>(1.0 - beta_1_);
  const float one_minus_beta_2 = static_cast<float>(1.0 - beta_2_);
  const float eps = static_cast<float>(epsilon_);

  const size_t index = variable_index(variable);
  compute::adam_update(writable(variable), writable(slot("momentum", index)), writable(slot("velocity", index)),
                       amsgrad_ ? writable(slot("velocity_hat", index)) : Tensor(), gradient,
                       {.alpha = alpha, .one_minus_beta_1 = one_minus_beta_1, .one_minus_beta_2 = one_minus_beta_2,
                        .epsilon = eps});
}

json Adam::get_config() const {
  json config = Optimizer::get_config();
  config["beta_1"] = beta_1_;
  config["beta_2"] = beta_2_;
  config["epsilon"] = epsilon_;
  config["amsgrad"] = amsgrad_;
  return config;
}

Adam Adam::from_config(const json& config) {
  ConfigReader f(config, "Adam");
  AdamOptions o;
  detail::read_adam_options(f, o);
  f.reject_unread();
  return Adam(o);
}

}  // namespace minidl::optim
