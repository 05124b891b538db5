#pragma once
// What options structs hold for a Keras object that a config names or describes (a regularizer,
// a constraint): none by default, a name, or an object; with Keras's serialization and the
// reading of a layer config's key. RegularizerArg and ConstraintArg are this template.
//   md::RegularizerArg r = "l2";                        // regularizers::get("l2")
//   md::ConstraintArg c = md::constraints::MaxNorm(3);  // a copy of the object
#include <fmt/format.h>

#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>

#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/core/json.h"
#include "minidl/core/tensor.h"

namespace minidl {

// Specialised next to each kind: kind_name, get(name), get(json), serialize(object).
template <class Base>
struct KerasObjectTraits;

template <class Base>
class KerasObjectArg {
  using Traits = KerasObjectTraits<Base>;

 public:
  KerasObjectArg() = default;
  KerasObjectArg(std::nullptr_t) {}                                           // NOLINT
  KerasObjectArg(const char* name) : KerasObjectArg(std::string(name)) {}     // NOLINT
  KerasObjectArg(const std::string& name) : object_(Traits::get(name)) {}     // NOLINT
  KerasObjectArg(std::shared_ptr<const Base> object) : object_(std::move(object)) {}  // NOLINT
  template <class T, class = std::enable_if_t<std::is_base_of_v<Base, T>>>
  KerasObjectArg(const T& object) : object_(std::make_shared<T>(object)) {}  // NOLINT

  explicit operator bool() const { return object_ != nullptr; }
  const std::shared_ptr<const Base>& get() const { return object_; }
  Tensor operator()(const Tensor& x) const {
    if (!object_) throw ValueError(fmt::format("No {} is set.", Traits::kind_name));
    return (*object_)(x);
  }
  // Keras's serialized object, or null when there is none.
  json serialize() const { return object_ ? Traits::serialize(*object_) : json(nullptr); }
  // A config value: null, a name or a serialized object.
  static KerasObjectArg deserialize(const json& value) {
    return KerasObjectArg(std::shared_ptr<const Base>(Traits::get(value)));
  }
  // The object under `key` of a layer config (none when absent or null); errors name the key.
  static KerasObjectArg from_config(const ConfigReader& reader, const std::string& key) {
    const json* value = reader.find(key);
    if (value == nullptr || value->is_null()) return {};
    try {
      return deserialize(*value);
    } catch (const Error& e) {
      throw ValueError(fmt::format("{} config, key '{}': {}", reader.class_name(), key, e.what()));
    }
  }

 private:
  std::shared_ptr<const Base> object_;
};

namespace detail {
// Keras's regularizers.get / constraints.get on a config value: null (none), a name (through
// `by_name`), or a serialized object (through `deserialize`).
template <class Ptr, class ByName, class Deserialize>
Ptr keras_object_from_json(const json& identifier, const char* kind_name, ByName by_name, Deserialize deserialize) {
  if (identifier.is_null()) return nullptr;
  if (identifier.is_string()) return by_name(identifier.get<std::string>());
  if (identifier.is_object()) return deserialize(identifier);
  throw ValueError(fmt::format("Could not interpret {} identifier: {}", kind_name, identifier.dump()));
}
}  // namespace detail

}  // namespace minidl
