#pragma once
// minidl::ConfigReader — the one reader of every serializable object's config: layers, ops'
// attributes aside (autograd/op_def.h reads those from their field lists), losses, metrics,
// optimizers, schedules and initializers. Errors name the class, the key and what was expected;
// it remembers which keys were read, so that a class can refuse the rest as Keras refuses
// unknown keyword arguments.
//
//   md::ConfigReader r(config, "Dense");
//   int64_t units = r.required<int64_t>("units");
//   bool use_bias = r.optional<bool>("use_bias", true);
//   r.reject_non_null({"kernel_regularizer"});   // a Keras feature minidl does not have
//   r.reject_unread();                           // Keras's "Argument(s) not recognized: {...}"
#include <fmt/format.h>

#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <set>
#include <string>
#include <type_traits>

#include "minidl/core/error.h"
#include "minidl/core/json.h"

namespace minidl {

// A JSON value as Python prints it inside Keras's messages: None, True, 'text', {'key': 1}.
std::string python_repr(const json& value);
// A float as Python prints it (1.0, 0.5, 1e-07), or None.
std::string python_repr(std::optional<double> value);

class ConfigReader {
 public:
  // TypeError unless `config` is an object.
  ConfigReader(const json& config, std::string class_name);

  const std::string& class_name() const { return class_name_; }

  // ---- typed reads: bool, integers (an integral float such as 1000.0 counts), floating point,
  // std::string, and lists (std::vector<...>). Absent and null keys give the fallback (optional),
  // nullopt (maybe), or ValueError naming the key (required); a value of another type is a
  // TypeError naming the key and the expected type. Every read marks its key as read.
  template <class T>
  T required(const std::string& key) const {
    const json* value = find(key);
    if (value == nullptr || value->is_null()) throw_missing(key, type_name<T>());
    return convert<T>(key, *value);
  }
  template <class T>
  T optional(const std::string& key, T fallback) const {
    const json* value = find(key);
    if (value == nullptr || value->is_null()) return fallback;
    return convert<T>(key, *value);
  }
  template <class T>
  std::optional<T> maybe(const std::string& key) const {
    const json* value = find(key);
    if (value == nullptr || value->is_null()) return std::nullopt;
    return convert<T>(key, *value);
  }

  // Present and not null (does not mark the key as read).
  bool has(const std::string& key) const { return config_.contains(key) && !config_.at(key).is_null(); }
  // The raw value under `key` (marked as read); ValueError when absent.
  const json& at(const std::string& key) const;
  // The raw value, or nullptr when absent (marked as read).
  const json* find(const std::string& key) const;
  // A list under `key` (required; marked as read).
  const json& required_array(const std::string& key) const;
  // An integer from a value read elsewhere (an element of a list), with this reader's errors.
  int64_t integer_value(const std::string& key, const json& value) const;
  // Marks `key` as read without reading it.
  void ignore(const std::string& key) const { read_.insert(key); }

  // ---- what a class accepts ---------------------------------------------------------------------
  // Keras features minidl does not implement are written as null; a config that sets one is
  // refused (NotImplementedError naming the key) rather than silently ignored.
  void reject_non_null(std::initializer_list<const char*> keys) const;
  // Likewise for a feature whose "off" value is not null (e.g. use_ema: false).
  void require_default(const std::string& key, const json& off_value) const;
  // ValueError for any key outside `keys` ("... has an unexpected key 'k'; expected only: ...").
  void allow_only(std::set<std::string> keys) const;
  // ValueError for the keys nothing read, in Keras's words ("Argument(s) not recognized: {...}").
  void reject_unread() const;
  // NotImplementedError unless 'dtype' is absent, null or "float32"; `what` says what minidl
  // computes in float32 ("losses", "metrics").
  void require_float32_dtype(const std::string& what) const;

  // ---- the layer base keys ----------------------------------------------------------------------
  std::string name() const { return optional<std::string>("name", ""); }
  bool trainable() const { return optional<bool>("trainable", true); }
  // A string or Keras 3's DTypePolicy object ({"config": {"name": "float32"}}).
  std::string dtype() const;

  [[noreturn]] void throw_mistyped(const std::string& key, const char* expected, const json& value) const;
  [[noreturn]] void throw_missing(const std::string& key, const char* expected) const;

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
    if constexpr (std::is_same_v<T, bool>) {
      if (!value.is_boolean()) throw_mistyped(key, type_name<T>(), value);
      return value.get<bool>();
    } else if constexpr (std::is_integral_v<T>) {
      return static_cast<T>(integer_value(key, value));
    } else if constexpr (std::is_floating_point_v<T>) {
      if (!value.is_number()) throw_mistyped(key, type_name<T>(), value);
      return value.get<T>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!value.is_string()) throw_mistyped(key, type_name<T>(), value);
      return value.get<std::string>();
    } else {
      if (!value.is_array()) throw_mistyped(key, type_name<T>(), value);
      try {
        return value.get<T>();
      } catch (const json::exception&) {
        throw_mistyped(key, type_name<T>(), value);
      }
    }
  }

  const json& config_;
  std::string class_name_;
  mutable std::set<std::string> read_;
};

}  // namespace minidl
