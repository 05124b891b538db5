#include "minidl/layers/flatten.h"

#include <numeric>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/data_format.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

// The product of the non-batch dims, 1 when there are none, None when one is unknown.
int64_t flattened_dim(const Shape& shape) {
  int64_t n = 1;
  for (size_t i = 1; i < shape.size(); ++i) {
    if (shape[i] == None) return None;
    n = multiply_sizes(n, shape[i]);
  }
  return n;
}

}  // namespace

Flatten::Flatten(const FlattenOptions& options)
    : LayerOf("Flatten", options.name, options.trainable, options.dtype), options_(options) {
  options_.data_format = standardize_data_format(options.data_format);
  set_input_spec({.min_ndim = 1});
}

std::vector<Tensor> Flatten::call(const CallArgs& args, const CallContext& /*ctx*/) {
  Tensor x = args.input();
  const auto rank = static_cast<int64_t>(x.ndim());
  const Shape input_shape = x.shape();
  if (options_.data_format == "channels_first" && rank > 1) {
    // To channels_last: (B, C, d1, ..., dk) -> (B, d1, ..., dk, C).
    std::vector<int64_t> perm = {0};
    for (int64_t a = 2; a < rank; ++a) perm.push_back(a);
    perm.push_back(1);
    x = ops::transpose(x, perm);
  }
  return {ops::reshape(x, {input_shape[0], flattened_dim(input_shape)})};
}

ShapeSpec Flatten::compute_output_shape(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.shape();
  return ShapeSpec(Shape{shape.at(0), flattened_dim(shape)});
}

std::vector<Tensor> Flatten::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  const Tensor x = args.input();
  return {Tensor::symbolic(compute_output_shape(ShapeSpec(x.shape())).shape(), x.dtype())};
}

json Flatten::get_config() const {
  json config = Layer::get_config();
  config["data_format"] = options_.data_format;
  return config;
}

Flatten Flatten::from_config(const json& config) {
  ConfigReader r(config, "Flatten");
  r.reject_non_null({"activity_regularizer"});
  FlattenOptions o;
  o.data_format = r.optional<std::string>("data_format", "");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return Flatten(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(Flatten);

}  // namespace minidl::layers
