#pragma once
// Weight constraints with Keras's names, formulas, defaults and configs: projections the
// optimizer applies to a variable after each update step.
//   md::layers::Dense dense({.units = 4, .kernel_constraint = md::constraints::MaxNorm(2.0)});
//   md::Tensor w2 = md::constraints::UnitNorm()(w);
//
// Layer::add_weight attaches a weight's constraint to its variable (Variable::set_constraint),
// and Optimizer::apply assigns constraint(value) after update_step, as Keras's optimizer does
// with variable.constraint; the optimizer needs nothing from layers/. Names: "max_norm",
// "non_neg", "unit_norm", "min_max_norm" and the class names.
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "minidl/core/json.h"
#include "minidl/core/tensor.h"
#include "minidl/layers/keras_object_arg.h"

namespace minidl {
namespace constraints {

// Keras's keras.constraints.Constraint: a projection of a weight.
class Constraint {
 public:
  virtual ~Constraint() = default;
  virtual Tensor operator()(const Tensor& w) const = 0;
  virtual std::string class_name() const = 0;
  virtual json get_config() const = 0;
};

// The axes a norm is taken over: one (Keras's default 0) or several ({0, 1, 2} for a Conv2D
// kernel). Written back as Keras got it: an integer or a list.
struct Axis {
  Axis(int64_t axis = 0) : axes{axis} {}                                     // NOLINT
  Axis(std::vector<int64_t> list) : axes(std::move(list)), is_list(true) {}  // NOLINT
  Axis(std::initializer_list<int64_t> list) : axes(list), is_list(true) {}   // NOLINT
  std::vector<int64_t> axes;
  bool is_list = false;
  json to_json() const;
};

// w * clip(norm, 0, max_value) / (epsilon + norm), norms over `axis`.
class MaxNorm : public Constraint {
 public:
  explicit MaxNorm(double max_value = 2, Axis axis = 0);
  Tensor operator()(const Tensor& w) const override;
  std::string class_name() const override { return "MaxNorm"; }
  json get_config() const override;  // {"max_value", "axis"}

 private:
  double max_value_;
  Axis axis_;
};

// max(w, 0).
class NonNeg : public Constraint {
 public:
  Tensor operator()(const Tensor& w) const override;
  std::string class_name() const override { return "NonNeg"; }
  json get_config() const override { return json::object(); }
};

// w / (epsilon + norm), norms over `axis`.
class UnitNorm : public Constraint {
 public:
  explicit UnitNorm(Axis axis = 0);
  Tensor operator()(const Tensor& w) const override;
  std::string class_name() const override { return "UnitNorm"; }
  json get_config() const override;  // {"axis"}

 private:
  Axis axis_;
};

// w * (rate * clip(norm, min_value, max_value) + (1 - rate) * norm) / (epsilon + norm).
class MinMaxNorm : public Constraint {
 public:
  explicit MinMaxNorm(double min_value = 0.0, double max_value = 1.0, double rate = 1.0, Axis axis = 0);
  Tensor operator()(const Tensor& w) const override;
  std::string class_name() const override { return "MinMaxNorm"; }
  json get_config() const override;  // {"min_value", "max_value", "rate", "axis"}

 private:
  double min_value_, max_value_, rate_;
  Axis axis_;
};

using ConstraintFactory = std::function<std::shared_ptr<Constraint>(const json& config)>;

// Keras's constraints.get on a name: ValueError "Could not interpret constraint identifier".
std::shared_ptr<Constraint> get(const std::string& identifier);
inline std::shared_ptr<Constraint> get(const char* identifier) { return get(std::string(identifier)); }
// A config value: null (none), a name, or Keras's serialized object.
std::shared_ptr<Constraint> get(const json& identifier);
json serialize(const Constraint& constraint);
std::shared_ptr<Constraint> deserialize(const json& object);
// A user class, written as "Custom>Name".
void register_constraint(const std::string& class_name, ConstraintFactory factory);

}  // namespace constraints

template <>
struct KerasObjectTraits<constraints::Constraint> {
  static constexpr const char* kind_name = "constraint";
  static std::shared_ptr<constraints::Constraint> get(const std::string& name) { return constraints::get(name); }
  static std::shared_ptr<constraints::Constraint> get(const json& value) { return constraints::get(value); }
  static json serialize(const constraints::Constraint& object) { return constraints::serialize(object); }
};

// What options structs hold for a constraint: none (the default), a name or a constraint object
// (layers/keras_object_arg.h).
using ConstraintArg = KerasObjectArg<constraints::Constraint>;

}  // namespace minidl
