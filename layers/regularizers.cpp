#include "minidl/layers/regularizers.h"

#include <fmt/format.h>

#include <cmath>
#include <map>

#include "minidl/autograd/ops.h"
#include "minidl/core/class_table.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"

namespace minidl {
namespace regularizers {
namespace {

// Keras's validate_float_arg (its message has no space after the full stop).
double checked_factor(double value, const char* name) {
  if (!std::isfinite(value) || value < 0) {
    throw ValueError(fmt::format("Invalid value for argument {}: expected a non-negative float.Received: {}={}", name,
                                 name, value));
  }
  return value;
}

template <class T, class... Keys>
RegularizerFactory factory(const char* cls, Keys... keys) {
  return [=](const json& config) -> std::shared_ptr<Regularizer> {
    const ConfigReader r(config, cls);
    r.allow_only({keys.first...});
    return std::make_shared<T>(r.optional<double>(keys.first, keys.second)...);
  };
}

ClassTable<Regularizer>& table() {
  using Key = std::pair<const char*, double>;
  static ClassTable<Regularizer> t(
      "regularizer", "keras.regularizers",
      {{"L1", factory<L1>("L1", Key{"l1", 0.01})},
       {"L2", factory<L2>("L2", Key{"l2", 0.01})},
       {"L1L2", factory<L1L2>("L1L2", Key{"l1", 0.0}, Key{"l2", 0.0})},
       {"OrthogonalRegularizer", [](const json& config) -> std::shared_ptr<Regularizer> {
          const ConfigReader r(config, "OrthogonalRegularizer");
          r.allow_only({"factor", "mode"});
          return std::make_shared<OrthogonalRegularizer>(r.optional<double>("factor", 0.01),
                                                         r.optional<std::string>("mode", "rows"));
        }}});
  return t;
}

// Keras's ALL_OBJECTS_DICT snake-case names (a bare name builds the class with its defaults).
const std::map<std::string, std::string>& names() {
  static const std::map<std::string, std::string> m = {
      {"l1", "L1"}, {"l2", "L2"}, {"l1l2", "L1L2"}, {"orthogonal_regularizer", "OrthogonalRegularizer"}};
  return m;
}

}  // namespace

L1::L1(double l1) : l1_(static_cast<float>(checked_factor(l1, "l1"))) {}
Tensor L1::operator()(const Tensor& x) const { return ops::multiply(ops::sum(ops::abs(x)), l1_); }
json L1::get_config() const { return {{"l1", static_cast<double>(l1_)}}; }

L2::L2(double l2) : l2_(checked_factor(l2, "l2")) {}
Tensor L2::operator()(const Tensor& x) const {
  return ops::multiply(ops::sum(ops::square(x)), static_cast<float>(l2_));
}
json L2::get_config() const { return {{"l2", l2_}}; }

L1L2::L1L2(double l1, double l2) : l1_(checked_factor(l1, "l1")), l2_(checked_factor(l2, "l2")) {}
Tensor L1L2::operator()(const Tensor& x) const {
  // Keras skips a zero term, so that its gradient does not appear either.
  Tensor total = x.is_symbolic() ? Tensor::symbolic({}) : Tensor::scalar(0.0f);
  if (l1_ != 0.0) total = ops::add(total, ops::multiply(ops::sum(ops::abs(x)), static_cast<float>(l1_)));
  if (l2_ != 0.0) total = ops::add(total, ops::multiply(ops::sum(ops::square(x)), static_cast<float>(l2_)));
  return total;
}
json L1L2::get_config() const { return {{"l1", l1_}, {"l2", l2_}}; }

OrthogonalRegularizer::OrthogonalRegularizer(double factor, std::string mode)
    : factor_(static_cast<float>(checked_factor(factor, "factor"))), mode_(std::move(mode)) {
  if (mode_ != "rows" && mode_ != "columns") {
    throw ValueError(
        fmt::format("Invalid value for argument `mode`. Expected one of {{\"rows\", \"columns\"}}. Received: mode={}",
                    mode_));
  }
}

Tensor OrthogonalRegularizer::operator()(const Tensor& x) const {
  if (x.ndim() != 2) {
    throw ValueError(fmt::format("Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape={}",
                                 shape_to_string(x.shape())));
  }
  const bool rows = mode_ == "rows";
  // Keras's ops.normalize: x * min(rsqrt(sum(x^2)), 1 / epsilon) along the vectors' axis.
  const Tensor square_sum = ops::sum(ops::square(x), {rows ? 1 : 0}, /*keepdims=*/true);
  const Tensor inv_norm = ops::minimum(ops::divide(Tensor::scalar(1.0f), ops::sqrt(square_sum)), Tensor::scalar(1e7f));
  const Tensor u = ops::multiply(x, inv_norm);
  const Tensor product = rows ? ops::matmul(u, u, false, true) : ops::matmul(u, u, true, false);
  const int64_t size = x.shape()[rows ? 0 : 1];
  std::vector<float> off_diagonal(static_cast<size_t>(size * size), 1.0f);
  for (int64_t i = 0; i < size; ++i) off_diagonal[static_cast<size_t>(i * size + i)] = 0.0f;
  const Tensor no_diagonal = ops::multiply(product, Tensor::from_vector(off_diagonal, {size, size}));
  const float num_pairs = static_cast<float>(size) * (static_cast<float>(size) - 1.0f) / 2.0f;
  return ops::divide(ops::multiply(ops::sum(ops::abs(no_diagonal)), factor_ * 0.5f), num_pairs);
}
json OrthogonalRegularizer::get_config() const { return {{"factor", static_cast<double>(factor_)}, {"mode", mode_}}; }

std::shared_ptr<Regularizer> get(const std::string& identifier) {
  if (identifier == "l1_l2") return std::make_shared<L1L2>(0.01, 0.01);  // tf.keras's l1_l2 function
  auto it = names().find(identifier);
  const std::string cls = it != names().end() ? it->second : identifier;
  if (cls == "Regularizer" || cls == "regularizer" || !table().contains(cls)) {
    throw ValueError("Could not interpret regularizer identifier: " + identifier);
  }
  return table().create(cls, json::object());
}

std::shared_ptr<Regularizer> get(const json& identifier) {
  return detail::keras_object_from_json<std::shared_ptr<Regularizer>>(
      identifier, "regularizer", [](const std::string& name) { return get(name); }, &deserialize);
}

json serialize(const Regularizer& regularizer) {
  return table().serialize(regularizer.class_name(), regularizer.get_config());
}

std::shared_ptr<Regularizer> deserialize(const json& object) { return table().deserialize(object); }

void register_regularizer(const std::string& class_name, RegularizerFactory factory) {
  table().add(class_name, std::move(factory));
}

}  // namespace regularizers

}  // namespace minidl
