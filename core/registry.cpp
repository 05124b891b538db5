#include "minidl/core/registry.h"

#include <fmt/format.h>

#include "minidl/core/error.h"
#include "minidl/core/operation.h"

namespace minidl {

Registry& Registry::instance() {
  static Registry registry;
  return registry;
}

void Registry::add(const std::string& class_name, Factory factory) {
  std::lock_guard<std::mutex> lock(mutex_);
  factories_[class_name] = std::move(factory);
}

void Registry::add_type(std::type_index type, Cloner cloner) {
  std::lock_guard<std::mutex> lock(mutex_);
  cloners_[type] = std::move(cloner);
}

bool Registry::contains(const std::string& class_name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return factories_.count(class_name) > 0;
}

std::shared_ptr<Operation> Registry::create(const std::string& class_name, const json& config) const {
  Factory factory;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = factories_.find(class_name);
    if (it == factories_.end()) {
      throw ValueError(fmt::format(
          "Could not locate class '{}'. Make sure custom classes are registered with MINIDL_REGISTER_LAYER({}). "
          "Full object config: {}",
          class_name, class_name, config.dump()));
    }
    factory = it->second;
  }
  return factory(config);
}

std::shared_ptr<Operation> Registry::clone(const Operation& original) const {
  Cloner cloner;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = cloners_.find(std::type_index(typeid(original)));
    if (it == cloners_.end()) {
      throw ValueError(fmt::format(
          "Operation '{}' (class {}) lives outside a std::shared_ptr and its C++ type is not registered, so a graph "
          "cannot hold it. Register the class with MINIDL_REGISTER_LAYER({}) or create it with std::make_shared.",
          original.name(), original.class_name(), original.class_name()));
    }
    cloner = it->second;
  }
  return cloner(original);
}

}  // namespace minidl
