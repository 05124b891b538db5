#include "minidl/layers/input_layer.h"

#include <fmt/format.h>

#include "minidl/core/error.h"
#include "minidl/core/registry.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl {
namespace layers {

InputLayer::InputLayer(const InputLayerOptions& options) : LayerOf("InputLayer", options.name) {
  if (options.batch_shape && (!options.shape.empty() || options.batch_size)) {
    throw ValueError(options.batch_size ? "You cannot pass both `batch_size` and `batch_shape` at the same time."
                                        : "You cannot pass both `shape` and `batch_shape` at the same time.");
  }
  if (options.batch_shape) {
    batch_shape_ = *options.batch_shape;
  } else {
    batch_shape_ = {options.batch_size.value_or(None)};
    batch_shape_.insert(batch_shape_.end(), options.shape.begin(), options.shape.end());
  }
  for (int64_t d : batch_shape_) {
    if (d < None) throw ValueError("Invalid dimension in input shape " + shape_to_string(batch_shape_) + ".");
  }
  dtype_ = dtype_from_name(options.dtype);
  sparse_ = options.sparse;
  ragged_ = options.ragged;
  optional_ = options.optional;
  if (sparse_ || ragged_) throw ValueError("minidl supports dense inputs only (sparse=false, ragged=false).");
  build_at_init();  // Keras sets built = True in the constructor: no build_config is written
}

std::shared_ptr<InputLayer> InputLayer::create(const InputLayerOptions& options) {
  auto layer = std::make_shared<InputLayer>(options);
  layer->attach_output();
  return layer;
}

void InputLayer::attach_output() {
  if (state_->node) return;
  std::vector<Tensor> outputs = {Tensor::symbolic(batch_shape_, dtype_)};
  state_->node = record_node(CallArgs(), outputs);
}

std::shared_ptr<InputLayer> InputLayer::from_config(const json& config) {
  ConfigReader r(config, "InputLayer");
  InputLayerOptions options;
  // Keras 3 writes batch_shape; Keras 2 wrote batch_input_shape.
  const char* key = r.has("batch_shape") ? "batch_shape" : "batch_input_shape";
  if (!r.has(key)) throw ValueError("InputLayer config is missing the required key 'batch_shape' (a list).");
  options.batch_shape = ShapeSpec::from_json(r.at(key)).shape();
  options.dtype = r.dtype();
  options.sparse = r.optional<bool>("sparse", false);
  options.ragged = r.optional<bool>("ragged", false);
  options.optional = r.optional<bool>("optional", false);
  options.name = r.name();
  return create(options);
}

json InputLayer::get_config() const {
  json shape = json::array();
  for (int64_t d : batch_shape_) shape.push_back(d < 0 ? json(nullptr) : json(d));
  return {{"batch_shape", shape}, {"dtype", dtype_name(dtype_)}, {"sparse", sparse_},
          {"ragged", ragged_},    {"name", name()},              {"optional", optional_}};
}

std::vector<Tensor> InputLayer::call(const CallArgs& args, const CallContext& /*ctx*/) {
  // Replaying a graph feeds inputs in directly; calling an InputLayer passes its input through.
  return args.inputs();
}

}  // namespace layers

Tensor Input(const Shape& shape, const std::string& name, DType dtype) {
  return layers::InputLayer::create({.shape = shape, .dtype = dtype_name(dtype), .name = name})->output();
}

namespace {
const bool input_layer_registered = [] {
  Registry::instance().add({.class_name = "InputLayer",
                            .module = "keras.layers",
                            .factory = [](const json& config) -> std::shared_ptr<Operation> {
                              return layers::InputLayer::from_config(config);
                            },
                            .builtin = true});
  return true;
}();
}  // namespace

}  // namespace minidl
