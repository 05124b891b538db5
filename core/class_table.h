#pragma once
// minidl::ClassTable — the registry of one serializable kind (optimizers, schedules, losses,
// metrics): Keras class name -> a factory from a config, for the built-ins and for user classes,
// with Keras's envelope on the way out and its "Could not locate class" error on the way in.
// Layers and ops, which Keras also tells apart by module, have md::Registry (core/registry.h).
//
//   ClassTable<Loss> table("loss", "keras.losses", {{"MeanSquaredError", make_mse}, ...});
//   md::json obj = table.serialize("MeanSquaredError", loss.get_config());
//   std::shared_ptr<Loss> again = table.deserialize(obj);
//   table.add("MyLoss", make_my_loss);        // a user class, written as "Custom>MyLoss"
#include <fmt/format.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "minidl/core/error.h"
#include "minidl/core/json.h"
#include "minidl/core/keras_envelope.h"

namespace minidl {

template <class Base>
class ClassTable {
 public:
  using Factory = std::function<std::shared_ptr<Base>(const json& config)>;

  // `kind` names the kind in messages ("loss"); `module` is Keras's module of the built-ins.
  // Built-ins are listed here, not registered by static initialisers, so that they are found
  // however the library is linked.
  ClassTable(std::string kind, std::string module, std::vector<std::pair<std::string, Factory>> builtins)
      : kind_(std::move(kind)), module_(std::move(module)) {
    for (auto& [name, factory] : builtins) entries_[name] = {std::move(factory), true};
  }

  // A user class: written under "minidl.custom" as "Custom>Name"; replaces a class of that name.
  void add(const std::string& class_name, Factory factory) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_[class_name] = {std::move(factory), false};
  }

  // The factory of `class_name` (exact), or null.
  Factory find(const std::string& class_name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(class_name);
    return it == entries_.end() ? Factory() : it->second.factory;
  }
  bool contains(const std::string& class_name) const { return static_cast<bool>(find(class_name)); }
  bool is_builtin(const std::string& class_name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(class_name);
    return it != entries_.end() && it->second.builtin;
  }
  // The class names, sorted; built-ins only when asked.
  std::vector<std::string> class_names(bool builtin_only = false) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, entry] : entries_) {
      if (entry.builtin || !builtin_only) out.push_back(name);
    }
    return out;
  }

  // Keras's envelope for an object of `class_name` with `config`: a built-in under Keras's
  // module, a registered user class as "Custom>Name", an unregistered one under its bare name
  // (which only this process can read back, once it registers the class).
  json serialize(const std::string& class_name, json config) const {
    if (contains(class_name)) return keras_envelope(module_, is_builtin(class_name), class_name, std::move(config));
    return keras_envelope("minidl.custom", class_name, std::move(config), class_name);
  }

  // The object `object` (an envelope) describes. ValueError for a malformed envelope, and
  // Keras's "Could not locate class" (with the classes minidl knows) for an unknown class.
  std::shared_ptr<Base> deserialize(const json& object) const {
    const json config = envelope_config(object, kind_);
    const std::string name = serialized_class_name(object);
    if (Factory factory = find(name)) return factory(config);
    // Keras's words, then what minidl knows.
    throw ValueError(fmt::format(
        "Could not locate class '{}'. Make sure custom classes are decorated with "
        "`@keras.saving.register_keras_serializable()`. Full object config: {}. The {} classes minidl knows: {}.",
        name, object.dump(), kind_, fmt::join(class_names(), ", ")));
  }

 private:
  struct Entry {
    Factory factory;
    bool builtin = false;
  };
  std::string kind_, module_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;
};

}  // namespace minidl
