#include "minidl/layers/constraints.h"

#include <fmt/format.h>

#include <map>

#include "minidl/autograd/ops.h"
#include "minidl/core/class_table.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"

namespace minidl {
namespace constraints {
namespace {

constexpr float kEpsilon = 1e-7f;  // Keras's backend.epsilon()

Axis axis_from(const ConfigReader& r) {
  const json* value = r.find("axis");
  if (value == nullptr || value->is_null()) return Axis(0);
  if (value->is_array()) {
    std::vector<int64_t> axes;
    for (const json& a : *value) axes.push_back(r.integer_value("axis", a));
    return Axis(std::move(axes));
  }
  return Axis(r.integer_value("axis", *value));
}

// sqrt(sum(w^2)) over the axes, kept as size 1 so that it broadcasts against w.
Tensor norms(const Tensor& w, const Axis& axis) { return ops::sqrt(ops::sum(ops::square(w), axis.axes, true)); }

// w * desired / (epsilon + norms), Keras's rescaling.
Tensor rescale(const Tensor& w, const Tensor& desired, const Tensor& n) {
  return ops::multiply(w, ops::divide(desired, ops::add(n, kEpsilon)));
}

ClassTable<Constraint>& table() {
  static ClassTable<Constraint> t(
      "constraint", "keras.constraints",
      {{"MaxNorm",
        [](const json& config) -> std::shared_ptr<Constraint> {
          const ConfigReader r(config, "MaxNorm");
          r.allow_only({"max_value", "axis"});
          return std::make_shared<MaxNorm>(r.optional<double>("max_value", 2.0), axis_from(r));
        }},
       {"NonNeg",
        [](const json& config) -> std::shared_ptr<Constraint> {
          ConfigReader(config, "NonNeg").allow_only({});
          return std::make_shared<NonNeg>();
        }},
       {"UnitNorm",
        [](const json& config) -> std::shared_ptr<Constraint> {
          const ConfigReader r(config, "UnitNorm");
          r.allow_only({"axis"});
          return std::make_shared<UnitNorm>(axis_from(r));
        }},
       {"MinMaxNorm", [](const json& config) -> std::shared_ptr<Constraint> {
          const ConfigReader r(config, "MinMaxNorm");
          r.allow_only({"min_value", "max_value", "rate", "axis"});
          return std::make_shared<MinMaxNorm>(r.optional<double>("min_value", 0.0), r.optional<double>("max_value", 1.0),
                                              r.optional<double>("rate", 1.0), axis_from(r));
        }}});
  return t;
}

const std::map<std::string, std::string>& names() {
  static const std::map<std::string, std::string> m = {
      {"max_norm", "MaxNorm"}, {"non_neg", "NonNeg"}, {"unit_norm", "UnitNorm"}, {"min_max_norm", "MinMaxNorm"}};
  return m;
}

}  // namespace

json Axis::to_json() const { return is_list ? json(axes) : json(axes.at(0)); }

MaxNorm::MaxNorm(double max_value, Axis axis) : max_value_(max_value), axis_(std::move(axis)) {}
Tensor MaxNorm::operator()(const Tensor& w) const {
  const Tensor n = norms(w, axis_);
  return rescale(w, ops::clip(n, 0.0f, static_cast<float>(max_value_)), n);
}
json MaxNorm::get_config() const { return {{"max_value", max_value_}, {"axis", axis_.to_json()}}; }

Tensor NonNeg::operator()(const Tensor& w) const { return ops::maximum(w, Tensor::scalar(0.0f)); }

UnitNorm::UnitNorm(Axis axis) : axis_(std::move(axis)) {}
Tensor UnitNorm::operator()(const Tensor& w) const { return ops::divide(w, ops::add(norms(w, axis_), kEpsilon)); }
json UnitNorm::get_config() const { return {{"axis", axis_.to_json()}}; }

MinMaxNorm::MinMaxNorm(double min_value, double max_value, double rate, Axis axis)
    : min_value_(min_value), max_value_(max_value), rate_(rate), axis_(std::move(axis)) {}
Tensor MinMaxNorm::operator()(const Tensor& w) const {
  const Tensor n = norms(w, axis_);
  const Tensor desired =
      ops::add(ops::multiply(ops::clip(n, static_cast<float>(min_value_), static_cast<float>(max_value_)),
                             static_cast<float>(rate_)),
               ops::multiply(n, static_cast<float>(1.0 - rate_)));
  return rescale(w, desired, n);
}
json MinMaxNorm::get_config() const {
  return {{"min_value", min_value_}, {"max_value", max_value_}, {"rate", rate_}, {"axis", axis_.to_json()}};
}

std::shared_ptr<Constraint> get(const std::string& identifier) {
  auto it = names().find(identifier);
  const std::string cls = it != names().end() ? it->second : identifier;
  if (!table().contains(cls)) throw ValueError("Could not interpret constraint identifier: " + identifier);
  return table().create(cls, json::object());
}

std::shared_ptr<Constraint> get(const json& identifier) {
  return detail::keras_object_from_json<std::shared_ptr<Constraint>>(
      identifier, "constraint", [](const std::string& name) { return get(name); }, &deserialize);
}

json serialize(const Constraint& constraint) { return table().serialize(constraint.class_name(), constraint.get_config()); }

std::shared_ptr<Constraint> deserialize(const json& object) { return table().deserialize(object); }

void register_constraint(const std::string& class_name, ConstraintFactory factory) {
  table().add(class_name, std::move(factory));
}

}  // namespace constraints

}  // namespace minidl
