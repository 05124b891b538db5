#include <atomic>
#include <cmath>
#include <stdexcept>

#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend::detail {

Collapsed collapse_broadcast(const Dims& out, std::initializer_list<std::reference_wrapper<const Dims>> inputs) {
  const size_t rank = out.size();
  if (inputs.size() > Collapsed::kMaxInputs) throw std::logic_error("collapse_broadcast: too many inputs");
  Collapsed result;
  // Size of input k along out's axis, counting missing leading axes as 1.
  auto input_dim = [&](size_t k, size_t axis) {
    const Dims& shape = inputs.begin()[k].get();
    const size_t missing = rank - shape.size();
    return axis < missing ? int64_t{1} : shape[axis - missing];
  };
  // Pattern of one axis: which inputs repeat along it.
  auto pattern = [&](size_t axis) {
    uint64_t bits = 0;
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (input_dim(k, axis) == 1) bits |= uint64_t{1} << k;
    }
    return bits;
  };
  bool have_last = false;
  uint64_t last_pattern = 0;
  for (size_t axis = 0; axis < rank; ++axis) {
    if (out[axis] == 1) continue;
    const uint64_t p = pattern(axis);
    if (have_last && p == last_pattern) {
      result.out.back() *= out[axis];
      for (size_t k = 0; k < inputs.size(); ++k) result.inputs[k].back() *= input_dim(k, axis);
    } else {
      result.out.push_back(out[axis]);
      for (size_t k = 0; k < inputs.size(); ++k) result.inputs[k].push_back(input_dim(k, axis));
      last_pattern = p;
      have_last = true;
    }
  }
  return result;
}

SmallDims broadcast_strides(const SmallDims& shape, const SmallDims& out) {
  SmallDims strides(shape.size());
  int64_t stride = 1;
  for (size_t i = shape.size(); i-- > 0;) {
    strides[i] = (shape[i] == 1 && out[i] != 1) ? 0 : stride;
    stride *= shape[i];
  }
  return strides;
}

float apply_binary(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::add:
      return a + b;
    case BinaryOp::sub:
      return a - b;
    case BinaryOp::mul:
      return a * b;
    case BinaryOp::div:
      return a / b;
    case BinaryOp::max:
      return nan_max(a, b);
    case BinaryOp::min:
      return nan_min(a, b);
    case BinaryOp::eq:
      return a == b ? 1.0f : 0.0f;
    case BinaryOp::ne:
      return a != b ? 1.0f : 0.0f;
    case BinaryOp::lt:
      return a < b ? 1.0f : 0.0f;
    case BinaryOp::le:
      return a <= b ? 1.0f : 0.0f;
    case BinaryOp::gt:
      return a > b ? 1.0f : 0.0f;
    case BinaryOp::ge:
      return a >= b ? 1.0f : 0.0f;
  }
  return 0.0f;
}

bool any_nan(const float* x, int64_t n) {
  std::atomic<bool> any{false};
  parallel_for(n, kParallelGrain, [&](int64_t begin, int64_t end) {
    int found = 0;  // an int with |, not a bool with ||, so that the loop vectorises
    for (int64_t i = begin; i < end; ++i) found |= static_cast<int>(x[i] != x[i]);
    if (found != 0) any.store(true, std::memory_order_relaxed);
  });
  return any.load(std::memory_order_relaxed);
}

}  // namespace minidl::backend::detail
