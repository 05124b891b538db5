#include "minidl/layers/concatenate.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

// A bool tensor of x's shape filled with `value`; symbolic when x is.
Tensor filled_like(const Tensor& x, bool value) {
  if (x.is_symbolic()) return Tensor::symbolic(x.shape(), DType::bool_);
  return value ? Tensor::ones(x.shape(), DType::bool_) : Tensor::zeros(x.shape(), DType::bool_);
}

}  // namespace

Concatenate::Concatenate(const ConcatenateOptions& options)
    : LayerOf("Concatenate", options.name, options.trainable, options.dtype), options_(options) {}

void Concatenate::build_weights(const ShapeSpec& input_shape) {
  if (!input_shape.is_list() || input_shape.shapes().empty()) {
    throw ValueError(fmt::format("A `Concatenate` layer should be called on a list of at least 1 input. Received: "
                                 "input_shape={}",
                                 input_shape.to_string()));
  }
  const std::string err_msg = fmt::format(
      "A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. Received: "
      "input_shape={}",
      input_shape.to_string());
  // Each shape without the concatenation axis (Python's `del shape[axis]` when it exists).
  std::set<Shape> shape_set;
  for (Shape s : input_shape.shapes()) {
    const auto rank = static_cast<int64_t>(s.size());
    const int64_t axis = options_.axis;
    if (axis >= 0 ? axis < rank : -axis <= rank) s.erase(s.begin() + (axis >= 0 ? axis : rank + axis));
    shape_set.insert(s);
  }
  if (shape_set.size() == 1) return;
  std::set<size_t> ranks;
  for (const Shape& s : shape_set) ranks.insert(s.size());
  if (ranks.size() != 1) throw ValueError(err_msg);
  for (size_t a = 0; a < *ranks.begin(); ++a) {
    std::set<int64_t> unique_dims;
    for (const Shape& s : shape_set) {
      if (s[a] != None) unique_dims.insert(s[a]);
    }
    if (unique_dims.size() > 1) throw ValueError(err_msg);
  }
}

Tensor Concatenate::merge_function(const std::vector<Tensor>& inputs) {
  return ops::concatenate(inputs, options_.axis);
}

ShapeSpec Concatenate::compute_output_shape(const ShapeSpec& input_shape) {
  if (!input_shape.is_list() || input_shape.shapes().empty()) {
    throw ValueError("A `Concatenate` layer should be called on a list of inputs. Received: input_shape=" +
                     input_shape.to_string());
  }
  const std::vector<Shape>& shapes = input_shape.shapes();
  Shape output_shape = shapes[0];
  const int axis = normalize_axis(options_.axis, static_cast<int64_t>(output_shape.size()));
  for (size_t i = 1; i < shapes.size(); ++i) {
    const int64_t d = shapes[i].at(static_cast<size_t>(normalize_axis(options_.axis, static_cast<int64_t>(shapes[i].size()))));
    if (output_shape[axis] == None || d == None) {
      output_shape[axis] = None;
      break;
    }
    output_shape[axis] += d;
  }
  return ShapeSpec(output_shape);
}

Tensor Concatenate::compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) {
  if (masks.empty()) return Tensor();
  check_mask_arguments(args, masks);
  if (std::all_of(masks.begin(), masks.end(), [](const Tensor& m) { return !m.defined(); })) return Tensor();
  const std::vector<Tensor> inputs = args.inputs();
  std::vector<Tensor> full;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!masks[i].defined()) {
      full.push_back(filled_like(inputs[i], true));  // an unmasked input keeps every entry
    } else if (masks[i].ndim() < inputs[i].ndim()) {
      // (B, T) -> (B, T, 1), broadcast against the input's shape.
      full.push_back(ops::logical_or(ops::expand_dims(masks[i], -1), filled_like(inputs[i], false)));
    } else {
      full.push_back(ops::cast(masks[i], DType::bool_));
    }
  }
  const Tensor concatenated = ops::cast(ops::concatenate(full, options_.axis), DType::float32);
  // any(axis=-1)
  return ops::cast(ops::max(concatenated, {-1}, /*keepdims=*/false), DType::bool_);
}

json Concatenate::get_config() const {
  json config = Layer::get_config();
  config["axis"] = options_.axis;
  return config;
}

Concatenate Concatenate::from_config(const json& config) {
  ConfigReader r(config, "Concatenate");
  r.reject_non_null({"activity_regularizer"});
  ConcatenateOptions o;
  o.axis = r.optional<int64_t>("axis", -1);
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return Concatenate(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(Concatenate);

}  // namespace minidl::layers
