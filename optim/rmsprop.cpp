#include "minidl/optim/rmsprop.h"

#include <cmath>

#include "minidl/core/compute.h"
#include "minidl/optim/detail/optimizer_config.h"

namespace minidl::optim {
RMSprop::RMSprop(const RMSpropOptions& options)
    : Optimizer("RMSprop", detail::base_options(options)),
      rho_(options.rho),
      momentum_(options.momentum),
      epsilon_(options.epsilon),
      centered_(options.centered) {}

void RMSprop::build_slots(const std::vector<Variable>& variables) {
  // Three separate calls, as Keras: all velocities, then all momentums, then all averages.
  add_optimizer_variables(variables, "velocity");
  if (momentum_ > 0) add_optimizer_variables(variables, "momentum");
  if (centered_) add_optimizer_variables(variables, "average_gradient");
}

void RMSprop::update_step(const Tensor& gradient, const Variable& variable, float learning_rate) {
  const float rho = static_cast<float>(rho_);
  const float one_minus_rho = static_cast<float>(1.0 - rho_);
  const float eps = static_cast<float>(epsilon_);
  const float mu = static_cast<float>(momentum_);
  const float lr = learning_rate;

  const size_t index = variable_index(variable);
  compute::rmsprop_update(writable(variable), writable(slot("velocity", index)),
                          momentum_ > 0 ? writable(slot("momentum", index)) : Tensor(),
                          centered_ ? writable(slot("average_gradient", index)) : Tensor(), gradient,
                          {.learning_rate = lr, .rho = rho, .one_minus_rho = one_minus_rho, .momentum = mu,
                           .epsilon = eps});
}

json RMSprop::get_config() const {
  json config = Optimizer::get_config();
  config["rho"] = rho_;
  config["momentum"] = momentum_;
  config["epsilon"] = epsilon_;
  config["centered"] = centered_;
  return config;
}

RMSprop RMSprop::from_config(const json& config) {
  ConfigReader f(config, "RMSprop");
  RMSpropOptions o;
  detail::read_optimizer_options(f, o);
  o.rho = f.optional<double>("rho", 0.9);
  o.momentum = f.optional<double>("momentum", 0.0);
  o.epsilon = f.optional<double>("epsilon", 1e-7);
  o.centered = f.optional<bool>("centered", false);
  f.reject_unread();
  return RMSprop(o);
}

}  // namespace minidl::optim
