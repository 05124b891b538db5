#pragma once
// RMSprop, as keras.optimizers.RMSprop. Per variable, slot "velocity" always, "momentum" when
// momentum > 0 and "average_gradient" when centered:
//   v = rho * v + (1 - rho) * g^2
//   centered: a = rho * a + (1 - rho) * g;  denominator = v - a^2 + epsilon
//   otherwise:                              denominator = v + epsilon
//   increment = lr * g / sqrt(denominator)
//   momentum > 0: mom = momentum * mom + increment;  w -= mom
//   otherwise:    w -= increment
// (epsilon is inside the square root here, unlike Adam.)
//   md::optim::RMSprop opt({.learning_rate = 1e-3f, .rho = 0.9, .centered = true});
#include <memory>
#include <optional>
#include <string>

#include "minidl/optim/optimizer.h"

namespace minidl::optim {

struct RMSpropOptions {
  LearningRate learning_rate = 0.001f;
  double rho = 0.9;
  double momentum = 0.0;
  double epsilon = 1e-7;
  bool centered = false;
  std::optional<double> weight_decay{};
  std::optional<double> clipnorm{};
  std::optional<double> clipvalue{};
  std::optional<double> global_clipnorm{};
  std::string name{};  // empty: "rm_sprop", "rm_sprop_1", ... (Keras's snake case of "RMSprop")
};

class RMSprop : public Optimizer {
 public:
  using Options = RMSpropOptions;
  explicit RMSprop(const RMSpropOptions& options = {});
  static RMSprop from_config(const json& config);

  json get_config() const override;  // base keys, then rho, momentum, epsilon, centered
  std::shared_ptr<Optimizer> clone() const override { return std::make_shared<RMSprop>(*this); }

  double rho() const { return rho_; }
  double momentum() const { return momentum_; }
  double epsilon() const { return epsilon_; }
  bool centered() const { return centered_; }

 protected:
  void build_slots(const std::vector<Variable>& variables) override;
  void update_step(const Tensor& gradient, const Variable& variable, float learning_rate) override;

 private:
  double rho_;
  double momentum_;
  double epsilon_;
  bool centered_;
};

}  // namespace minidl::optim
