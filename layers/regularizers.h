#pragma once
// Weight and activity regularizers with Keras's names, formulas, defaults and configs.
//   md::layers::Dense dense({.units = 4, .kernel_regularizer = md::regularizers::L2(0.1),
//                            .activity_regularizer = "l1"});
//   md::Tensor penalty = md::regularizers::L1L2(0.01, 0.02)(w);   // a scalar, differentiable
//
// A layer passes a weight's regularizer to Layer::add_weight, which attaches it to the variable;
// Layer::losses() recomputes every penalty from the current weights when read, and Model::fit
// adds their sum to the compiled loss, as Keras does. Names: "l1", "l2", "l1l2" (Keras's
// registered names; "l1_l2", tf.keras's function, gives L1L2(0.01, 0.01)), "orthogonal_regularizer",
// and the class names. A user class derives from md::regularizers::Regularizer and registers a
// factory with register_regularizer so that configs holding it load.
#include <functional>
#include <memory>
#include <string>
#include <type_traits>

#include "minidl/core/json.h"
#include "minidl/core/tensor.h"
#include "minidl/layers/keras_object_arg.h"

namespace minidl {
namespace regularizers {

// Keras's keras.regularizers.Regularizer: a function from a tensor to a scalar penalty.
class Regularizer {
 public:
  virtual ~Regularizer() = default;
  virtual Tensor operator()(const Tensor& x) const = 0;
  virtual std::string class_name() const = 0;
  virtual json get_config() const = 0;
};

// l1 * sum(|x|).
class L1 : public Regularizer {
 public:
  explicit L1(double l1 = 0.01);
  Tensor operator()(const Tensor& x) const override;
  std::string class_name() const override { return "L1"; }
  json get_config() const override;  // {"l1"}, the float32 factor as Keras writes it

 private:
  float l1_;  // Keras keeps it as a float32 tensor
};

// l2 * sum(x^2).
class L2 : public Regularizer {
 public:
  explicit L2(double l2 = 0.01);
  Tensor operator()(const Tensor& x) const override;
  std::string class_name() const override { return "L2"; }
  json get_config() const override;  // {"l2"}

 private:
  double l2_;
};

// l1 * sum(|x|) + l2 * sum(x^2); Keras's defaults are 0 for both.
class L1L2 : public Regularizer {
 public:
  explicit L1L2(double l1 = 0.0, double l2 = 0.0);
  Tensor operator()(const Tensor& x) const override;
  std::string class_name() const override { return "L1L2"; }
  json get_config() const override;  // {"l1", "l2"}

 private:
  double l1_, l2_;
};

// factor * mean over distinct pairs of |<u_i, u_j>| of the L2-normalised rows (mode "rows") or
// columns ("columns") of a rank-2 input, halved as in Keras.
class OrthogonalRegularizer : public Regularizer {
 public:
  explicit OrthogonalRegularizer(double factor = 0.01, std::string mode = "rows");
  Tensor operator()(const Tensor& x) const override;
  std::string class_name() const override { return "OrthogonalRegularizer"; }
  json get_config() const override;  // {"factor", "mode"}

 private:
  float factor_;
  std::string mode_;
};

using RegularizerFactory = std::function<std::shared_ptr<Regularizer>(const json& config)>;

// Keras's regularizers.get on a name: ValueError "Could not interpret regularizer identifier".
std::shared_ptr<Regularizer> get(const std::string& identifier);
inline std::shared_ptr<Regularizer> get(const char* identifier) { return get(std::string(identifier)); }
// A config value: null (none), a name, or Keras's serialized object.
std::shared_ptr<Regularizer> get(const json& identifier);
json serialize(const Regularizer& regularizer);
std::shared_ptr<Regularizer> deserialize(const json& object);
// A user class, written as "Custom>Name".
void register_regularizer(const std::string& class_name, RegularizerFactory factory);

}  // namespace regularizers

template <>
struct KerasObjectTraits<regularizers::Regularizer> {
  static constexpr const char* kind_name = "regularizer";
  static std::shared_ptr<regularizers::Regularizer> get(const std::string& name) { return regularizers::get(name); }
  static std::shared_ptr<regularizers::Regularizer> get(const json& value) { return regularizers::get(value); }
  static json serialize(const regularizers::Regularizer& object) { return regularizers::serialize(object); }
};

// What options structs hold for a regularizer: none (the default), a name or a regularizer object
// (layers/keras_object_arg.h).
using RegularizerArg = KerasObjectArg<regularizers::Regularizer>;

}  // namespace minidl
