// Reductions and their adjoints, broadcast_to and sum_to (each the other's gradient).
#include <algorithm>

#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/detail/grad_ops.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::ops {

using autograd::BackwardArgs;
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

// The graph node of a reduction on a symbolic tensor (Keras's Sum/Mean/Max/Min).
Tensor traced_reduce(const char* class_name, const Tensor& x, const std::vector<int64_t>& axes, bool keepdims,
                     DType dtype) {
  const std::vector<int> reduced = normalize_axes(axes, x.ndim());
  Shape shape;
  for (int i = 0; i < x.ndim(); ++i) {
    if (std::find(reduced.begin(), reduced.end(), i) == reduced.end()) {
      shape.push_back(x.shape()[i]);
    } else if (keepdims) {
      shape.push_back(1);
    }
  }
  return trace_op(class_name, {{"axis", axes_to_json(axes)}, {"keepdims", keepdims}}, CallArgs::positional({x}),
                  spec(shape, dtype));
}

// Spreads a reduction's gradient back over the input: reshape to keepdims form, broadcast.
Tensor spread(const Tensor& g, const Shape& input_shape, const std::vector<int64_t>& axes) {
  return broadcast_to(reshape(g, kept_shape(input_shape, axes)), input_shape);
}

// max/min: the gradient is shared equally by the entries equal to the result.
Tensor extremum(const char* name, const char* class_name, ReduceOp op, const Tensor& x,
                const std::vector<int64_t>& axes, bool keepdims) {
  if (symbolic::any(x)) return traced_reduce(class_name, x, axes, keepdims, x.dtype());
  Tensor y = compute::reduce(op, x, axes, keepdims);
  if (autograd::should_record(x)) {
    autograd::record(name, {x}, {y}, {x, y}, [axes](const BackwardArgs& g) {
      const Tensor &x = g.saved[0], &y = g.saved[1];
      const Tensor hits = cast(equal(x, reshape(y, kept_shape(x.shape(), axes))), DType::float32);
      const Tensor count = sum(hits, axes, /*keepdims=*/true);
      return std::vector<Tensor>{divide(multiply(spread(g.grad(), x.shape(), axes), hits), count)};
    });
  }
  return y;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  if (symbolic::any(x)) {
    return traced_reduce("Sum", x, axes, keepdims, x.dtype() == DType::bool_ ? DType::float32 : x.dtype());
  }
  Tensor y = compute::reduce(ReduceOp::sum, x, axes, keepdims);
  if (autograd::should_record(x)) {
    autograd::record("sum", {x}, {y}, {}, [axes, shape = x.shape()](const BackwardArgs& g) {
      return std::vector<Tensor>{spread(g.grad(), shape, axes)};
    });
  }
  return y;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  if (symbolic::any(x)) return traced_reduce("Mean", x, axes, keepdims, DType::float32);
  Tensor y = compute::reduce(ReduceOp::mean, x, axes, keepdims);
  if (autograd::should_record(x)) {
    autograd::record("mean", {x}, {y}, {}, [axes, shape = x.shape()](const BackwardArgs& g) {
      const float scale = 1.0f / static_cast<float>(std::max<int64_t>(reduced_count(shape, axes), 1));
      return std::vector<Tensor>{multiply(spread(g.grad(), shape, axes), scale)};
    });
  }
  return y;
}

Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return extremum("max", "Max", ReduceOp::max, x, axes, keepdims);
}

Tensor min(const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  return extremum("min", "Min", ReduceOp::min, x, axes, keepdims);
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  if (symbolic::any(x)) {
    json dims = json::array();
    for (int64_t d : shape) dims.push_back(d < 0 ? json(nullptr) : json(d));
    return trace_op("BroadcastTo", {{"shape", dims}}, CallArgs::positional({x}), spec(shape, x.dtype()));
  }
  Tensor y = compute::broadcast_to(x, shape);
  if (autograd::should_record(x)) {
    autograd::record("broadcast_to", {x}, {y}, {}, [from = x.shape()](const BackwardArgs& g) {
      return std::vector<Tensor>{sum_to(g.grad(), from)};
    });
  }
  return y;
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

// ---- the op table ----------------------------------------------------------------------------
namespace {
}
MINIDL_REGISTER_OP(Sum, kNumpyModule,
                   { return {sum(arg(a, 0), axes_from(config.value("axis", json())), config.value("keepdims", false))}; });
MINIDL_REGISTER_OP(Mean, kNumpyModule,
                   { return {mean(arg(a, 0), axes_from(config.value("axis", json())), config.value("keepdims", false))}; });
MINIDL_REGISTER_OP(Max, kNumpyModule,
                   { return {max(arg(a, 0), axes_from(config.value("axis", json())), config.value("keepdims", false))}; });
MINIDL_REGISTER_OP(Min, kNumpyModule,
                   { return {min(arg(a, 0), axes_from(config.value("axis", json())), config.value("keepdims", false))}; });
MINIDL_REGISTER_OP(BroadcastTo, kNumpyModule, {
  Shape shape;
  for (const auto& d : config.at("shape")) shape.push_back(d.is_null() ? None : d.get<int64_t>());
  return {broadcast_to(arg(a, 0), shape)};
});

}  // namespace minidl::ops
