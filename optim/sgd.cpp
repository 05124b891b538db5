#include "minidl/optim/sgd.h"

#include <cmath>

#include "minidl/core/compute.h"
#include "minidl/core/error.h"
#include "minidl/optim/detail/optimizer_config.h"

namespace minidl::optim {
SGD::SGD(const SGDOptions& options)
    : Optimizer("SGD", detail::base_options(options)), momentum_(options.momentum), nesterov_(options.nesterov) {
  if (!(momentum_ >= 0.0 && momentum_ <= 1.0)) {  // NaN fails too
    throw ValueError("`momentum` must be a float between [0, 1].");
  }
}

void SGD::build_slots(const std::vector<Variable>& variables) {
  if (momentum_ != 0.0) add_optimizer_variables(variables, "momentum");
}

void SGD::update_step(const Tensor& gradient, const Variable& variable, float learning_rate) {
  const Tensor momentum = momentum_ == 0.0 ? Tensor() : writable(slot("momentum", variable_index(variable)));
  compute::sgd_update(writable(variable), momentum, gradient, learning_rate, static_cast<float>(momentum_), nesterov_);
}

json SGD::get_config() const {
  json config = Optimizer::get_config();
  config["momentum"] = momentum_;
  config["nesterov"] = nesterov_;
  return config;
}

SGD SGD::from_config(const json& config) {
  ConfigReader f(config, "SGD");
  SGDOptions o;
  detail::read_optimizer_options(f, o);
  o.momentum = f.optional<double>("momentum", 0.0);
  o.nesterov = f.optional<bool>("nesterov", false);
  f.reject_unread();
  return SGD(o);
}

}  // namespace minidl::optim
