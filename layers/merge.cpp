#include "minidl/layers/merge.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"

namespace minidl::layers {
namespace {

// Keras's Merge._compute_elemwise_op_output_shape on the non-batch dims: right-aligned
// broadcasting where None wins over everything but a mismatch.
Shape elemwise_output_shape(const Shape& shape1, const Shape& shape2) {
  if (shape1.size() < shape2.size()) return elemwise_output_shape(shape2, shape1);
  if (shape2.empty()) return shape1;
  Shape out(shape1.begin(), shape1.end() - static_cast<std::ptrdiff_t>(shape2.size()));
  for (size_t k = 0; k < shape2.size(); ++k) {
    const int64_t i = shape1[shape1.size() - shape2.size() + k];
    const int64_t j = shape2[k];
    if (i == None || j == None) {
      out.push_back(None);
    } else if (i == 1) {
      out.push_back(j);
    } else if (j == 1) {
      out.push_back(i);
    } else {
      if (i != j) {
        throw ValueError(fmt::format("Inputs have incompatible shapes. Received shapes {} and {}",
                                     shape_to_string(shape1), shape_to_string(shape2)));
      }
      out.push_back(i);
    }
  }
  return out;
}

Shape non_batch(const Shape& s) { return s.empty() ? Shape{} : Shape(s.begin() + 1, s.end()); }

}  // namespace

Merge::Merge(std::string class_name, std::string name, bool trainable, std::string dtype)
    : Layer(std::move(class_name), std::move(name), trainable, std::move(dtype)) {}

void Merge::build_weights(const ShapeSpec& input_shape) {
  if (!input_shape.is_list()) {
    throw ValueError(fmt::format(
        "A merge layer should be called on a list of inputs. Received: input_shape={} (not a list of shapes)",
        input_shape.to_string()));
  }
  const std::vector<Shape>& shapes = input_shape.shapes();
  if (shapes.empty()) {
    throw ValueError(fmt::format(
        "A merge layer should be called on a list of at least 1 input. Received 0 inputs. Full input_shape received: "
        "{}",
        input_shape.to_string()));
  }
  std::set<int64_t> batch_sizes;
  for (const Shape& s : shapes) {
    if (!s.empty() && s[0] != None) batch_sizes.insert(s[0]);
  }
  if (batch_sizes.size() > 1) {
    throw ValueError("Cannot merge tensors with different batch sizes. Received tensors with shapes " +
                     input_shape.to_string());
  }
  Shape output_shape = non_batch(shapes[0]);
  for (size_t i = 1; i < shapes.size(); ++i) output_shape = elemwise_output_shape(output_shape, non_batch(shapes[i]));
  state_->reshape_required = std::any_of(shapes.begin(), shapes.end(),
                                   [&](const Shape& s) { return s.size() != shapes[0].size(); });
}

std::vector<Tensor> Merge::call(const CallArgs& args, const CallContext& /*ctx*/) {
  if (!args.input_is_list()) {
    throw ValueError(fmt::format("A merge layer should be called on a list of inputs. Received: inputs={} (not a list "
                                 "of tensors)",
                                 shape_to_string(args.input().shape())));
  }
  std::vector<Tensor> inputs = args.inputs();
  if (state_->reshape_required) {
    // Inputs of lower rank get new axes after the batch axis until every rank is the same.
    int64_t max_ndim = 0;
    for (const Tensor& x : inputs) max_ndim = std::max(max_ndim, x.ndim());
    for (Tensor& x : inputs) {
      while (x.ndim() < max_ndim) x = ops::expand_dims(x, 1);
    }
  }
  return {merge_function(inputs)};
}

ShapeSpec Merge::compute_output_shape(const ShapeSpec& input_shape) {
  if (!input_shape.is_list() || input_shape.shapes().empty()) {
    throw ValueError(fmt::format(
        "A merge layer should be called on a list of inputs. Received: input_shape={} (not a list of shapes)",
        input_shape.to_string()));
  }
  const std::vector<Shape>& shapes = input_shape.shapes();
  Shape output_shape = non_batch(shapes[0]);
  for (size_t i = 1; i < shapes.size(); ++i) output_shape = elemwise_output_shape(output_shape, non_batch(shapes[i]));
  std::set<int64_t> batch_sizes;
  for (const Shape& s : shapes) {
    if (!s.empty() && s[0] != None) batch_sizes.insert(s[0]);
  }
  output_shape.insert(output_shape.begin(), batch_sizes.size() == 1 ? *batch_sizes.begin() : None);
  return ShapeSpec(output_shape);
}

std::vector<Tensor> Merge::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  std::vector<Shape> shapes;
  for (const Tensor& t : args.inputs()) shapes.push_back(t.shape());
  if (shapes.empty()) throw ValueError(fmt::format("Layer '{}' was called without an input tensor.", name()));
  const ShapeSpec spec = args.input_is_list() ? ShapeSpec::list(shapes) : ShapeSpec(shapes[0]);
  return {Tensor::symbolic(compute_output_shape(spec).shape(), DType::float32)};
}

void Merge::check_mask_arguments(const CallArgs& args, const std::vector<Tensor>& masks) const {
  if (!args.input_is_list()) {
    throw ValueError(fmt::format("`inputs` should be a list. Received: inputs={}",
                                 shape_to_string(args.input().shape())));
  }
  const size_t n_inputs = args.inputs().size();
  if (masks.size() != n_inputs) {
    throw ValueError(fmt::format(
        "The lists `inputs` and `mask` should have the same length. Received: inputs of length {}, and mask of length "
        "{}",
        n_inputs, masks.size()));
  }
}

Tensor Merge::compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) {
  if (masks.empty()) return Tensor();
  check_mask_arguments(args, masks);
  if (std::any_of(masks.begin(), masks.end(), [](const Tensor& m) { return !m.defined(); })) return Tensor();
  Tensor output_mask = masks[0];
  for (size_t i = 1; i < masks.size(); ++i) output_mask = ops::logical_or(output_mask, masks[i]);
  return output_mask;
}

}  // namespace minidl::layers
