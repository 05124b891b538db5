#pragma once
// What autograd attaches to a tensor (core's TensorImpl::autograd_meta): today, that it is the
// value of a trainable Variable, which every GradientTape watches without being asked.
#include "minidl/core/tensor.h"

namespace minidl {

struct AutogradMeta {
  bool trainable_variable = false;
};

namespace detail {
inline bool is_trainable_variable(const TensorImpl& impl) {
  return impl.autograd_meta != nullptr && impl.autograd_meta->trainable_variable;
}
}  // namespace detail

}  // namespace minidl
