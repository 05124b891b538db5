#pragma once
// Activation functions by Keras name, as layers take them: Dense({.activation = "relu"}).
//   md::Activation act = md::activations::get("gelu");
//   md::Tensor y = act(x);
// Known names: linear, relu, relu6, leaky_relu, elu, selu, sigmoid, hard_sigmoid, log_sigmoid,
// tanh, softmax, log_softmax, softplus, softsign, silu (swish), gelu, mish, exponential.
#include <functional>
#include <string>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl {

class Activation {
 public:
  Activation() : Activation("linear") {}
  Activation(const char* name);         // NOLINT: implicit, as Keras accepts names
  Activation(const std::string& name);  // NOLINT
  Tensor operator()(const Tensor& x) const { return fn_(x); }
  const std::string& name() const { return name_; }

 private:
  std::string name_;
  std::function<Tensor(const Tensor&)> fn_;
};

namespace activations {
Activation get(const std::string& name);  // throws ValueError for unknown names
std::vector<std::string> names();
}  // namespace activations

}  // namespace minidl
