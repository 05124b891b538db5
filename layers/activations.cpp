#include "minidl/layers/activations.h"

#include <cmath>
#include <map>

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/autograd/tape.h"
#include "minidl/core/class_table.h"
#include "minidl/core/error.h"
#include "minidl/core/config_reader.h"

namespace minidl {
namespace {

using Fn = std::function<Tensor(const Tensor&)>;

Tensor non_positive(const Tensor& x) { return ops::minimum(x, Tensor::scalar(0.0f)); }

// clip(x, lo, hi) with a gradient of 1 strictly between the bounds and 0 at them (ops::clip
// passes the gradient at its bounds, TensorFlow's rule for clip_by_value).
Tensor clip_open_gradient(const Tensor& x, float lo, float hi) {
  using namespace ops;
  const Tensor inside = logical_and(greater(x, Tensor::scalar(lo)), less(x, Tensor::scalar(hi)));
  return where(inside, x, stop_gradient(clip(x, lo, hi)));
}

// Keras's relu6 has a zero gradient at 0 and at 6 on every backend (jax.nn.relu6's custom
// derivative, TensorFlow's Relu6Grad).
Tensor relu6(const Tensor& x) { return clip_open_gradient(x, 0.0f, 6.0f); }

// Keras's hard_sigmoid is relu6(x + 3) / 6 (jax.nn.hard_sigmoid), so its gradient is 0 at +-3.
Tensor hard_sigmoid(const Tensor& x) { return ops::divide(relu6(ops::add(x, 3.0f)), 6.0f); }

const std::map<std::string, Fn>& builtin_functions() {
  using namespace ops;
  static const std::map<std::string, Fn> t = {
      {"linear", [](const Tensor& x) { return x; }},
      {"relu", [](const Tensor& x) { return relu(x); }},
      {"relu6", [](const Tensor& x) { return relu6(x); }},
      // x >= 0 keeps x, so the gradient at 0 is 1 (jax.nn.leaky_relu, which Keras 3.15 on JAX
      // runs; TensorFlow's LeakyReluGrad gives the slope 0.2 there).
      {"leaky_relu", [](const Tensor& x) { return where(greater_equal(x, Tensor::scalar(0.0f)), x, multiply(x, 0.2f)); }},
      // exp() only sees the non-positive part, so large inputs cannot make the unused branch (and
      // its gradient, inf * 0) NaN.
      {"elu", [](const Tensor& x) { return where(greater(x, Tensor::scalar(0.0f)), x, subtract(exp(non_positive(x)), 1.0f)); }},
      {"selu",
       [](const Tensor& x) {
         constexpr float kAlpha = 1.67326324f, kScale = 1.05070098f;
         return multiply(
             where(greater(x, Tensor::scalar(0.0f)), x, multiply(subtract(exp(non_positive(x)), 1.0f), kAlpha)), kScale);
       }},
      {"celu",  // alpha = 1
       [](const Tensor& x) { return where(greater(x, Tensor::scalar(0.0f)), x, subtract(exp(non_positive(x)), 1.0f)); }},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }},
      {"hard_sigmoid", [](const Tensor& x) { return hard_sigmoid(x); }},
      {"log_sigmoid", [](const Tensor& x) { return negative(softplus(negative(x))); }},
      {"tanh", [](const Tensor& x) { return tanh(x); }},
      {"softmax", [](const Tensor& x) { return softmax(x, -1); }},
      {"log_softmax", [](const Tensor& x) { return log_softmax(x, -1); }},
      {"softplus", [](const Tensor& x) { return softplus(x); }},
      {"softsign", [](const Tensor& x) { return divide(x, add(abs(x), 1.0f)); }},
      {"silu", [](const Tensor& x) { return multiply(x, sigmoid(x)); }},
      {"swish", [](const Tensor& x) { return multiply(x, sigmoid(x)); }},
      {"gelu", [](const Tensor& x) { return gelu(x, /*approximate=*/false); }},
      {"mish", [](const Tensor& x) { return multiply(x, tanh(softplus(x))); }},
      {"exponential", [](const Tensor& x) { return exp(x); }},
      {"hard_silu", [](const Tensor& x) { return multiply(x, hard_sigmoid(x)); }},
      {"hard_swish", [](const Tensor& x) { return multiply(x, hard_sigmoid(x)); }},
      {"hard_tanh", [](const Tensor& x) { return clip(x, -1.0f, 1.0f); }},
      // The shrink functions test for the zero band, not for its outside, so that a NaN (which
      // fails every comparison) takes the branch that carries it through.
      {"hard_shrink",  // threshold = 0.5
       [](const Tensor& x) { return where(less_equal(abs(x), Tensor::scalar(0.5f)), Tensor::scalar(0.0f), x); }},
      {"soft_shrink",  // threshold = 0.5
       [](const Tensor& x) {
         return where(less_equal(abs(x), Tensor::scalar(0.5f)), Tensor::scalar(0.0f),
                      where(greater(x, Tensor::scalar(0.5f)), subtract(x, 0.5f), add(x, 0.5f)));
       }},
      {"tanh_shrink", [](const Tensor& x) { return subtract(x, tanh(x)); }},
      {"squareplus",  // b = 4: (x + sqrt(x^2 + b)) / 2
       [](const Tensor& x) { return multiply(add(x, sqrt(add(square(x), 4.0f))), 0.5f); }},
      {"sparse_plus",  // 0 below -1, x above 1, (x + 1)^2 / 4 between
       [](const Tensor& x) {
         return where(less_equal(x, Tensor::scalar(-1.0f)), Tensor::scalar(0.0f),
                      where(greater_equal(x, Tensor::scalar(1.0f)), x, multiply(square(add(x, 1.0f)), 0.25f)));
       }},
      // 0 below -1, 1 above 1, (x + 1) / 2 between. Keras on JAX computes 0.5 * jnp.clip(x + 1, 0,
      // 2), whose max/min split the gradient at a tie: the slope is 1/2 inside, 1/4 at x = +-1, 0
      // outside. The mean of a clip whose gradient passes at the bounds and one whose gradient
      // stops there has exactly that gradient, and the same value. (Keras on TensorFlow: 0 at +-1.)
      {"sparse_sigmoid",
       [](const Tensor& x) {
         const Tensor u = add(x, 1.0f);
         return multiply(add(clip(u, 0.0f, 2.0f), clip_open_gradient(u, 0.0f, 2.0f)), 0.25f);
       }},
      {"glu",  // a * sigmoid(b) for the two halves (a, b) of the last axis
       [](const Tensor& x) {
         const int64_t n = x.shape().empty() ? 0 : x.shape().back();
         if (n == None || n % 2 != 0) {
           throw ValueError("glu expects an even size on the last axis; received shape " + shape_to_string(x.shape()) +
                            ".");
         }
         const auto axis = static_cast<int64_t>(x.ndim()) - 1;
         return multiply(slice(x, axis, 0, n / 2), sigmoid(slice(x, axis, n / 2, n)));
       }},
  };
  return t;
}

// The registry of activations, in the shape every serializable kind has (core/class_table.h).
// Keras writes a built-in activation as its name, so the name is all a "config" holds.
const ClassTable<Fn>& table() {
  static const ClassTable<Fn> t = [] {
    std::vector<std::pair<std::string, ClassTable<Fn>::Factory>> entries;
    for (const auto& entry : builtin_functions()) {
      // (Not a structured binding: clang 14, the fuzz preset's compiler, cannot capture one.)
      const Fn fn = entry.second;
      entries.emplace_back(entry.first, [fn](const json&) { return std::make_shared<Fn>(fn); });
    }
    return ClassTable<Fn>("activation", "keras.activations", std::move(entries));
  }();
  return t;
}

}  // namespace

Activation::Activation(const char* name) : Activation(std::string(name)) {}

Activation::Activation(const std::string& name) {
  const std::string key = name.empty() || name == "None" ? "linear" : name;
  const ClassTable<Fn>::Factory factory = table().find(key);
  if (!factory) throw ValueError("Could not interpret activation function identifier: " + name);
  // Keras's aliases resolve to the function they name, which serializes under its own name.
  name_ = key == "swish" ? "silu" : key == "hard_swish" ? "hard_silu" : key;
  fn_ = *factory(key);
}

namespace activations {

Activation get(const std::string& name) { return Activation(name); }

std::vector<std::string> names() {
  return table().class_names();
}

json serialize(const Activation& activation) { return activation.name(); }

Activation deserialize(const json& value) {
  if (value.is_null()) return Activation("linear");
  if (value.is_string()) return Activation(value.get<std::string>());
  if (value.is_object() && value.value("class_name", json()) == "function") {
    // Keras's serialized function: the name is its "config" (and, for Keras's own functions,
    // also its "registered_name").
    for (const char* key : {"config", "registered_name"}) {
      auto it = value.find(key);
      if (it != value.end() && it->is_string() && table().contains(it->get<std::string>())) {
        return Activation(it->get<std::string>());
      }
    }
  }
  throw ValueError("Could not interpret activation function identifier: " + value.dump());
}

Activation from_config(const ConfigReader& reader, const std::string& key) {
  if (!reader.has(key)) return Activation("linear");
  const json& value = reader.at(key);
  if (!value.is_string() && !value.is_object()) {
    throw TypeError(fmt::format("{} config key '{}' must be a string or a serialized activation function; received {}.",
                                reader.class_name(), key, value.dump()));
  }
  return deserialize(value);
}

}  // namespace activations
}  // namespace minidl
