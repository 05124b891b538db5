#pragma once
// Keras's serialize_keras_object / deserialize_keras_object for layers.
//   md::json obj = md::serialize(attn);
//   // {"module": "keras.layers", "class_name": "AdditiveAttention", "config": {...},
//   //  "registered_name": null, "build_config": {"input_shape": [[null, 3, 4], [null, 4, 4]]}}
//   std::shared_ptr<md::Layer> again = md::deserialize(obj);   // built from build_config too
#include <memory>

#include "minidl/core/json.h"
#include "minidl/layers/layer.h"

namespace minidl {

json serialize(const Layer& layer);
json serialize(const Operation& operation);

// A model's envelope also holds its "compile_config" ({} until compiled), as Keras's does.
// Rebuilds a layer from serialize()'s envelope (or Keras 2's {"class_name", "config"}), built
// from build_config and, for a model with a non-empty compile_config, compiled from it (as
// keras.models.model_from_json compiles what to_json wrote for a compiled model).
// Errors name the missing or mistyped key, the expected type and the class.
std::shared_ptr<Layer> deserialize(const json& object);
// Any registered operation (layers and ops).
std::shared_ptr<Operation> deserialize_operation(const json& object);

}  // namespace minidl
