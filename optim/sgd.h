#pragma once
// SGD: gradient descent with optional (Nesterov) momentum, as keras.optimizers.SGD.
//   md::optim::SGD opt({.learning_rate = 0.1f, .momentum = 0.9, .nesterov = true});
//   opt.apply(grads, model.trainable_variables());
// Without momentum: w -= lr * g. With momentum (one "momentum" slot per variable):
//   m = momentum * m - lr * g;   w += m                              (nesterov = false)
//                                w += momentum * m - lr * g          (nesterov = true, new m)
#include <memory>
#include <optional>
#include <string>

#include "minidl/optim/optimizer.h"

namespace minidl::optim {

// Fields in the order of Keras's signature, so designated initializers read like its kwargs.
struct SGDOptions {
  LearningRate learning_rate = 0.01f;
  double momentum = 0.0;  // in [0, 1]; 0 creates no slots
  bool nesterov = false;
  std::optional<double> weight_decay{};
  std::optional<double> clipnorm{};
  std::optional<double> clipvalue{};
  std::optional<double> global_clipnorm{};
  std::string name{};  // empty: "sgd", "sgd_1", ...
};

class SGD : public Optimizer {
 public:
  using Options = SGDOptions;
  // Throws ValueError "`momentum` must be a float between [0, 1]." (Keras's text).
  explicit SGD(const SGDOptions& options = {});
  static SGD from_config(const json& config);

  json get_config() const override;  // base keys, then momentum, nesterov
  std::shared_ptr<Optimizer> clone() const override { return std::make_shared<SGD>(*this); }

  double momentum() const { return momentum_; }
  bool nesterov() const { return nesterov_; }

 protected:
  void build_slots(const std::vector<Variable>& variables) override;
  void update_step(const Tensor& gradient, const Variable& variable, float learning_rate) override;

 private:
  double momentum_;
  bool nesterov_;
};

}  // namespace minidl::optim
