// Shape and indexing ops: reshape (a view), transpose, concatenate, stack, slicing, take,
// one_hot. Their gradients route values back to where they came from.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::ops {

using autograd::BackwardArgs;

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.reshape(shape);
  if (autograd::should_record(x)) {
    autograd::record("reshape", {x}, {y}, {}, [from = x.shape()](const BackwardArgs& g) {
      return std::vector<Tensor>{reshape(g.grad(), from)};
    });
  }
  return y;
}

Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  std::vector<int64_t> p(perm);
  if (p.empty()) {
    p.resize(x.ndim());
    std::iota(p.rbegin(), p.rend(), 0);
  }
  Tensor y = compute::transpose(x, p);
  if (autograd::should_record(x)) {
    std::vector<int64_t> inverse(p.size());
    for (size_t i = 0; i < p.size(); ++i) inverse[normalize_axis(p[i], x.ndim())] = static_cast<int64_t>(i);
    autograd::record("transpose", {x}, {y}, {}, [inverse](const BackwardArgs& g) {
      return std::vector<Tensor>{transpose(g.grad(), inverse)};
    });
  }
  return y;
}

Tensor swapaxes(const Tensor& x, int64_t axis1, int64_t axis2) {
  std::vector<int64_t> perm(x.ndim());
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[normalize_axis(axis1, x.ndim())], perm[normalize_axis(axis2, x.ndim())]);
  return transpose(x, perm);
}

Tensor expand_dims(const Tensor& x, int64_t axis) {
  Shape shape = x.shape();
  const int a = normalize_axis(axis, x.ndim() + 1);
  shape.insert(shape.begin() + a, 1);
  return reshape(x, shape);
}

Tensor squeeze(const Tensor& x, std::optional<int64_t> axis) {
  Shape shape;
  if (axis) {
    const int a = normalize_axis(*axis, x.ndim());
    if (x.shape()[a] != 1) {
      throw ValueError(fmt::format("squeeze: axis {} of shape {} has size {}, not 1.", *axis,
                                   shape_to_string(x.shape()), x.shape()[a]));
    }
    shape = x.shape();
    shape.erase(shape.begin() + a);
  } else {
    for (int64_t d : x.shape()) {
      if (d != 1) shape.push_back(d);
    }
  }
  return reshape(x, shape);
}

// ---- concatenation -------------------------------------------------------------------------

Tensor concatenate(const std::vector<Tensor>& tensors, int64_t axis) {
  if (tensors.empty()) throw ValueError("concatenate needs at least one tensor.");
  const Tensor& first = tensors[0];
  const int a = normalize_axis(axis, first.ndim());
  Shape out_shape = first.shape();
  out_shape[a] = 0;
  for (const Tensor& t : tensors) {
    bool fits = t.ndim() == first.ndim();
    for (int64_t d = 0; fits && d < t.ndim(); ++d) fits = d == a || t.shape()[d] == first.shape()[d];
    if (!fits) {
      throw ShapeError(fmt::format("concatenate: shapes {} and {} differ outside axis {}.",
                                   shape_to_string(first.shape()), shape_to_string(t.shape()), axis));
    }
    out_shape[a] += t.shape()[a];
  }
  Tensor out = Tensor::empty(out_shape, first.dtype());
  const backend::AxisView out_view = backend::axis_view(out_shape, a);
  std::vector<int64_t> offsets;
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    offsets.push_back(offset);
    backend::slice_assign(t.data(), t.shape()[a], out.mutable_data(), out_view, offset, 1);
    offset += t.shape()[a];
  }
  if (autograd::should_record(tensors)) {
    std::vector<int64_t> lengths;
    for (const Tensor& t : tensors) lengths.push_back(t.shape()[a]);
    autograd::record("concatenate", tensors, {out}, {}, [a, offsets, lengths](const BackwardArgs& g) {
      std::vector<Tensor> grads(offsets.size());
      for (size_t i = 0; i < offsets.size(); ++i) {
        if (g.needs(i)) grads[i] = slice(g.grad(), a, offsets[i], offsets[i] + lengths[i]);
      }
      return grads;
    });
  }
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t axis) {
  if (tensors.empty()) throw ValueError("stack needs at least one tensor.");
  for (const Tensor& t : tensors) {
    if (t.shape() != tensors[0].shape()) {
      throw ShapeError(fmt::format("stack: all tensors must have the same shape; received {} and {}.",
                                   shape_to_string(tensors[0].shape()), shape_to_string(t.shape())));
    }
  }
  const int a = normalize_axis(axis, tensors[0].ndim() + 1);
  std::vector<Tensor> expanded;
  for (const Tensor& t : tensors) expanded.push_back(expand_dims(t, a));
  return concatenate(expanded, a);
}

// ---- slicing -------------------------------------------------------------------------------

Tensor slice(const Tensor& x, int64_t axis, std::optional<int64_t> start, std::optional<int64_t> stop,
             int64_t step) {
  const int a = normalize_axis(axis, x.ndim());
  if (step <= 0) throw ValueError(fmt::format("slice: step must be positive; received {}.", step));
  const int64_t n = x.shape()[a];
  // Python's slice rules: negative bounds count from the end, then clamp to [0, n].
  auto resolve = [n](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    const int64_t i = *v < 0 ? *v + n : *v;
    return std::clamp<int64_t>(i, 0, n);
  };
  const int64_t begin = resolve(start, 0), end = resolve(stop, n);
  const int64_t count = end > begin ? (end - begin + step - 1) / step : 0;
  Shape out_shape = x.shape();
  out_shape[a] = count;
  Tensor out = Tensor::empty(out_shape, x.dtype());
  backend::slice_copy(x.data(), backend::axis_view(x.shape(), a), begin, step, out.mutable_data(), count);
  if (autograd::should_record(x)) {
    autograd::record("slice", {x}, {out}, {}, [shape = x.shape(), a, begin, step](const BackwardArgs& g) {
      return std::vector<Tensor>{detail::slice_grad(g.grad(), shape, a, begin, step)};
    });
  }
  return out;
}

Tensor index(const Tensor& x, int64_t i) {
  if (x.ndim() == 0) throw IndexError("index: a scalar tensor cannot be indexed.");
  const int64_t n = x.shape()[0];
  if (i < -n || i >= n) {
    throw IndexError(fmt::format("index {} is out of bounds for axis 0 with size {}.", i, n));
  }
  const int64_t k = i < 0 ? i + n : i;
  return squeeze(slice(x, 0, k, k + 1), 0);
}

namespace detail {

Tensor slice_grad(const Tensor& dy, const Shape& input_shape, int axis, int64_t start, int64_t step) {
  Tensor dx = Tensor::zeros(input_shape);
  backend::slice_assign(dy.data(), dy.shape()[axis], dx.mutable_data(), backend::axis_view(input_shape, axis), start,
                        step);
  if (autograd::should_record(dy)) {
    const int64_t count = dy.shape()[axis];
    autograd::record("slice_grad", {dy}, {dx}, {}, [axis, start, step, count](const BackwardArgs& g) {
      return std::vector<Tensor>{slice(g.grad(), axis, start, start + count * step, step)};
    });
  }
  return dx;
}

}  // namespace detail

// ---- gather --------------------------------------------------------------------------------

namespace {

// Indices as non-negative floats, checked against the axis size (NumPy's IndexError text).
Tensor normalized_indices(const Tensor& indices, int64_t size, int64_t axis) {
  Tensor out = Tensor::empty(indices.shape(), DType::int32);
  const float* in = indices.data();
  float* p = out.mutable_data();
  for (int64_t i = 0; i < indices.size(); ++i) {
    const float v = in[i];
    if (v != std::trunc(v)) {
      throw TypeError(fmt::format("take: indices must be integers; received {}.", v));
    }
    const auto k = static_cast<int64_t>(v);
    if (k < -size || k >= size) {
      throw IndexError(fmt::format("index {} is out of bounds for axis {} with size {}.", k, axis, size));
    }
    p[i] = static_cast<float>(k < 0 ? k + size : k);
  }
  return out;
}

}  // namespace

Tensor take(const Tensor& x, const Tensor& indices, int64_t axis) {
  const int a = normalize_axis(axis, x.ndim());
  const Tensor idx = normalized_indices(indices, x.shape()[a], axis);
  Shape out_shape(x.shape().begin(), x.shape().begin() + a);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), x.shape().begin() + a + 1, x.shape().end());
  Tensor out = Tensor::empty(out_shape, x.dtype());
  backend::gather(x.data(), backend::axis_view(x.shape(), a), idx.data(), idx.size(), out.mutable_data());
  if (autograd::should_record(x)) {
    autograd::record("take", {x, indices}, {out}, {idx}, [a, shape = x.shape()](const BackwardArgs& g) {
      return std::vector<Tensor>{detail::take_grad(g.grad(), g.saved[0], a, shape), Tensor()};
    });
  }
  return out;
}

namespace detail {

Tensor take_grad(const Tensor& dy, const Tensor& indices, int axis, const Shape& input_shape) {
  Tensor dx = Tensor::zeros(input_shape);
  backend::scatter_add(dy.data(), indices.data(), indices.size(), dx.mutable_data(),
                       backend::axis_view(input_shape, axis));
  if (autograd::should_record(dy)) {
    const Shape index_shape = indices.shape();
    autograd::record("take_grad", {dy}, {dx}, {indices}, [axis](const BackwardArgs& g) {
      return std::vector<Tensor>{take(g.grad(), g.saved[0], axis)};
    });
  }
  return dx;
}

}  // namespace detail

Tensor one_hot(const Tensor& indices, int64_t depth) {
  if (depth < 0) throw ValueError(fmt::format("one_hot: depth must be non-negative; received {}.", depth));
  Shape shape = indices.shape();
  shape.push_back(depth);
  Tensor out = Tensor::zeros(shape);
  const float* in = indices.data();
  float* p = out.mutable_data();
  for (int64_t i = 0; i < indices.size(); ++i) {
    const float v = in[i];
    if (v >= 0.0f && v < static_cast<float>(depth) && v == std::trunc(v)) p[i * depth + static_cast<int64_t>(v)] = 1.0f;
  }
  return out;
}

}  // namespace minidl::ops
