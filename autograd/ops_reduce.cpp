// Reductions (one OpDef each, autograd/op_def.h) and their adjoints, broadcast_to and sum_to
// (each the other's gradient).
#include <algorithm>

#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::ops {

using compute::ReduceOp;

namespace {

// x's shape with the reduced axes kept as 1: where a reduction's gradient is reshaped to.
Shape kept_shape(const Shape& shape, const std::vector<int64_t>& axes) {
  Shape out = shape;
  for (int a : normalize_axes(axes, static_cast<int64_t>(shape.size()))) out[a] = 1;
  return out;
}

int64_t reduced_count(const Shape& shape, const std::vector<int64_t>& axes) {
  int64_t n = 1;
  for (int a : normalize_axes(axes, static_cast<int64_t>(shape.size()))) n *= shape[a];
  return n;
}

// Spreads a reduction's gradient back over the input: reshape to keepdims form, broadcast.
Tensor spread(const Tensor& g, const Shape& input_shape, const std::vector<int64_t>& axes) {
  return broadcast_to(reshape(g, kept_shape(input_shape, axes)), input_shape);
}

// Keras's Sum/Mean/Max/Min(axis=None, keepdims=False).
struct ReduceAttrs {
  Axes axis{};
  bool keepdims = false;
  static constexpr auto fields() {
    return std::tuple{op_attr("axis", &ReduceAttrs::axis), op_attr("keepdims", &ReduceAttrs::keepdims)};
  }
};

// The reduced shape, with dtype `dtype` (the input's when nullopt).
Tensor reduce_spec(const Tensor& x, const ReduceAttrs& a, std::optional<DType> dtype) {
  const std::vector<int> reduced = normalize_axes(a.axis.values, x.ndim());
  Shape shape;
  for (int i = 0; i < x.ndim(); ++i) {
    if (std::find(reduced.begin(), reduced.end(), i) == reduced.end()) {
      shape.push_back(x.shape()[i]);
    } else if (a.keepdims) {
      shape.push_back(1);
    }
  }
  return Tensor::symbolic(shape, dtype.value_or(x.dtype()));
}

constexpr OpDef<ReduceAttrs> kSum{
    .name = "Sum",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const ReduceAttrs& a) {
      return reduce_spec(x[0], a, x[0].dtype() == DType::bool_ ? DType::float32 : x[0].dtype());
    },
    .forward = [](OpInputs x, const ReduceAttrs& a, OpSaved&) {
      return compute::reduce(ReduceOp::sum, x[0], a.axis.values, a.keepdims);
    },
    .backward = [](const OpGrad& g, const ReduceAttrs& a) {
      return std::vector<Tensor>{spread(g.grad(), g.shape(0), a.axis.values)};
    }};

constexpr OpDef<ReduceAttrs> kMean{
    .name = "Mean",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const ReduceAttrs& a) { return reduce_spec(x[0], a, DType::float32); },
    .forward = [](OpInputs x, const ReduceAttrs& a, OpSaved&) {
      return compute::reduce(ReduceOp::mean, x[0], a.axis.values, a.keepdims);
    },
    .backward = [](const OpGrad& g, const ReduceAttrs& a) {
      const float scale = 1.0f / static_cast<float>(std::max<int64_t>(reduced_count(g.shape(0), a.axis.values), 1));
      return std::vector<Tensor>{multiply(spread(g.grad(), g.shape(0), a.axis.values), scale)};
    }};

// max/min: the gradient is shared equally by the entries equal to the result.
template <ReduceOp kOp>
constexpr OpDef<ReduceAttrs> extremum(const char* name) {
  return {.name = name,
          .module = kNumpyModule,
          .spec = [](OpInputs x, const ReduceAttrs& a) { return reduce_spec(x[0], a, std::nullopt); },
          .forward = [](OpInputs x, const ReduceAttrs& a, OpSaved& saved) {
            Tensor y = compute::reduce(kOp, x[0], a.axis.values, a.keepdims);
            saved.push_back(x[0]);
            saved.push_back(y);
            return y;
          },
          .backward = [](const OpGrad& g, const ReduceAttrs& a) {
            const Tensor &x = g.saved(0), &y = g.saved(1);
            const std::vector<int64_t>& axes = a.axis.values;
            const Tensor hits = cast(equal(x, reshape(y, kept_shape(x.shape(), axes))), DType::float32);
            const Tensor count = sum(hits, axes, /*keepdims=*/true);
            return std::vector<Tensor>{divide(multiply(spread(g.grad(), x.shape(), axes), hits), count)};
          }};
}
constexpr OpDef<ReduceAttrs> kMax = extremum<ReduceOp::max>("Max");
constexpr OpDef<ReduceAttrs> kMin = extremum<ReduceOp::min>("Min");

// Keras's BroadcastTo(shape).
struct BroadcastToAttrs {
  Shape shape{};
  static constexpr auto fields() { return std::tuple{op_attr("shape", &BroadcastToAttrs::shape)}; }
};
constexpr OpDef<BroadcastToAttrs> kBroadcastTo{
    .name = "BroadcastTo",
    .module = kNumpyModule,
    .spec = [](OpInputs x, const BroadcastToAttrs& a) { return Tensor::symbolic(a.shape, x[0].dtype()); },
    .forward = [](OpInputs x, const BroadcastToAttrs& a, OpSaved&) { return compute::broadcast_to(x[0], a.shape); },
    .backward = [](const OpGrad& g, const BroadcastToAttrs&) {
      return std::vector<Tensor>{sum_to(g.grad(), g.shape(0))};
    }};

}  // namespace

MINIDL_DEFINE_OP(kSum);
MINIDL_DEFINE_OP(kMean);
MINIDL_DEFINE_OP(kMax);
MINIDL_DEFINE_OP(kMin);
MINIDL_DEFINE_OP(kBroadcastTo);

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return apply(kSum, {x}, {.axis = {axes}, .keepdims = keepdims});
}
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return apply(kMean, {x}, {.axis = {axes}, .keepdims = keepdims});
}
Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return apply(kMax, {x}, {.axis = {axes}, .keepdims = keepdims});
}
Tensor min(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return apply(kMin, {x}, {.axis = {axes}, .keepdims = keepdims});
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  return apply(kBroadcastTo, {x}, {.shape = shape});
}

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  const Shape& from = x.shape();
  if (shape.size() > from.size()) {
    throw ShapeError("sum_to: cannot sum shape " + shape_to_string(from) + " down to the larger rank of " +
                     shape_to_string(shape) + ".");
  }
  // Leading axes that broadcasting added, then axes where the target has size 1.
  std::vector<int64_t> axes;
  const size_t lead = from.size() - shape.size();
  for (size_t i = 0; i < from.size(); ++i) {
    if (i < lead) {
      axes.push_back(static_cast<int64_t>(i));
    } else if (shape[i - lead] == 1 && from[i] != 1) {
      axes.push_back(static_cast<int64_t>(i));
    } else if (shape[i - lead] != from[i]) {
      throw ShapeError("sum_to: shape " + shape_to_string(from) + " is not a broadcast of " + shape_to_string(shape) +
                       ".");
    }
  }
  return reshape(sum(x, axes, /*keepdims=*/true), shape);
}

}  // namespace minidl::ops
