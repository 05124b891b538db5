#include "minidl/layers/serialization.h"

#include <fmt/format.h>

#include "minidl/core/error.h"
#include "minidl/core/keras_envelope.h"
#include "minidl/core/registry.h"

namespace minidl {

json serialize(const Operation& operation) {
  json out = keras_envelope(operation.module(), operation.class_name(), operation.get_config(),
                            operation.registered_name());
  if (const auto* layer = dynamic_cast<const Layer*>(&operation)) {
    const json build = layer->get_build_config();
    if (!build.is_null()) out["build_config"] = build;
    const json compile = layer->serialized_compile_config();
    if (!compile.is_null()) out["compile_config"] = compile;
  }
  return out;
}

json serialize(const Layer& layer) { return serialize(static_cast<const Operation&>(layer)); }

std::shared_ptr<Operation> deserialize_operation(const json& object) {
  if (!object.is_object()) {
    throw TypeError("Cannot deserialize " + object.dump() + ": expected an object with 'class_name' and 'config'.");
  }
  auto string_key = [&](const char* key, bool required) -> std::string {
    auto it = object.find(key);
    if (it == object.end() || it->is_null()) {
      if (required) {
        throw ValueError(fmt::format("Cannot deserialize {}: missing key '{}' (a string).", object.dump(), key));
      }
      return {};
    }
    if (!it->is_string()) {
      throw TypeError(fmt::format("Cannot deserialize an object: key '{}' must be a string; received {}.", key,
                                  it->dump()));
    }
    return it->get<std::string>();
  };
  const std::string class_name = string_key("class_name", true);
  const std::string module = string_key("module", false);
  const std::string registered = string_key("registered_name", false);
  auto config_it = object.find("config");
  if (config_it == object.end() || !config_it->is_object()) {
    throw ValueError(fmt::format("Cannot deserialize class '{}': key 'config' must be an object; received {}.",
                                 class_name, config_it == object.end() ? std::string("nothing") : config_it->dump()));
  }
  std::shared_ptr<Operation> op;
  try {
    op = Registry::instance().create(class_name, *config_it, module,
                                     registered.empty() ? std::nullopt : std::optional<std::string>(registered));
  } catch (const Error& e) {
    // Keras's wording, with the original error kept.
    const std::string message = e.what();
    if (message.rfind("Could not locate class", 0) == 0) throw;
    throw TypeError(fmt::format("Error when deserializing class '{}' using config={}.\n\nException encountered: {}",
                                class_name, config_it->dump(), message));
  }
  if (auto layer = std::dynamic_pointer_cast<Layer>(op)) {
    if (auto build = object.find("build_config"); build != object.end() && !build->is_null()) {
      if (!build->is_object()) {
        throw TypeError(fmt::format("Cannot deserialize class '{}': key 'build_config' must be an object; received {}.",
                                    class_name, build->dump()));
      }
      layer->build_from_config(*build);
    }
    if (auto compile = object.find("compile_config");
        compile != object.end() && !compile->is_null() && !(compile->is_object() && compile->empty())) {
      layer->compile_from_serialized_config(*compile);
    }
  }
  return op;
}

std::shared_ptr<Layer> deserialize(const json& object) {
  auto op = deserialize_operation(object);
  auto layer = std::dynamic_pointer_cast<Layer>(op);
  if (!layer) {
    throw TypeError(fmt::format("Class '{}' is an operation, not a layer.", op->class_name()));
  }
  return layer;
}

}  // namespace minidl
