#pragma once
// The registry of serializable classes: Keras class name (and module) -> factory from a
// config. Layers join it with
// MINIDL_REGISTER_LAYER, ops through their op table; md::deserialize and functional configs
// look classes up here.
//
//   auto op = md::Registry::instance().create("Dense", config);
//
// Keras reuses class names across modules ("Add" is both a layer and an op), so a class is
// found by (module, class name) first, then by its registered name, then by its bare name
// (where layers win over ops).
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "minidl/core/json.h"

namespace minidl {

class Operation;

class Registry {
 public:
  using Factory = std::function<std::shared_ptr<Operation>(const json& config)>;

  static Registry& instance();

  // `module` and `registered_name` are what serialization writes (Keras's envelope): built-in
  // layers are "keras.layers" with a null registered name; ops have their module and their
  // class name. A second registration of the same (module, name) replaces the first.
  void add(const std::string& class_name, const std::string& module, std::optional<std::string> registered_name,
           Factory factory);

  bool contains(const std::string& class_name, const std::string& module = {}) const;
  std::string module_of(const std::string& class_name) const;
  std::optional<std::string> registered_name_of(const std::string& class_name) const;

  // Throws ValueError "Could not locate class '<name>'..." (Keras's words) when unknown.
  std::shared_ptr<Operation> create(const std::string& class_name, const json& config,
                                    const std::string& module = {},
                                    const std::optional<std::string>& registered_name = std::nullopt) const;

 private:
  Registry() = default;
  struct Entry {
    std::string class_name;
    std::string module;
    std::optional<std::string> registered_name;
    Factory factory;
  };
  const Entry* find(const std::string& class_name, const std::string& module,
                    const std::optional<std::string>& registered_name) const;

  mutable std::mutex mutex_;
  std::map<std::string, Entry> by_module_;            // "module:ClassName"
  std::map<std::string, std::string> by_registered_;  // registered name -> by_module_ key
  std::map<std::string, std::string> by_name_;        // bare class name -> by_module_ key
};

}  // namespace minidl
