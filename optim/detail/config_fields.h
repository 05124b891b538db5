#pragma once
// Private to optim/: reads optimizer and schedule configs field by field, with errors that name
// the class, the key and what was expected, and remembers which keys were read so that leftover
// keys can be refused as Keras refuses unknown keyword arguments.
//   detail::ConfigFields f(config, "Adam");
//   double beta_1 = f.number("beta_1", 0.9);
//   f.reject_unread();   // ValueError "Argument(s) not recognized: {'foo': 1}"
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "minidl/core/error.h"
#include "minidl/core/json.h"

namespace minidl::optim::detail {

// Python's repr of a float as Keras's messages print it: 1.0, 0.5, 1e-07 (nlohmann's shortest
// round-trip form coincides with Python's for these), None when unset.
// The class a serialized object names: "Custom>Name" in registered_name resolves to Name,
// else class_name (which the caller has checked is a string).
inline std::string serialized_class_name(const json& object) {
  std::string name = object.at("class_name").get<std::string>();
  if (auto it = object.find("registered_name"); it != object.end() && it->is_string()) {
    const std::string registered = it->get<std::string>();
    const auto sep = registered.find('>');
    if (sep != std::string::npos) name = registered.substr(sep + 1);
  }
  return name;
}

// Keras's envelope: a built-in object names its Keras module and has a null registered_name;
// a user class is written under "minidl.custom" as "Custom>Name".
inline json keras_envelope(const std::string& builtin_module, bool builtin, const std::string& class_name,
                           json config) {
  return json{{"module", builtin ? builtin_module : std::string("minidl.custom")},
              {"class_name", class_name},
              {"config", std::move(config)},
              {"registered_name", builtin ? json(nullptr) : json("Custom>" + class_name)}};
}

// The config of a serialized `what` ("loss", "metric"), after checking that it names a class;
// a missing or null config reads as {}.
inline json envelope_config(const json& object, const std::string& what) {
  if (!object.is_object() || !object.contains("class_name") || !object.at("class_name").is_string()) {
    throw ValueError(fmt::format("A serialized {} must be an object with a string 'class_name' (and a 'config'); "
                                 "received {}.",
                                 what, object.dump()));
  }
  return object.contains("config") && !object.at("config").is_null() ? object.at("config") : json::object();
}

inline std::string python_repr(std::optional<double> value) {
  if (!value) return "None";
  return json(*value).dump();
}

// A JSON value as Python would print it inside a message: strings in single quotes.
inline std::string python_repr(const json& value) {
  if (value.is_null()) return "None";
  if (value.is_boolean()) return value.get<bool>() ? "True" : "False";
  if (value.is_string()) return "'" + value.get<std::string>() + "'";
  if (value.is_array()) {
    std::string out = "[";
    for (size_t i = 0; i < value.size(); ++i) out += (i ? ", " : "") + python_repr(value[i]);
    return out + "]";
  }
  if (value.is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [key, item] : value.items()) {
      out += (first ? "'" : ", '") + key + "': " + python_repr(item);
      first = false;
    }
    return out + "}";
  }
  return value.dump();
}

class ConfigFields {
 public:
  ConfigFields(const json& config, std::string class_name) : config_(config), class_name_(std::move(class_name)) {
    if (!config_.is_object()) {
      throw TypeError(fmt::format("{} config must be an object; received {}.", class_name_, config_.dump()));
    }
  }

  const std::string& class_name() const { return class_name_; }

  // The value under `key` (nullptr when absent), marked as read.
  const json* find(const std::string& key) {
    read_.insert(key);
    auto it = config_.find(key);
    return it == config_.end() ? nullptr : &*it;
  }
  void ignore(const std::string& key) { read_.insert(key); }

  std::optional<double> maybe_number(const std::string& key) {
    const json* v = find(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (!v->is_number()) throw_mistyped(key, "a number", *v);
    return v->get<double>();
  }
  double number(const std::string& key, double fallback) { return maybe_number(key).value_or(fallback); }
  double required_number(const std::string& key) {
    if (auto v = maybe_number(key)) return *v;
    throw_missing(key, "a number");
  }

  // Integers; a float with an integral value (1000.0) is read as that integer.
  std::optional<int64_t> maybe_integer(const std::string& key) {
    const json* v = find(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return as_integer(key, *v);
  }
  int64_t integer(const std::string& key, int64_t fallback) { return maybe_integer(key).value_or(fallback); }
  int64_t required_integer(const std::string& key) {
    if (auto v = maybe_integer(key)) return *v;
    throw_missing(key, "an integer");
  }
  int64_t as_integer(const std::string& key, const json& v) const {
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_number_float()) {
      const double d = v.get<double>();
      if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
    }
    throw_mistyped(key, "an integer", v);
  }

  bool boolean(const std::string& key, bool fallback) {
    const json* v = find(key);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_boolean()) throw_mistyped(key, "a boolean", *v);
    return v->get<bool>();
  }

  std::string string(const std::string& key, const std::string& fallback) {
    const json* v = find(key);
    if (v == nullptr || v->is_null()) return fallback;
    if (!v->is_string()) throw_mistyped(key, "a string", *v);
    return v->get<std::string>();
  }

  const json& required_array(const std::string& key) {
    const json* v = find(key);
    if (v == nullptr || v->is_null()) throw_missing(key, "a list");
    if (!v->is_array()) throw_mistyped(key, "a list", *v);
    return *v;
  }

  // Keras features minidl does not implement must hold their "off" value.
  void require_default(const std::string& key, const json& off_value) {
    const json* v = find(key);
    if (v == nullptr || v->is_null() || *v == off_value) return;
    throw NotImplementedError(fmt::format("{} config key '{}' is not supported by minidl (it must be {}); received {}.",
                                          class_name_, key, off_value.dump(), v->dump()));
  }

  // Keras's BaseOptimizer.__init__ refuses keyword arguments it does not know.
  void reject_unread() const {
    json unknown = json::object();
    for (const auto& [key, value] : config_.items()) {
      if (!read_.count(key)) unknown[key] = value;
    }
    if (!unknown.empty()) throw ValueError("Argument(s) not recognized: " + python_repr(unknown));
  }

  [[noreturn]] void throw_mistyped(const std::string& key, const char* expected, const json& value) const {
    throw TypeError(fmt::format("{} config key '{}' must be {}; received {}.", class_name_, key, expected, value.dump()));
  }
  [[noreturn]] void throw_missing(const std::string& key, const char* expected) const {
    throw ValueError(fmt::format("{} config is missing the required key '{}' ({}).", class_name_, key, expected));
  }

 private:
  const json& config_;
  std::string class_name_;
  std::set<std::string> read_;
};

}  // namespace minidl::optim::detail
