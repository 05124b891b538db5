#include "minidl/core/keras_envelope.h"

#include <fmt/format.h>

#include "minidl/core/error.h"

namespace minidl {

json keras_envelope(const std::string& module, const std::string& class_name, json config,
                    const std::optional<std::string>& registered_name) {
  return json{{"module", module},
              {"class_name", class_name},
              {"config", std::move(config)},
              {"registered_name", registered_name ? json(*registered_name) : json(nullptr)}};
}

json keras_envelope(const std::string& builtin_module, bool builtin, const std::string& class_name, json config) {
  if (builtin) return keras_envelope(builtin_module, class_name, std::move(config), std::nullopt);
  return keras_envelope("minidl.custom", class_name, std::move(config), "Custom>" + class_name);
}

std::string serialized_class_name(const json& object) {
  if (!object.is_object() || !object.contains("class_name") || !object.at("class_name").is_string()) {
    throw ValueError(fmt::format("A serialized object needs a string 'class_name'; received {}.", object.dump()));
  }
  std::string name = object.at("class_name").get<std::string>();
  if (auto it = object.find("registered_name"); it != object.end() && it->is_string()) {
    const std::string registered = it->get<std::string>();
    const auto sep = registered.find('>');
    if (sep != std::string::npos) name = registered.substr(sep + 1);
  }
  return name;
}

json envelope_config(const json& object, const std::string& what) {
  if (!object.is_object() || !object.contains("class_name") || !object.at("class_name").is_string()) {
    throw ValueError(fmt::format("A serialized {} must be an object with a string 'class_name' (and a 'config'); "
                                 "received {}.",
                                 what, object.dump()));
  }
  return object.contains("config") && !object.at("config").is_null() ? object.at("config") : json::object();
}

}  // namespace minidl
