#include "minidl/optim/adam.h"

#include "minidl/optim/adamw.h"

#include <cmath>
#include <typeinfo>

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

namespace {

// This step's constants: Keras's bias correction at iterations() + 1.
compute::AdamStep step_constants(const Adam& adam, float learning_rate) {
  // Keras computes in the variable's float32, with the Python-float hyperparameters narrowed
  // where they meet a tensor; (1 - beta) is formed in double first, as in Python.
  const float t = static_cast<float>(adam.iterations() + 1);
  const float beta_1_power = std::pow(static_cast<float>(adam.beta_1()), t);
  const float beta_2_power = std::pow(static_cast<float>(adam.beta_2()), t);
  const float alpha = learning_rate * std::sqrt(1.0f - beta_2_power) / (1.0f - beta_1_power);
  return {.alpha = alpha,
          .one_minus_beta_1 = static_cast<float>(1.0 - adam.beta_1()),
          .one_minus_beta_2 = static_cast<float>(1.0 - adam.beta_2()),
          .epsilon = static_cast<float>(adam.epsilon())};
}

}  // namespace

std::array<Tensor, 4> Adam::written_state(const Variable& variable) {
  const size_t index = variable_index(variable);
  return {writable(variable), writable(slot("momentum", index)), writable(slot("velocity", index)),
          amsgrad_ ? writable(slot("velocity_hat", index)) : Tensor()};
}

void Adam::update_step(const Tensor& gradient, const Variable& variable, float learning_rate) {
  const auto [w, m, v, v_hat] = written_state(variable);
  compute::adam_update(w, m, v, v_hat, gradient, step_constants(*this, learning_rate));
}

void Adam::update_steps(const std::vector<Tensor>& gradients, const std::vector<Variable>& variables,
                        float learning_rate) {
  // Adam and AdamW run their own update_step; a subclass may have replaced it, and its update
  // must then run per variable.
  const std::type_info& type = typeid(*this);
  if (type != typeid(Adam) && type != typeid(AdamW)) {
    Optimizer::update_steps(gradients, variables, learning_rate);
    return;
  }
  std::vector<compute::AdamTensors> all;
  all.reserve(variables.size());
  for (size_t i = 0; i < variables.size(); ++i) {
    const auto [w, m, v, v_hat] = written_state(variables[i]);
    all.push_back({.w = w, .m = m, .v = v, .v_hat = v_hat, .g = gradients[i]});
  }
  compute::adam_update_all(all, step_constants(*this, learning_rate));
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
