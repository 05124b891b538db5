#include "minidl/layers/add.h"

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

Add::Add(const AddOptions& options) : LayerOf("Add", options.name, options.trainable, options.dtype) {}

Tensor Add::merge_function(const std::vector<Tensor>& inputs) {
  Tensor output = inputs.at(0);
  for (size_t i = 1; i < inputs.size(); ++i) output = ops::add(output, inputs[i]);
  return output;
}

Add Add::from_config(const json& config) {
  ConfigReader r(config, "Add");
  r.reject_non_null({"activity_regularizer"});
  return Add({.name = r.name(), .trainable = r.trainable(), .dtype = r.dtype()});
}

MINIDL_REGISTER_BUILTIN_LAYER(Add);

}  // namespace minidl::layers
