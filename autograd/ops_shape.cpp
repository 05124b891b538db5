// Shape and indexing ops: reshape (a view), transpose, concatenate, stack, slicing, take,
// one_hot. Their gradients route values back to where they came from.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::ops {

using autograd::BackwardArgs;

namespace {

json dims_json(const Shape& shape) {
  json out = json::array();
  for (int64_t d : shape) out.push_back(d);
  return out;
}

// A dimension that adds up known sizes; unknown when any part is unknown.
int64_t add_dims(int64_t a, int64_t b) { return a < 0 || b < 0 ? None : a + b; }

}  // namespace

Tensor reshape(const Tensor& x, const Shape& shape) {
  if (symbolic::any(x)) {
    // -1 is inferred when every input dim is known, else it stays unknown.
    Shape out = is_fully_defined(x.shape()) ? x.reshape(shape).shape() : shape;
    return trace_op("Reshape", {{"newshape", dims_json(shape)}}, CallArgs::positional({x}), spec(out, x.dtype()));
  }
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
  if (symbolic::any(x)) {
    Shape out(p.size());
    for (size_t i = 0; i < p.size(); ++i) out[i] = x.shape()[normalize_axis(p[i], x.ndim())];
    return trace_op("Transpose", {{"axes", perm.empty() ? json(nullptr) : json(p)}}, CallArgs::positional({x}),
                    spec(out, x.dtype()));
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
  if (symbolic::any(x)) {
    return trace_op("ExpandDims", {{"axis", axis}}, CallArgs::positional({x}), spec(shape, x.dtype()));
  }
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
  if (symbolic::any(x)) {
    return trace_op("Squeeze", {{"axis", axis ? json(*axis) : json(nullptr)}}, CallArgs::positional({x}),
                    spec(shape, x.dtype()));
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
    for (int64_t d = 0; fits && d < t.ndim(); ++d) {
      fits = d == a || t.shape()[d] == first.shape()[d] || t.shape()[d] == None || first.shape()[d] == None;
    }
    if (!fits) {
      throw ShapeError(fmt::format("concatenate: shapes {} and {} differ outside axis {}.",
                                   shape_to_string(first.shape()), shape_to_string(t.shape()), axis));
    }
    out_shape[a] = add_dims(out_shape[a], t.shape()[a]);
    for (int64_t d = 0; d < t.ndim(); ++d) {
      if (d != a && out_shape[d] == None) out_shape[d] = t.shape()[d];
    }
  }
  if (symbolic::any(tensors)) {
    return trace_op("Concatenate", {{"axis", axis}}, CallArgs::of(tensors), spec(out_shape, first.dtype()));
  }
  Tensor out = Tensor::empty(out_shape, first.dtype());
  std::vector<int64_t> offsets;
  int64_t offset = 0;
  for (const Tensor& t : tensors) {
    offsets.push_back(offset);
    compute::slice_assign(t, out, a, offset, 1);
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
  if (symbolic::any(tensors)) {
    Shape shape = tensors[0].shape();
    shape.insert(shape.begin() + a, static_cast<int64_t>(tensors.size()));
    return trace_op("Stack", {{"axis", axis}}, CallArgs::of(tensors), spec(shape, tensors[0].dtype()));
  }
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
  if (symbolic::any(x)) {
    Shape shape = x.shape();
    if (n != None) {
      const int64_t b = !start ? 0 : std::clamp<int64_t>(*start < 0 ? *start + n : *start, 0, n);
      const int64_t e = !stop ? n : std::clamp<int64_t>(*stop < 0 ? *stop + n : *stop, 0, n);
      shape[a] = e > b ? (e - b + step - 1) / step : 0;
    }
    const json config = {{"axis", axis},
                         {"start", start ? json(*start) : json(nullptr)},
                         {"stop", stop ? json(*stop) : json(nullptr)},
                         {"step", step}};
    return trace_op("AxisSlice", config, CallArgs::positional({x}), spec(shape, x.dtype()));
  }
  // Python's slice rules: negative bounds count from the end, then clamp to [0, n].
  auto resolve = [n](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    const int64_t i = *v < 0 ? *v + n : *v;
    return std::clamp<int64_t>(i, 0, n);
  };
  const int64_t begin = resolve(start, 0), end = resolve(stop, n);
  const int64_t count = end > begin ? (end - begin + step - 1) / step : 0;
  Tensor out = compute::slice(x, a, begin, step, count);
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
  if (n == None) return squeeze(slice(x, 0, i, i == -1 ? std::nullopt : std::optional<int64_t>(i + 1)), 0);
  if (i < -n || i >= n) {
    throw IndexError(fmt::format("index {} is out of bounds for axis 0 with size {}.", i, n));
  }
  const int64_t k = i < 0 ? i + n : i;
  return squeeze(slice(x, 0, k, k + 1), 0);
}

namespace detail {

Tensor slice_grad(const Tensor& dy, const Shape& input_shape, int axis, int64_t start, int64_t step) {
  Tensor dx = Tensor::zeros(input_shape);
  compute::slice_assign(dy, dx, axis, start, step);
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
  if (symbolic::any(x, indices)) {
    Shape shape(x.shape().begin(), x.shape().begin() + a);
    shape.insert(shape.end(), indices.shape().begin(), indices.shape().end());
    shape.insert(shape.end(), x.shape().begin() + a + 1, x.shape().end());
    return trace_op("Take", {{"axis", axis}}, CallArgs::positional({x, indices}), spec(shape, x.dtype()));
  }
  const Tensor idx = normalized_indices(indices, x.shape()[a], axis);
  Tensor out = compute::gather(x, a, idx);
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
  compute::scatter_add(dy, indices, dx, axis);
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
  if (symbolic::any(indices)) {
    return trace_op("OneHot", {{"num_classes", depth}, {"axis", -1}, {"dtype", "float32"}, {"sparse", false}},
                    CallArgs::positional({indices}), spec(shape));
  }
  Tensor out = Tensor::zeros(shape);
  const float* in = indices.data();
  float* p = out.mutable_data();
  for (int64_t i = 0; i < indices.size(); ++i) {
    const float v = in[i];
    if (v >= 0.0f && v < static_cast<float>(depth) && v == std::trunc(v)) p[i * depth + static_cast<int64_t>(v)] = 1.0f;
  }
  return out;
}

// ---- the op table ----------------------------------------------------------------------------
namespace {
Shape shape_from(const json& value) {
  Shape out;
  for (const auto& d : value) out.push_back(d.is_null() ? -1 : d.get<int64_t>());
  return out;
}
std::optional<int64_t> optional_int(const json& config, const char* key) {
  auto it = config.find(key);
  if (it == config.end() || it->is_null()) return std::nullopt;
  return it->get<int64_t>();
}
}  // namespace
MINIDL_REGISTER_OP(Reshape, kNumpyModule, {
  const json& shape = config.at("newshape");
  return {reshape(arg(a, 0), shape.is_number_integer() ? Shape{shape.get<int64_t>()} : shape_from(shape))};
});
MINIDL_REGISTER_OP(Transpose, kNumpyModule, { return {transpose(arg(a, 0), axes_from(config.value("axes", json())))}; });
MINIDL_REGISTER_OP(Swapaxes, kNumpyModule,
                   { return {swapaxes(arg(a, 0), config.at("axis1").get<int64_t>(), config.at("axis2").get<int64_t>())}; });
MINIDL_REGISTER_OP(ExpandDims, kNumpyModule, { return {expand_dims(arg(a, 0), config.at("axis").get<int64_t>())}; });
MINIDL_REGISTER_OP(Squeeze, kNumpyModule, { return {squeeze(arg(a, 0), optional_int(config, "axis"))}; });
MINIDL_REGISTER_OP(Concatenate, kNumpyModule, { return {concatenate(a.inputs(), config.value("axis", int64_t{0}))}; });
MINIDL_REGISTER_OP(Stack, kNumpyModule, { return {stack(a.inputs(), config.value("axis", int64_t{0}))}; });
MINIDL_REGISTER_OP(Take, kNumpyModule, { return {take(arg(a, 0), arg(a, 1), config.value("axis", int64_t{0}))}; });
MINIDL_REGISTER_OP(AxisSlice, "minidl.ops", {
  return {slice(arg(a, 0), config.at("axis").get<int64_t>(), optional_int(config, "start"),
                optional_int(config, "stop"), config.value("step", int64_t{1}))};
});
MINIDL_REGISTER_OP(OneHot, "keras.src.ops.nn", { return {one_hot(arg(a, 0), config.at("num_classes").get<int64_t>())}; });

}  // namespace minidl::ops
