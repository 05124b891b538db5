#include "minidl/optim/sgd.h"

#include <cmath>

#include "minidl/core/error.h"
#include "minidl/optim/detail/optimizer_config.h"

namespace minidl::optim {
namespace {
// Below this many elements a loop is not worth waking the OpenMP team for.
constexpr int64_t kSgdParallelThreshold = int64_t{1} << 15;
}  // namespace

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
  const float* g = gradient.data();
  const int64_t n = gradient.size();
  const float lr = learning_rate;
  if (momentum_ == 0.0) {
    float* w = mutable_values(variable);
#pragma omp parallel for simd if (n > kSgdParallelThreshold) schedule(static)
    for (int64_t i = 0; i < n; ++i) w[i] -= g[i] * lr;
    return;
  }
  const float mu = static_cast<float>(momentum_);
  float* w = mutable_values(variable);
  float* m = mutable_values(slot("momentum", variable_index(variable)));
  if (nesterov_) {
#pragma omp parallel for simd if (n > kSgdParallelThreshold) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      m[i] = m[i] * mu - g[i] * lr;
      w[i] += m[i] * mu - g[i] * lr;
    }
  } else {
#pragma omp parallel for simd if (n > kSgdParallelThreshold) schedule(static)
    for (int64_t i = 0; i < n; ++i) {
      m[i] = m[i] * mu - g[i] * lr;
      w[i] += m[i];
    }
  }
}

json SGD::get_config() const {
  json config = Optimizer::get_config();
  config["momentum"] = momentum_;
  config["nesterov"] = nesterov_;
  return config;
}

SGD SGD::from_config(const json& config) {
  detail::ConfigFields f(config, "SGD");
  SGDOptions o;
  detail::read_optimizer_options(f, o);
  o.momentum = f.number("momentum", 0.0);
  o.nesterov = f.boolean("nesterov", false);
  f.reject_unread();
  return SGD(o);
}

}  // namespace minidl::optim
