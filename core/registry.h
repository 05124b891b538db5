#pragma once
// The registry of serializable classes: Keras class name -> factory from a config, and C++
// type -> copy (for Operation::shared_self). Layers join it with MINIDL_REGISTER_LAYER, ops
// with their own table; md::deserialize and functional configs look classes up here.
//
//   auto op = md::Registry::instance().create("Dense", config);
#include "minidl/core/json.h"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <typeindex>
#include <unordered_map>

namespace minidl {

class Operation;

class Registry {
 public:
  using Factory = std::function<std::shared_ptr<Operation>(const json& config)>;
  using Cloner = std::function<std::shared_ptr<Operation>(const Operation& original)>;

  static Registry& instance();

  // Registers `class_name`; a second registration of the same name replaces the first.
  void add(const std::string& class_name, Factory factory);
  void add_type(std::type_index type, Cloner cloner);
  template <class T>
  void add_class(const std::string& class_name, Factory factory) {
    add(class_name, std::move(factory));
    add_type(std::type_index(typeid(T)), [](const Operation& original) -> std::shared_ptr<Operation> {
      return std::make_shared<T>(static_cast<const T&>(original));
    });
  }

  bool contains(const std::string& class_name) const;
  // Throws ValueError "Could not locate class '<name>'..." (Keras's words) when unknown.
  std::shared_ptr<Operation> create(const std::string& class_name, const json& config) const;
  // A copy of `original` as its most-derived registered type; throws when the type is unknown.
  std::shared_ptr<Operation> clone(const Operation& original) const;

 private:
  Registry() = default;
  mutable std::mutex mutex_;
  std::map<std::string, Factory> factories_;
  std::unordered_map<std::type_index, Cloner> cloners_;
};

}  // namespace minidl
