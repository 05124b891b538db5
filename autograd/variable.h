#pragma once
// minidl::Variable — named, mutable model state (weights, optimizer slots). A Variable is a
// cheap handle: copies refer to the same state. Its value() is one tensor that keeps its
// identity across assign(), so every GradientTape watches a trainable variable automatically.
//
//   md::Variable w(md::random::normal({3, 2}, 0, 1, 1), "w");
//   md::Tensor y = md::ops::matmul(x, w.value());
//   w.assign_sub(md::ops::multiply(grad, 0.1f));     // in place; shapes must match
//
// value() is a live view: an assign changes what every earlier value() handle reads. Take
// value().clone() for a snapshot. Like Tensor, a const Variable handle still refers to
// mutable state (as a const std::shared_ptr does).
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "minidl/core/tensor.h"

namespace minidl {

class Variable {
 public:
  Variable() = default;  // undefined
  explicit Variable(const Tensor& initial_value, std::string name = "variable", bool trainable = true);

  bool defined() const { return impl_ != nullptr; }
  const Tensor& value() const;
  const std::string& name() const;
  // Keras's variable path, "<layer name>/<variable name>"; the name when not owned by a layer.
  const std::string& path() const;
  void set_path(std::string path) const;
  bool trainable() const;
  void set_trainable(bool trainable) const;
  uint64_t id() const;
  const Shape& shape() const { return value().shape(); }
  DType dtype() const { return value().dtype(); }

  // Keras's variable.regularizer and variable.constraint, attached by the layer that creates the
  // variable (Layer::add_weight) as plain callables, so that autograd and the optimizer use them
  // without knowing layers/: the regularizer maps the value to a scalar penalty (Layer::losses
  // sums them), the constraint maps it to its projection (Optimizer::apply assigns it after
  // each update step). Empty functions mean none.
  using Penalty = std::function<Tensor(const Tensor&)>;
  using Projection = std::function<Tensor(const Tensor&)>;
  const Penalty& regularizer() const;
  void set_regularizer(Penalty regularizer) const;
  const Projection& constraint() const;
  void set_constraint(Projection constraint) const;

  // Overwrite the value in place. Throws ShapeError when the shapes differ.
  void assign(const Tensor& value) const;
  void assign_add(const Tensor& delta) const;
  void assign_sub(const Tensor& delta) const;

  friend bool operator==(const Variable& a, const Variable& b) { return a.impl_ == b.impl_; }

 private:
  struct Impl;
  const Impl& checked() const;
  std::shared_ptr<Impl> impl_;
};

}  // namespace minidl
