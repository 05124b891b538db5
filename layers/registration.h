#pragma once
// MINIDL_REGISTER_LAYER(Name): one line that makes a layer class serializable (md::deserialize,
// functional configs, .keras files).
//
// The class is rebuilt from a config with `static Name from_config(const md::json&)` when it
// has one; otherwise with a constructor taking the layer name (std::string), or the default
// constructor. Its configs are written with registered_name "Custom>Name", as Keras's
// register_keras_serializable() does.
#include <memory>
#include <string>
#include <type_traits>

#include "minidl/core/config_reader.h"
#include "minidl/core/registry.h"
#include "minidl/layers/layer.h"

namespace minidl::detail {

template <class T>
std::shared_ptr<Operation> make_from_config(const json& config, const std::string& class_name) {
  if constexpr (requires { T::from_config(config); }) {
    return std::make_shared<T>(T::from_config(config));
  } else if constexpr (std::is_constructible_v<T, std::string>) {
    const ConfigReader r(config, class_name);
    auto layer = std::make_shared<T>(r.name());
    layer->set_trainable(r.trainable());
    return layer;
  } else {
    return std::make_shared<T>();
  }
}

template <class T>
bool register_layer(const std::string& class_name, bool builtin) {
  static_assert(std::is_base_of_v<Layer, T>,
                "MINIDL_REGISTER_LAYER needs a class derived from minidl::Layer (through md::LayerOf<Class>)");
  auto factory = [class_name](const json& config) { return make_from_config<T>(config, class_name); };
  if (builtin) {
    Registry::instance().add({.class_name = class_name, .module = "keras.layers", .factory = factory, .builtin = true});
  } else {
    Registry::instance().add(class_name, factory);  // "minidl.custom", "Custom>Name"
  }
  return true;
}

}  // namespace minidl::detail

#define MINIDL_REGISTER_LAYER(Name) \
  static const bool minidl_layer_registered_##Name = ::minidl::detail::register_layer<Name>(#Name, false)

// For minidl's own layers, which serialize as Keras's built-ins ("keras.layers", no
// registered name).
#define MINIDL_REGISTER_BUILTIN_LAYER(Name) \
  static const bool minidl_layer_registered_##Name = ::minidl::detail::register_layer<Name>(#Name, true)
