#pragma once
// Reads a layer config with errors that name the key, the expected type and the class:
//   ConfigReader r(config, "Dense");
//   int64_t units = r.required<int64_t>("units");
//   std::string act = r.optional<std::string>("activation", "linear");
#include <fmt/format.h>

#include <initializer_list>
#include <optional>
#include <string>
#include <type_traits>

#include "minidl/core/error.h"
#include "minidl/core/json.h"

namespace minidl {

class ConfigReader {
 public:
  ConfigReader(const json& config, std::string class_name) : config_(config), class_name_(std::move(class_name)) {
    if (!config_.is_object()) {
      throw TypeError(fmt::format("{} config must be an object; received {}.", class_name_, config_.dump()));
    }
  }

  template <class T>
  T required(const std::string& key) const {
    auto it = config_.find(key);
    if (it == config_.end()) {
      throw ValueError(fmt::format("{} config is missing the required key '{}' ({}).", class_name_, key,
                                   type_name<T>()));
    }
    return convert<T>(key, *it);
  }

  template <class T>
  T optional(const std::string& key, T fallback) const {
    auto it = config_.find(key);
    if (it == config_.end() || it->is_null()) return fallback;
    return convert<T>(key, *it);
  }

  template <class T>
  std::optional<T> maybe(const std::string& key) const {
    auto it = config_.find(key);
    if (it == config_.end() || it->is_null()) return std::nullopt;
    return convert<T>(key, *it);
  }

  bool has(const std::string& key) const { return config_.contains(key) && !config_.at(key).is_null(); }
  // Keras features minidl does not implement (regularizers, constraints, quantization, ...) are
  // written as null; a config that sets one is rejected rather than silently ignored.
  void reject_non_null(std::initializer_list<const char*> keys) const {
    for (const char* key : keys) {
      if (has(key)) {
        throw NotImplementedError(fmt::format("{} config key '{}' is not supported by minidl (it must be null).",
                                              class_name_, key));
      }
    }
  }
  const json& at(const std::string& key) const { return config_.at(key); }
  const std::string& class_name() const { return class_name_; }

  // The layer base keys: name, trainable, dtype (a string or Keras 3's DTypePolicy object).
  std::string name() const { return optional<std::string>("name", ""); }
  bool trainable() const { return optional<bool>("trainable", true); }
  std::string dtype() const {
    auto it = config_.find("dtype");
    if (it == config_.end() || it->is_null()) return "float32";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_object() && it->contains("config") && (*it)["config"].contains("name") &&
        (*it)["config"]["name"].is_string()) {
      return (*it)["config"]["name"].get<std::string>();
    }
    throw TypeError(fmt::format("{} config key 'dtype' must be a string or a DTypePolicy object; received {}.",
                                class_name_, it->dump()));
  }

 private:
  template <class T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, bool>) return "a boolean";
    else if constexpr (std::is_integral_v<T>) return "an integer";
    else if constexpr (std::is_floating_point_v<T>) return "a number";
    else if constexpr (std::is_same_v<T, std::string>) return "a string";
    else return "a list";
  }

  template <class T>
  T convert(const std::string& key, const json& value) const {
    bool ok = false;
    if constexpr (std::is_same_v<T, bool>) ok = value.is_boolean();
    else if constexpr (std::is_integral_v<T>) ok = value.is_number_integer();
    else if constexpr (std::is_floating_point_v<T>) ok = value.is_number();
    else if constexpr (std::is_same_v<T, std::string>) ok = value.is_string();
    else ok = value.is_array();
    if (!ok) {
      throw TypeError(fmt::format("{} config key '{}' must be {}; received {}.", class_name_, key, type_name<T>(),
                                  value.dump()));
    }
    try {
      return value.get<T>();
    } catch (const json::exception&) {
      throw TypeError(fmt::format("{} config key '{}' must be {}; received {}.", class_name_, key, type_name<T>(),
                                  value.dump()));
    }
  }

  const json& config_;
  std::string class_name_;
};

}  // namespace minidl
