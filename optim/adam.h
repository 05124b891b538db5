#pragma once
// Adam, as keras.optimizers.Adam, with Keras's "epsilon hat" placement. At step t = iterations + 1
// (slots "momentum" and "velocity" per variable, plus "velocity_hat" with amsgrad):
//   alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
//   m += (g - m) * (1 - beta_1);   v += (g^2 - v) * (1 - beta_2)
//   amsgrad: v_hat = max(v_hat, v), and v_hat is used for v below
//   w -= m * alpha / (sqrt(v) + epsilon)
// Epsilon is added to the square root of the uncorrected v: textbook Adam with
// eps * sqrt(1 - beta_2^t) in place of eps.
//   md::optim::Adam opt({.learning_rate = 1e-3f});
#include <array>
#include <memory>
#include <optional>
#include <string>

#include "minidl/optim/optimizer.h"

namespace minidl::optim {

struct AdamOptions {
  LearningRate learning_rate = 0.001f;
  double beta_1 = 0.9;
  double beta_2 = 0.999;
  double epsilon = 1e-7;
  bool amsgrad = false;
  std::optional<double> weight_decay{};
  std::optional<double> clipnorm{};
  std::optional<double> clipvalue{};
  std::optional<double> global_clipnorm{};
  std::string name{};  // empty: "adam", "adam_1", ...
};

class Adam : public Optimizer {
 public:
  using Options = AdamOptions;
  explicit Adam(const AdamOptions& options = {});
  static Adam from_config(const json& config);

  json get_config() const override;  // base keys, then beta_1, beta_2, epsilon, amsgrad
  std::shared_ptr<Optimizer> clone() const override { return std::make_shared<Adam>(*this); }

  double beta_1() const { return beta_1_; }
  double beta_2() const { return beta_2_; }
  double epsilon() const { return epsilon_; }
  bool amsgrad() const { return amsgrad_; }

 protected:
  // For AdamW, which is Adam under another class name.
  Adam(std::string class_name, const AdamOptions& options);
  void build_slots(const std::vector<Variable>& variables) override;
  void update_step(const Tensor& gradient, const Variable& variable, float learning_rate) override;
  // All variables in one pass (compute::adam_update_all). A subclass that overrides update_step
  // keeps it: then each variable goes through update_step as in the base class.
  void update_steps(const std::vector<Tensor>& gradients, const std::vector<Variable>& variables,
                    float learning_rate) override;

 private:
  double beta_1_;
  double beta_2_;
  double epsilon_;
  bool amsgrad_;

  // A built variable's value, momentum, velocity and velocity_hat (undefined without amsgrad),
  // each marked as written (its storage version bumped).
  std::array<Tensor, 4> written_state(const Variable& variable);
};

}  // namespace minidl::optim
