#include "minidl/core/registry.h"

#include <fmt/format.h>

#include "minidl/core/error.h"
#include "minidl/core/operation.h"

namespace minidl {
namespace {

std::string key_of(const std::string& module, const std::string& class_name) { return module + ":" + class_name; }
bool is_layer_module(const std::string& module) {
  return module.rfind("keras.src.ops", 0) != 0 && module.rfind("minidl.ops", 0) != 0;
}

}  // namespace

Registry& Registry::instance() {
  static Registry registry;
  return registry;
}

void Registry::add(const std::string& class_name, const std::string& module,
                   std::optional<std::string> registered_name, Factory factory) {
  std::lock_guard<std::mutex> lock(mutex_);
  const std::string key = key_of(module, class_name);
  by_module_[key] = {class_name, module, registered_name, std::move(factory)};
  if (registered_name) by_registered_[*registered_name] = key;
  auto it = by_name_.find(class_name);
  // Bare names prefer layers: md::deserialize({"class_name": "Add", ...}) means the layer.
  if (it == by_name_.end() || is_layer_module(module) || !is_layer_module(by_module_[it->second].module)) {
    by_name_[class_name] = key;
  }
}

const Registry::Entry* Registry::find(const std::string& class_name, const std::string& module,
                                      const std::optional<std::string>& registered_name) const {
  if (!module.empty()) {
    if (auto it = by_module_.find(key_of(module, class_name)); it != by_module_.end()) return &it->second;
  }
  if (registered_name) {
    if (auto it = by_registered_.find(*registered_name); it != by_registered_.end()) return &by_module_.at(it->second);
  }
  if (auto it = by_name_.find(class_name); it != by_name_.end()) return &by_module_.at(it->second);
  return nullptr;
}

bool Registry::contains(const std::string& class_name, const std::string& module) const {
  std::lock_guard<std::mutex> lock(mutex_);
  return find(class_name, module, std::nullopt) != nullptr;
}

std::string Registry::module_of(const std::string& class_name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const Entry* e = find(class_name, {}, std::nullopt);
  return e ? e->module : std::string("minidl");
}

std::optional<std::string> Registry::registered_name_of(const std::string& class_name) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const Entry* e = find(class_name, {}, std::nullopt);
  return e ? e->registered_name : std::optional<std::string>(class_name);
}

std::shared_ptr<Operation> Registry::create(const std::string& class_name, const json& config,
                                            const std::string& module,
                                            const std::optional<std::string>& registered_name) const {
  Factory factory;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const Entry* e = find(class_name, module, registered_name);
    if (!e) {
      throw ValueError(fmt::format(
          "Could not locate class '{}'. Make sure custom classes are registered with MINIDL_REGISTER_LAYER({}). "
          "Full object config: {}",
          class_name, class_name, config.dump()));
    }
    factory = e->factory;
  }
  return factory(config);
}

}  // namespace minidl
