// Shape and indexing ops: reshape (a view), transpose, swapaxes, expand_dims, squeeze,
// concatenate, stack, slicing, take, one_hot. One OpDef each (autograd/op_def.h); their gradients
// route values back to where they came from.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::ops {

using autograd::BackwardArgs;

namespace {

// A dimension that adds up known sizes; unknown when any part is unknown.
int64_t add_dims(int64_t a, int64_t b) { return a < 0 || b < 0 ? None : a + b; }

// ---- reshape, transpose, swapaxes -------------------------------------------------------------

// The gradient of an op that only changes the shape (reshape, expand_dims, squeeze): the
// incoming gradient with the input's shape.
template <class Attrs>
std::vector<Tensor> reshape_back(const OpGrad& g, const Attrs& /*attrs*/) {
  return {reshape(g.grad(), g.shape(0))};
}

// Keras's Reshape(newshape): one dim may be -1 (inferred).
struct ReshapeAttrs {
  Shape newshape{};
  static constexpr auto fields() { return std::tuple{op_attr("newshape", &ReshapeAttrs::newshape)}; }
};
constexpr OpDef<ReshapeAttrs> kReshape{
    .name = "Reshape",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const ReshapeAttrs& a) {
      // -1 is inferred when every input dim is known, else it stays unknown.
      const Shape out = is_fully_defined(x[0].shape()) ? x[0].reshape(a.newshape).shape() : a.newshape;
      return Tensor::symbolic(out, x[0].dtype());
    },
    .forward = [](OpInputs x, const ReshapeAttrs& a, OpSaved&) { return x[0].reshape(a.newshape); },
    .backward = reshape_back<ReshapeAttrs>};

// Keras's Transpose(axes): null reverses the axes.
struct TransposeAttrs {
  Axes axes{};
  static constexpr auto fields() { return std::tuple{op_attr("axes", &TransposeAttrs::axes)}; }
};
std::vector<int64_t> permutation(const TransposeAttrs& a, int64_t rank) {
  std::vector<int64_t> p = a.axes.values;
  if (p.empty()) {
    p.resize(static_cast<size_t>(rank));
    std::iota(p.rbegin(), p.rend(), 0);
  }
  return p;
}
constexpr OpDef<TransposeAttrs> kTranspose{
    .name = "Transpose",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const TransposeAttrs& a) {
      const std::vector<int64_t> p = permutation(a, x[0].ndim());
      Shape out(p.size());
      for (size_t i = 0; i < p.size(); ++i) out[i] = x[0].shape()[normalize_axis(p[i], x[0].ndim())];
      return Tensor::symbolic(out, x[0].dtype());
    },
    .forward = [](OpInputs x, const TransposeAttrs& a, OpSaved&) {
      return compute::transpose(x[0], permutation(a, x[0].ndim()));
    },
    .backward = [](const OpGrad& g, const TransposeAttrs& a) {
      const auto rank = static_cast<int64_t>(g.shape(0).size());
      const std::vector<int64_t> p = permutation(a, rank);
      std::vector<int64_t> inverse(p.size());
      for (size_t i = 0; i < p.size(); ++i) inverse[normalize_axis(p[i], rank)] = static_cast<int64_t>(i);
      return std::vector<Tensor>{transpose(g.grad(), inverse)};
    }};

struct SwapaxesAttrs {
  int64_t axis1 = 0, axis2 = 0;
  static constexpr auto fields() {
    return std::tuple{op_attr("axis1", &SwapaxesAttrs::axis1), op_attr("axis2", &SwapaxesAttrs::axis2)};
  }
};
std::vector<int64_t> swap_permutation(const SwapaxesAttrs& a, int64_t rank) {
  std::vector<int64_t> perm(static_cast<size_t>(rank));
  std::iota(perm.begin(), perm.end(), 0);
  std::swap(perm[normalize_axis(a.axis1, rank)], perm[normalize_axis(a.axis2, rank)]);
  return perm;
}
constexpr OpDef<SwapaxesAttrs> kSwapaxes{
    .name = "Swapaxes",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const SwapaxesAttrs& a) {
      Shape out = x[0].shape();
      std::swap(out[normalize_axis(a.axis1, x[0].ndim())], out[normalize_axis(a.axis2, x[0].ndim())]);
      return Tensor::symbolic(out, x[0].dtype());
    },
    .forward = [](OpInputs x, const SwapaxesAttrs& a, OpSaved&) {
      return compute::transpose(x[0], swap_permutation(a, x[0].ndim()));
    },
    .backward = [](const OpGrad& g, const SwapaxesAttrs& a) {
      return std::vector<Tensor>{swapaxes(g.grad(), a.axis1, a.axis2)};  // its own inverse
    }};

// ---- expand_dims, squeeze: views --------------------------------------------------------------

struct AxisAttrs {
  int64_t axis = 0;
  static constexpr auto fields() { return std::tuple{op_attr("axis", &AxisAttrs::axis)}; }
};
Shape expanded_shape(const Shape& shape, int64_t axis) {
  Shape out = shape;
  out.insert(out.begin() + normalize_axis(axis, static_cast<int64_t>(shape.size()) + 1), 1);
  return out;
}
constexpr OpDef<AxisAttrs> kExpandDims{
    .name = "ExpandDims",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const AxisAttrs& a) {
      return Tensor::symbolic(expanded_shape(x[0].shape(), a.axis), x[0].dtype());
    },
    .forward = [](OpInputs x, const AxisAttrs& a, OpSaved&) { return x[0].reshape(expanded_shape(x[0].shape(), a.axis)); },
    .backward = reshape_back<AxisAttrs>};

// Keras's Squeeze(axis=None): every size-1 axis, or the one given (which must have size 1).
struct SqueezeAttrs {
  std::optional<int64_t> axis{};
  static constexpr auto fields() { return std::tuple{op_attr("axis", &SqueezeAttrs::axis)}; }
};
Shape squeezed_shape(const Shape& shape, std::optional<int64_t> axis) {
  Shape out;
  if (axis) {
    const int a = normalize_axis(*axis, static_cast<int64_t>(shape.size()));
    if (shape[a] != 1) {
      throw ValueError(
          fmt::format("squeeze: axis {} of shape {} has size {}, not 1.", *axis, shape_to_string(shape), shape[a]));
    }
    out = shape;
    out.erase(out.begin() + a);
  } else {
    for (int64_t d : shape) {
      if (d != 1) out.push_back(d);
    }
  }
  return out;
}
constexpr OpDef<SqueezeAttrs> kSqueeze{
    .name = "Squeeze",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const SqueezeAttrs& a) {
      return Tensor::symbolic(squeezed_shape(x[0].shape(), a.axis), x[0].dtype());
    },
    .forward = [](OpInputs x, const SqueezeAttrs& a, OpSaved&) {
      return x[0].reshape(squeezed_shape(x[0].shape(), a.axis));
    },
    .backward = reshape_back<SqueezeAttrs>};

// ---- concatenate, stack ---------------------------------------------------------------------

struct JoinAttrs {
  int64_t axis = 0;
  static constexpr auto fields() { return std::tuple{op_attr("axis", &JoinAttrs::axis)}; }
};

// The concatenation's shape; ShapeError when the parts differ outside the axis.
Shape concatenated_shape(OpInputs tensors, int64_t axis) {
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
  return out_shape;
}

constexpr OpDef<JoinAttrs> kConcatenate{
    .name = "Concatenate",
    .module = kNumpyModule,
    .list_input = true,
    .spec = [](OpInputs x, const JoinAttrs& a) {
      return Tensor::symbolic(concatenated_shape(x, a.axis), x[0].dtype());
    },
    .forward = [](OpInputs x, const JoinAttrs& a, OpSaved&) {
      const int axis = normalize_axis(a.axis, x[0].ndim());
      Tensor out = Tensor::empty(concatenated_shape(x, a.axis), x[0].dtype());
      int64_t offset = 0;
      for (const Tensor& t : x) {
        compute::slice_assign(t, out, axis, offset, 1);
        offset += t.shape()[axis];
      }
      return out;
    },
    .backward = [](const OpGrad& g, const JoinAttrs& a) {
      const auto count = g.input_count();
      const int axis = normalize_axis(a.axis, static_cast<int64_t>(g.shape(0).size()));
      std::vector<Tensor> grads(count);
      int64_t offset = 0;
      for (size_t i = 0; i < count; ++i) {
        const int64_t length = g.shape(i)[axis];
        if (g.needs(i)) grads[i] = slice(g.grad(), axis, offset, offset + length);
        offset += length;
      }
      return grads;
    }};

Shape stacked_shape(OpInputs tensors, int64_t axis) {
  if (tensors.empty()) throw ValueError("stack needs at least one tensor.");
  for (const Tensor& t : tensors) {
    if (t.shape() != tensors[0].shape()) {
      throw ShapeError(fmt::format("stack: all tensors must have the same shape; received {} and {}.",
                                   shape_to_string(tensors[0].shape()), shape_to_string(t.shape())));
    }
  }
  Shape shape = tensors[0].shape();
  shape.insert(shape.begin() + normalize_axis(axis, tensors[0].ndim() + 1), static_cast<int64_t>(tensors.size()));
  return shape;
}

constexpr OpDef<JoinAttrs> kStack{
    .name = "Stack",
    .module = kNumpyModule,
    .list_input = true,
    .spec = [](OpInputs x, const JoinAttrs& a) { return Tensor::symbolic(stacked_shape(x, a.axis), x[0].dtype()); },
    .forward = [](OpInputs x, const JoinAttrs& a, OpSaved&) {
      const int axis = normalize_axis(a.axis, x[0].ndim() + 1);
      Tensor out = Tensor::empty(stacked_shape(x, a.axis), x[0].dtype());
      for (size_t i = 0; i < x.size(); ++i) {
        compute::slice_assign(x[i].reshape(expanded_shape(x[i].shape(), axis)), out, axis, static_cast<int64_t>(i), 1);
      }
      return out;
    },
    .backward = [](const OpGrad& g, const JoinAttrs& a) {
      const int axis = normalize_axis(a.axis, static_cast<int64_t>(g.shape(0).size()) + 1);
      std::vector<Tensor> grads(g.input_count());
      for (size_t i = 0; i < grads.size(); ++i) {
        const auto k = static_cast<int64_t>(i);
        if (g.needs(i)) grads[i] = reshape(slice(g.grad(), axis, k, k + 1), g.shape(i));
      }
      return grads;
    }};

// ---- slicing ---------------------------------------------------------------------------------

// x[..., start:stop:step, ...] along `axis` (minidl's op: Keras slices through its own ops).
struct AxisSliceAttrs {
  int64_t axis = 0;
  std::optional<int64_t> start{}, stop{};
  int64_t step = 1;
  static constexpr auto fields() {
    return std::tuple{op_attr("axis", &AxisSliceAttrs::axis), op_attr("start", &AxisSliceAttrs::start),
                      op_attr("stop", &AxisSliceAttrs::stop), op_attr("step", &AxisSliceAttrs::step)};
  }
};
// Python's slice rules on a dim of size n: negative bounds count from the end, then clamp.
struct SliceBounds {
  int64_t begin, count;
};
SliceBounds bounds(const AxisSliceAttrs& a, int64_t n) {
  auto resolve = [n](std::optional<int64_t> v, int64_t fallback) {
    if (!v) return fallback;
    return std::clamp<int64_t>(*v < 0 ? *v + n : *v, 0, n);
  };
  const int64_t begin = resolve(a.start, 0), end = resolve(a.stop, n);
  return {begin, end > begin ? (end - begin + a.step - 1) / a.step : 0};
}
constexpr OpDef<AxisSliceAttrs> kAxisSlice{
    .name = "AxisSlice",
    .module = "minidl.ops",
    .spec = [](OpInputs x, const AxisSliceAttrs& a) {
      Shape shape = x[0].shape();
      const int axis = normalize_axis(a.axis, x[0].ndim());
      if (shape[axis] != None) shape[axis] = bounds(a, shape[axis]).count;
      return Tensor::symbolic(shape, x[0].dtype());
    },
    .forward = [](OpInputs x, const AxisSliceAttrs& a, OpSaved&) {
      const int axis = normalize_axis(a.axis, x[0].ndim());
      const SliceBounds b = bounds(a, x[0].shape()[axis]);
      return compute::slice(x[0], axis, b.begin, a.step, b.count);
    },
    .backward = [](const OpGrad& g, const AxisSliceAttrs& a) {
      const Shape& shape = g.shape(0);
      const int axis = normalize_axis(a.axis, static_cast<int64_t>(shape.size()));
      return std::vector<Tensor>{detail::slice_grad(g.grad(), shape, axis, bounds(a, shape[axis]).begin, a.step)};
    }};

// ---- gather ---------------------------------------------------------------------------------

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

// NumPy's take(x, indices, axis): the indices carry no gradient. Keras's Take(axis=None) indexes
// the flattened tensor.
struct TakeAttrs {
  std::optional<int64_t> axis{};
  static constexpr auto fields() { return std::tuple{op_attr("axis", &TakeAttrs::axis)}; }
};
constexpr OpDef<TakeAttrs> kTake{
    .name = "Take",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const TakeAttrs& a) {
      if (!a.axis) return Tensor::symbolic(x[1].shape(), x[0].dtype());
      const int axis = normalize_axis(*a.axis, x[0].ndim());
      Shape shape(x[0].shape().begin(), x[0].shape().begin() + axis);
      shape.insert(shape.end(), x[1].shape().begin(), x[1].shape().end());
      shape.insert(shape.end(), x[0].shape().begin() + axis + 1, x[0].shape().end());
      return Tensor::symbolic(shape, x[0].dtype());
    },
    .forward = [](OpInputs x, const TakeAttrs& a, OpSaved& saved) {
      const Tensor source = a.axis ? x[0] : x[0].reshape({-1});
      const int axis = a.axis ? normalize_axis(*a.axis, x[0].ndim()) : 0;
      const Tensor idx = normalized_indices(x[1], source.shape()[axis], a.axis.value_or(0));
      saved.push_back(idx);
      return compute::gather(source, axis, idx);
    },
    .backward = [](const OpGrad& g, const TakeAttrs& a) {
      const Shape& shape = g.shape(0);
      if (!a.axis) {
        int64_t n = 1;
        for (int64_t d : shape) n *= d;
        return std::vector<Tensor>{reshape(detail::take_grad(g.grad(), g.saved(0), 0, {n}), shape), Tensor()};
      }
      const int axis = normalize_axis(*a.axis, static_cast<int64_t>(shape.size()));
      return std::vector<Tensor>{detail::take_grad(g.grad(), g.saved(0), axis, shape), Tensor()};
    }};

// Keras's OneHot(num_classes, axis=-1, dtype=None, sparse=False); minidl supports axis -1,
// float32, dense.
struct OneHotAttrs {
  int64_t num_classes = 0;
  int64_t axis = -1;
  DType dtype = DType::float32;
  bool sparse = false;
  static constexpr auto fields() {
    return std::tuple{op_attr("num_classes", &OneHotAttrs::num_classes), op_attr("axis", &OneHotAttrs::axis),
                      op_attr("dtype", &OneHotAttrs::dtype), op_attr("sparse", &OneHotAttrs::sparse)};
  }
};
Shape one_hot_shape(const Shape& shape, int64_t depth) {
  Shape out = shape;
  out.push_back(depth);
  return out;
}
constexpr OpDef<OneHotAttrs> kOneHot{
    .name = "OneHot",
    .module = kNnModule,
    .spec = [](OpInputs x, const OneHotAttrs& a) { return Tensor::symbolic(one_hot_shape(x[0].shape(), a.num_classes)); },
    .forward = [](OpInputs x, const OneHotAttrs& a, OpSaved&) {
      const int64_t depth = a.num_classes;
      Tensor out = Tensor::zeros(one_hot_shape(x[0].shape(), depth));
      const float* in = x[0].data();
      float* p = out.mutable_data();
      for (int64_t i = 0; i < x[0].size(); ++i) {
        const float v = in[i];
        if (v >= 0.0f && v < static_cast<float>(depth) && v == std::trunc(v)) p[i * depth + static_cast<int64_t>(v)] = 1.0f;
      }
      return out;
    }};

}  // namespace

MINIDL_DEFINE_OP(kReshape);
MINIDL_DEFINE_OP(kTranspose);
MINIDL_DEFINE_OP(kSwapaxes);
MINIDL_DEFINE_OP(kExpandDims);
MINIDL_DEFINE_OP(kSqueeze);
MINIDL_DEFINE_OP(kConcatenate);
MINIDL_DEFINE_OP(kStack);
MINIDL_DEFINE_OP(kAxisSlice);
MINIDL_DEFINE_OP(kTake);
MINIDL_DEFINE_OP(kOneHot);

Tensor reshape(const Tensor& x, const Shape& shape) { return apply(kReshape, {x}, {.newshape = shape}); }

Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm) { return apply(kTranspose, {x}, {.axes = {perm}}); }

Tensor swapaxes(const Tensor& x, int64_t axis1, int64_t axis2) {
  return apply(kSwapaxes, {x}, {.axis1 = axis1, .axis2 = axis2});
}

Tensor expand_dims(const Tensor& x, int64_t axis) { return apply(kExpandDims, {x}, {.axis = axis}); }

Tensor squeeze(const Tensor& x, std::optional<int64_t> axis) {
  squeezed_shape(x.shape(), axis);  // the error names the axis before anything is recorded
  return apply(kSqueeze, {x}, {.axis = axis});
}

Tensor concatenate(const std::vector<Tensor>& tensors, int64_t axis) {
  concatenated_shape(tensors, axis);  // checks the parts, symbolic or not
  return apply(kConcatenate, OpInputs(tensors), {.axis = axis});
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t axis) {
  stacked_shape(tensors, axis);
  return apply(kStack, OpInputs(tensors), {.axis = axis});
}

Tensor slice(const Tensor& x, int64_t axis, std::optional<int64_t> start, std::optional<int64_t> stop,
             int64_t step) {
  normalize_axis(axis, x.ndim());
  if (step <= 0) throw ValueError(fmt::format("slice: step must be positive; received {}.", step));
  return apply(kAxisSlice, {x}, {.axis = axis, .start = start, .stop = stop, .step = step});
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

Tensor take(const Tensor& x, const Tensor& indices, int64_t axis) {
  normalize_axis(axis, x.ndim());
  return apply(kTake, {x, indices}, {.axis = axis});
}

Tensor one_hot(const Tensor& indices, int64_t depth) {
  if (depth < 0) throw ValueError(fmt::format("one_hot: depth must be non-negative; received {}.", depth));
  return apply(kOneHot, {indices}, {.num_classes = depth});
}

// ---- the gradient ops (never traced: they run inside gradient rules) ---------------------------

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

Tensor take_grad(const Tensor& dy, const Tensor& indices, int axis, const Shape& input_shape) {
  Tensor dx = Tensor::zeros(input_shape);
  compute::scatter_add(dy, indices, dx, axis);
  if (autograd::should_record(dy)) {
    autograd::record("take_grad", {dy}, {dx}, {indices}, [axis](const BackwardArgs& g) {
      return std::vector<Tensor>{take(g.grad(), g.saved[0], axis)};
    });
  }
  return dx;
}

}  // namespace detail
}  // namespace minidl::ops
