#include "minidl/autograd/variable.h"

#include <atomic>

#include "minidl/autograd/detail/autograd_meta.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl {
namespace {
std::atomic<uint64_t> g_next_variable_id{1};
}

struct Variable::Impl {
  Tensor value;
  std::string name;
  std::string path;
  bool trainable = true;
  uint64_t id = 0;
  Penalty regularizer;
  Projection constraint;
};

Variable::Variable(const Tensor& initial_value, std::string name, bool trainable) : impl_(std::make_shared<Impl>()) {
  if (!initial_value.is_concrete()) {
    throw ValueError("A Variable needs a concrete initial value; received " +
                     std::string(initial_value.defined() ? "a symbolic tensor" : "an undefined tensor") + ".");
  }
  impl_->value = initial_value.clone();
  impl_->name = std::move(name);
  impl_->path = impl_->name;
  impl_->id = g_next_variable_id.fetch_add(1, std::memory_order_relaxed);
  impl_->value.impl()->autograd_meta = std::make_shared<AutogradMeta>();
  set_trainable(trainable);
}

const Variable::Impl& Variable::checked() const {
  if (!impl_) throw ValueError("The variable is undefined (default-constructed).");
  return *impl_;
}

const Tensor& Variable::value() const { return checked().value; }
const std::string& Variable::name() const { return checked().name; }
const std::string& Variable::path() const { return checked().path; }
void Variable::set_path(std::string path) const {
  checked();
  impl_->path = std::move(path);
}
bool Variable::trainable() const { return checked().trainable; }
uint64_t Variable::id() const { return checked().id; }
const Variable::Penalty& Variable::regularizer() const { return checked().regularizer; }
void Variable::set_regularizer(Penalty regularizer) const {
  checked();
  impl_->regularizer = std::move(regularizer);
}
const Variable::Projection& Variable::constraint() const { return checked().constraint; }
void Variable::set_constraint(Projection constraint) const {
  checked();
  impl_->constraint = std::move(constraint);
}

void Variable::set_trainable(bool trainable) const {
  checked();
  impl_->trainable = trainable;
  impl_->value.impl()->autograd_meta->trainable_variable = trainable && is_floating(impl_->value.dtype());
}

namespace {

void check_assignable(const Tensor& target, const Tensor& value, const std::string& name, const char* what) {
  if (value.shape() != target.shape()) {
    throw ShapeError("Cannot " + std::string(what) + " a value of shape " + shape_to_string(value.shape()) +
                     " to variable '" + name + "' of shape " + shape_to_string(target.shape()) + ".");
  }
}

}  // namespace

void Variable::assign(const Tensor& value) const {
  const Impl& impl = checked();
  check_assignable(impl.value, value, impl.name, "assign");
  compute::copy_into(value, impl.value);
  impl.value.impl()->storage->bump_version();
}

void Variable::assign_add(const Tensor& delta) const {
  const Impl& impl = checked();
  check_assignable(impl.value, delta, impl.name, "add");
  compute::binary_into(compute::BinaryOp::add, impl.value, delta);
  impl.value.impl()->storage->bump_version();
}

void Variable::assign_sub(const Tensor& delta) const {
  const Impl& impl = checked();
  check_assignable(impl.value, delta, impl.name, "subtract");
  compute::binary_into(compute::BinaryOp::sub, impl.value, delta);
  impl.value.impl()->storage->bump_version();
}

}  // namespace minidl
