#pragma once
// Adagrad, as keras.optimizers.Adagrad. One "accumulator" slot per variable, starting at
// initial_accumulator_value:
//   acc += g^2;   w -= lr * g / sqrt(acc + epsilon)
//   md::optim::Adagrad opt({.learning_rate = 0.01f, .initial_accumulator_value = 0.1});
#include <memory>
#include <optional>
#include <string>

#include "minidl/optim/optimizer.h"

namespace minidl::optim {

struct AdagradOptions {
  LearningRate learning_rate = 0.001f;
  double initial_accumulator_value = 0.1;
  double epsilon = 1e-7;
  std::optional<double> weight_decay{};
  std::optional<double> clipnorm{};
  std::optional<double> clipvalue{};
  std::optional<double> global_clipnorm{};
  std::string name{};  // empty: "adagrad", "adagrad_1", ...
};

class Adagrad : public Optimizer {
 public:
  using Options = AdagradOptions;
  explicit Adagrad(const AdagradOptions& options = {});
  static Adagrad from_config(const json& config);

  json get_config() const override;  // base keys, then initial_accumulator_value, epsilon
  std::shared_ptr<Optimizer> clone() const override { return std::make_shared<Adagrad>(*this); }

  double initial_accumulator_value() const { return initial_accumulator_value_; }
  double epsilon() const { return epsilon_; }

 protected:
  void build_slots(const std::vector<Variable>& variables) override;
  void update_step(const Tensor& gradient, const Variable& variable, float learning_rate) override;

 private:
  double initial_accumulator_value_;
  double epsilon_;
};

}  // namespace minidl::optim
