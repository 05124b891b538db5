#include "minidl/layers/reshape.h"

#include <fmt/format.h>

#include <algorithm>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

// A Python tuple of ints as Keras prints target_shape: "(-1, 8)", "(5,)".
std::string tuple_string(const Shape& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i > 0 ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

// Keras's operation_utils.validate_reshape_shape.
void validate_target_shape(const Shape& target) {
  for (int64_t d : target) {
    if (d < -1) {
      throw ValueError(fmt::format(
          "Each dimension in `target_shape` must be a non-negative integer, or `-1` for a single unknown dimension. "
          "Received: target_shape={}.",
          tuple_string(target)));
    }
  }
  if (std::count(target.begin(), target.end(), -1) > 1) {
    throw ValueError(fmt::format(
        "There must be at most one unknown dimension (-1) in `target_shape`. Received: target_shape={}.",
        tuple_string(target)));
  }
}

// Keras's operation_utils.compute_reshape_output_shape on the non-batch dims: the -1 becomes
// the inferred size, or None when an input dim is unknown.
Shape reshape_output_shape(const Shape& input_shape, const Shape& target) {
  const auto unknown = std::find(target.begin(), target.end(), -1);
  if (!is_fully_defined(input_shape)) return target;  // -1 stays unknown (None)
  int64_t input_size = 1;
  for (int64_t d : input_shape) input_size = multiply_sizes(input_size, d);
  if (unknown == target.end()) {
    int64_t size = 1;
    for (int64_t d : target) size = multiply_sizes(size, d);
    if (size != input_size) {
      throw ValueError(fmt::format(
          "The total size of the tensor must be unchanged. Received: input_shape={}, target_shape={}",
          tuple_string(input_shape), tuple_string(target)));
    }
    return target;
  }
  int64_t known = 1;
  for (int64_t d : target) {
    if (d != -1) known = multiply_sizes(known, d);
  }
  if (known == 0 || input_size % known != 0) {
    throw ValueError(fmt::format(
        "The total size of the tensor must be unchanged, however, the input size cannot by divided by the specified "
        "dimensions in target_shape. Received: input_shape={}, target_shape={}",
        tuple_string(input_shape), tuple_string(target)));
  }
  Shape out = target;
  out[static_cast<size_t>(unknown - target.begin())] = input_size / known;
  return out;
}

}  // namespace

Reshape::Reshape(const ReshapeOptions& options)
    : LayerOf("Reshape", options.name, options.trainable, options.dtype), options_(options) {
  validate_target_shape(options.target_shape);
  build_at_init();  // Keras sets built = True in the constructor
}

ShapeSpec Reshape::compute_output_shape(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.shape();
  if (shape.empty()) {
    throw ValueError(fmt::format("Layer '{}': Reshape needs an input with a batch axis; received shape ().", name()));
  }
  Shape out = {shape[0]};
  const Shape rest = reshape_output_shape(Shape(shape.begin() + 1, shape.end()), options_.target_shape);
  out.insert(out.end(), rest.begin(), rest.end());
  return ShapeSpec(out);
}

std::vector<Tensor> Reshape::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor x = args.input();
  return {Tensor::symbolic(compute_output_shape(ShapeSpec(x.shape())).shape(), x.dtype())};
}

std::vector<Tensor> Reshape::call(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor x = args.input();
  // Concrete inputs know every dim, so the target resolves fully and the batch axis is kept.
  return {ops::reshape(x, compute_output_shape(ShapeSpec(x.shape())).shape())};
}

json Reshape::get_config() const {
  json config = Layer::get_config();
  config["target_shape"] = options_.target_shape;
  return config;
}

Reshape Reshape::from_config(const json& config) {
  ConfigReader r(config, "Reshape");
  r.reject_non_null({"activity_regularizer"});
  ReshapeOptions o;
  const json& target = r.required<json>("target_shape");
  for (const json& d : target) {
    if (!d.is_number_integer()) {
      throw TypeError(fmt::format("Reshape config key 'target_shape' must be a list of integers; received {}.",
                                  target.dump()));
    }
    o.target_shape.push_back(d.get<int64_t>());
  }
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return Reshape(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(Reshape);

}  // namespace minidl::layers
