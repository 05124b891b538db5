#pragma once
// minidl::ClassTable — the one registry shape of every serializable kind: Keras class name (and
// module) -> a factory from a config, for the built-ins and for user classes, with Keras's
// envelope on the way out and its "Could not locate class" error on the way in. Optimizers,
// schedules, losses, metrics and initializers each have one; layers and ops share md::Registry
// (core/registry.h), the ClassTable of operations, where Keras tells classes apart by module.
//
//   ClassTable<Loss> table("loss", "keras.losses", {{"MeanSquaredError", make_mse}, ...});
//   md::json obj = table.serialize("MeanSquaredError", loss.get_config());
//   std::shared_ptr<Loss> again = table.deserialize(obj);
//   table.add("MyLoss", make_my_loss);        // a user class, written as "Custom>MyLoss"
//
// A class is found by (module, class name) first, then by its registered name, then by its bare
// name. Keras reuses class names across modules ("Add" is a layer and an op): a bare name
// belongs to the entry registered last, except that an entry added as a fallback (an op) never
// takes a bare name from one that is not (a layer).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
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

  struct Entry {
    std::string class_name{};
    std::string module{};
    // What serialization writes as "registered_name": none for Keras's own classes,
    // "Custom>Name" for user classes; ops write their class name.
    std::optional<std::string> registered_name{};
    Factory factory{};
    bool builtin = false;
    bool bare_name_fallback = false;  // see the header comment
  };

  // `kind` names the kind in messages ("loss"); `module` is Keras's module of the built-ins.
  // Built-ins are listed here, not registered by static initialisers, so that they are found
  // however the library is linked. `how_to_register` ends the unknown-class error.
  ClassTable(std::string kind, std::string module, std::vector<std::pair<std::string, Factory>> builtins,
             std::string how_to_register = "decorated with `@keras.saving.register_keras_serializable()`")
      : kind_(std::move(kind)), module_(std::move(module)), how_to_register_(std::move(how_to_register)) {
    for (auto& [name, factory] : builtins) {
      add(Entry{.class_name = name, .module = module_, .factory = std::move(factory), .builtin = true});
    }
  }

  // A user class: written under "minidl.custom" as "Custom>Name"; replaces a class of that name.
  void add(const std::string& class_name, Factory factory) {
    add(Entry{.class_name = class_name,
              .module = "minidl.custom",
              .registered_name = "Custom>" + class_name,
              .factory = std::move(factory)});
  }
  // Any entry; a second one with the same (module, class name) replaces the first.
  void add(Entry entry) {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string key = key_of(entry.module, entry.class_name);
    if (entry.registered_name) by_registered_[*entry.registered_name] = key;
    auto bare = by_name_.find(entry.class_name);
    if (bare == by_name_.end() || !entry.bare_name_fallback || entries_.at(bare->second).bare_name_fallback) {
      by_name_[entry.class_name] = key;
    }
    entries_[key] = std::move(entry);
  }

  // The entry for `class_name` (module and registered name, when given, narrow it down), or
  // nullopt.
  std::optional<Entry> entry(const std::string& class_name, const std::string& module = {},
                             const std::optional<std::string>& registered_name = std::nullopt) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const Entry* e = find_locked(class_name, module, registered_name);
    return e ? std::optional<Entry>(*e) : std::nullopt;
  }
  // The factory of `class_name`, or null.
  Factory find(const std::string& class_name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const Entry* e = find_locked(class_name, {}, std::nullopt);
    return e ? e->factory : Factory();
  }
  bool contains(const std::string& class_name, const std::string& module = {}) const {
    std::lock_guard<std::mutex> lock(mutex_);
    return find_locked(class_name, module, std::nullopt) != nullptr;
  }
  bool is_builtin(const std::string& class_name) const {
    std::lock_guard<std::mutex> lock(mutex_);
    const Entry* e = find_locked(class_name, {}, std::nullopt);
    return e != nullptr && e->builtin;
  }
  // The class names, sorted; built-ins only when asked, bare-name fallbacks (ops) unless not.
  std::vector<std::string> class_names(bool builtin_only = false, bool with_fallbacks = true) const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::string> out;
    for (const auto& [name, key] : by_name_) {
      const Entry& e = entries_.at(key);
      if ((e.builtin || !builtin_only) && (!e.bare_name_fallback || with_fallbacks)) out.push_back(name);
    }
    return out;
  }

  // Keras's envelope for an object of `class_name` with `config`: a known class under its
  // module and registered name, an unknown one under "minidl.custom" and its bare name (which
  // only this process can read back, once it registers the class).
  json serialize(const std::string& class_name, json config) const {
    if (auto e = entry(class_name)) return keras_envelope(e->module, class_name, std::move(config), e->registered_name);
    return keras_envelope("minidl.custom", class_name, std::move(config), class_name);
  }

  // A new object of `class_name` from `config`. ValueError with Keras's "Could not locate
  // class" (and the classes minidl knows) when the class is unknown.
  std::shared_ptr<Base> create(const std::string& class_name, const json& config, const std::string& module = {},
                               const std::optional<std::string>& registered_name = std::nullopt,
                               const json* whole_object = nullptr) const {
    if (auto e = entry(class_name, module, registered_name)) return e->factory(config);
    throw ValueError(fmt::format(
        "Could not locate class '{}'. Make sure custom classes are {}. Full object config: {}. The {} classes minidl "
        "knows: {}.",
        class_name, how_to_register_, (whole_object ? *whole_object : config).dump(), kind_,
        fmt::join(class_names(/*builtin_only=*/false, /*with_fallbacks=*/false), ", ")));
  }

  // The object `object` (an envelope) describes. ValueError for a malformed envelope or an
  // unknown class.
  std::shared_ptr<Base> deserialize(const json& object) const {
    const json config = envelope_config(object, kind_);
    return create(serialized_class_name(object), config, {}, std::nullopt, &object);
  }

 private:
  static std::string key_of(const std::string& module, const std::string& class_name) {
    return module + ":" + class_name;
  }
  const Entry* find_locked(const std::string& class_name, const std::string& module,
                           const std::optional<std::string>& registered_name) const {
    if (!module.empty()) {
      if (auto it = entries_.find(key_of(module, class_name)); it != entries_.end()) return &it->second;
    }
    if (registered_name) {
      if (auto it = by_registered_.find(*registered_name); it != by_registered_.end()) return &entries_.at(it->second);
    }
    if (auto it = by_name_.find(class_name); it != by_name_.end()) return &entries_.at(it->second);
    return nullptr;
  }

  std::string kind_, module_, how_to_register_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;              // "module:ClassName"
  std::map<std::string, std::string> by_registered_;  // registered name -> entries_ key
  std::map<std::string, std::string> by_name_;        // bare class name -> entries_ key
};

}  // namespace minidl
