#include "minidl/optim/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <mutex>

#include "minidl/core/error.h"
#include "minidl/optim/adagrad.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/keras_envelope.h"
#include "minidl/optim/adam.h"
#include "minidl/optim/adamw.h"
#include "minidl/optim/rmsprop.h"
#include "minidl/optim/sgd.h"

namespace minidl::optim {
namespace {

constexpr const char* kOptimizersModule = "keras.optimizers";

struct OptimizerEntry {
  std::string class_name;  // as written in configs: "RMSprop"
  OptimizerFactory factory;
  bool builtin = false;
};

template <class T>
OptimizerEntry optimizer_builtin_entry(const char* class_name) {
  return {class_name, [](const json& c) -> std::shared_ptr<Optimizer> { return std::make_shared<T>(T::from_config(c)); },
          true};
}

std::string optimizer_lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Keyed by the exact class name; built-ins are also found case-insensitively (Keras lowercases
// names that match a built-in). Listed here rather than registered by static initialisers, so
// they are found however the library is linked.
std::map<std::string, OptimizerEntry>& optimizer_table(std::unique_lock<std::mutex>& lock) {
  static std::mutex mutex;
  static std::map<std::string, OptimizerEntry> table{
      {"SGD", optimizer_builtin_entry<SGD>("SGD")},
      {"Adam", optimizer_builtin_entry<Adam>("Adam")},
      {"AdamW", optimizer_builtin_entry<AdamW>("AdamW")},
      {"RMSprop", optimizer_builtin_entry<RMSprop>("RMSprop")},
      {"Adagrad", optimizer_builtin_entry<Adagrad>("Adagrad")},
  };
  lock = std::unique_lock<std::mutex>(mutex);
  return table;
}

// The entry for `name`: exact match first, then a built-in whose lowercase name matches.
const OptimizerEntry* optimizer_find(const std::map<std::string, OptimizerEntry>& table, const std::string& name) {
  if (auto it = table.find(name); it != table.end()) return &it->second;
  const std::string lower = optimizer_lower(name);
  for (const auto& [key, entry] : table) {
    if (entry.builtin && optimizer_lower(key) == lower) return &entry;
  }
  return nullptr;
}

// Keras's message, with the names that would have worked (as the loss error lists its names).
[[noreturn]] void optimizer_not_interpretable(const std::string& shown,
                                              const std::map<std::string, OptimizerEntry>& table) {
  std::vector<std::string> builtins, custom;
  for (const auto& [key, entry] : table) (entry.builtin ? builtins : custom).push_back(entry.builtin ? optimizer_lower(key) : key);
  std::string names = fmt::format("{} (in any case)", fmt::join(builtins, ", "));
  if (!custom.empty()) names += fmt::format(", and the registered {}", fmt::join(custom, ", "));
  throw ValueError(fmt::format("Could not interpret optimizer identifier: {}. Valid names: {}.", shown, names));
}

[[noreturn]] void optimizer_not_interpretable(const std::string& shown) {
  std::unique_lock<std::mutex> lock;
  const auto& table = optimizer_table(lock);
  optimizer_not_interpretable(shown, table);
}

}  // namespace

json serialize(const Optimizer& optimizer) {
  bool builtin = false;
  bool registered = false;
  {
    std::unique_lock<std::mutex> lock;
    const auto& table = optimizer_table(lock);
    if (auto it = table.find(optimizer.class_name()); it != table.end()) {
      builtin = it->second.builtin;
      registered = !it->second.builtin;
    }
  }
  json out;
  out["module"] = builtin ? kOptimizersModule : "minidl.custom";
  out["class_name"] = optimizer.class_name();
  out["config"] = optimizer.get_config();
  out["registered_name"] =
      builtin ? json(nullptr) : json(registered ? "Custom>" + optimizer.class_name() : optimizer.class_name());
  return out;
}

std::shared_ptr<Optimizer> deserialize(const json& object) {
  if (!object.is_object() || !object.contains("class_name") || !object["class_name"].is_string()) {
    throw ValueError(fmt::format(
        "An optimizer must be serialized as an object with a string 'class_name' and a 'config'; received {}.",
        object.dump()));
  }
  const std::string name = serialized_class_name(object);
  OptimizerFactory factory;
  {
    std::unique_lock<std::mutex> lock;
    const auto& table = optimizer_table(lock);
    const OptimizerEntry* entry = optimizer_find(table, name);
    if (entry == nullptr) {
      throw ValueError(fmt::format(
          "Could not locate class '{}'. Make sure custom classes are decorated with "
          "`@keras.saving.register_keras_serializable()`. Full object config: {}",
          name, object.dump()));
    }
    factory = entry->factory;
  }
  const json config = object.contains("config") && !object["config"].is_null() ? object["config"] : json::object();
  return factory(config);
}

std::shared_ptr<Optimizer> get(const std::string& identifier) {
  OptimizerFactory factory;
  {
    std::unique_lock<std::mutex> lock;
    const auto& table = optimizer_table(lock);
    const OptimizerEntry* entry = optimizer_find(table, identifier);
    if (entry == nullptr) optimizer_not_interpretable(identifier, table);
    factory = entry->factory;
  }
  return factory(json::object());
}

std::shared_ptr<Optimizer> get(const char* identifier) {
  if (identifier == nullptr) optimizer_not_interpretable("None");
  return get(std::string(identifier));
}

std::shared_ptr<Optimizer> get(const json& identifier) {
  if (identifier.is_string()) return get(identifier.get<std::string>());
  if (identifier.is_object()) return deserialize(identifier);
  optimizer_not_interpretable(identifier.dump());
}

std::shared_ptr<Optimizer> get(const Optimizer& optimizer) { return optimizer.clone(); }

void register_optimizer(const std::string& class_name, OptimizerFactory factory) {
  std::unique_lock<std::mutex> lock;
  auto& table = optimizer_table(lock);
  table[class_name] = OptimizerEntry{class_name, std::move(factory), false};
}

}  // namespace minidl::optim
