#pragma once
// Activation functions by Keras name, as layers take them: Dense({.activation = "relu"}).
//   md::Activation act = md::activations::get("gelu");
//   md::Tensor y = act(x);
// Known names (Keras's defaults for their parameters): linear, relu, relu6, leaky_relu, elu, selu,
// celu, sigmoid, hard_sigmoid, log_sigmoid, sparse_sigmoid, tanh, hard_tanh, tanh_shrink,
// hard_shrink, soft_shrink, softmax, log_softmax, softplus, softsign, sparse_plus, squareplus,
// silu (swish), hard_silu (hard_swish), gelu, glu, mish, exponential. Not available: threshold
// (it has no defaults) and sparsemax.
//
// In configs an activation is written as its name ("relu", as Keras writes built-ins) and read
// back from a name, null (linear) or Keras's serialized-function object
//   {"module": "keras.activations", "class_name": "function", "config": "relu", "registered_name": "relu"}
// with activations::deserialize / activations::from_config.
#include <functional>
#include <string>
#include <vector>

#include "minidl/core/json.h"
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

class ConfigReader;

namespace activations {
Activation get(const std::string& name);  // throws ValueError for unknown names
std::vector<std::string> names();

// Keras's activations.serialize for built-ins: the name.
json serialize(const Activation& activation);
// Keras's activations.get on a config value: a name, null (linear), or a serialized function
// object (module "keras.activations", "keras.src.activations.activations" or "builtins"; the
// function is its "config", else its "registered_name"). Throws ValueError ("Could not
// interpret activation function identifier: ...") for anything else.
Activation deserialize(const json& value);
// The activation under `key` of a layer config (linear when absent or null); errors name the
// key and the class.
Activation from_config(const ConfigReader& reader, const std::string& key);
}  // namespace activations

}  // namespace minidl
