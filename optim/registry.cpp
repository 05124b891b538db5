#include "minidl/optim/registry.h"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "minidl/core/class_table.h"
#include "minidl/core/error.h"
#include "minidl/core/keras_envelope.h"
#include "minidl/optim/adagrad.h"
#include "minidl/optim/adam.h"
#include "minidl/optim/adamw.h"
#include "minidl/optim/rmsprop.h"
#include "minidl/optim/sgd.h"

namespace minidl::optim {
namespace {

template <class T>
std::pair<std::string, OptimizerFactory> builtin(const char* class_name) {
  return {class_name, [](const json& c) -> std::shared_ptr<Optimizer> { return std::make_shared<T>(T::from_config(c)); }};
}

ClassTable<Optimizer>& optimizer_table() {
  static ClassTable<Optimizer> table("optimizer", "keras.optimizers",
                                     {builtin<SGD>("SGD"), builtin<Adam>("Adam"), builtin<AdamW>("AdamW"),
                                      builtin<RMSprop>("RMSprop"), builtin<Adagrad>("Adagrad")});
  return table;
}

std::string lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// Keras's message, with the names that would have worked (as the loss error lists its names).
[[noreturn]] void optimizer_not_interpretable(const std::string& shown) {
  const ClassTable<Optimizer>& table = optimizer_table();
  std::vector<std::string> builtins, custom;
  for (const std::string& name : table.class_names()) {
    if (table.is_builtin(name)) {
      builtins.push_back(lowercase(name));
    } else {
      custom.push_back(name);
    }
  }
  std::string names = fmt::format("{} (in any case)", fmt::join(builtins, ", "));
  if (!custom.empty()) names += fmt::format(", and the registered {}", fmt::join(custom, ", "));
  throw ValueError(fmt::format("Could not interpret optimizer identifier: {}. Valid names: {}.", shown, names));
}

// A class by name: exact first, then a built-in whose lowercase name matches (Keras lowercases
// identifiers that name a built-in: "adam", "ADAM").
OptimizerFactory find_by_name(const std::string& name) {
  const ClassTable<Optimizer>& table = optimizer_table();
  if (OptimizerFactory exact = table.find(name)) return exact;
  const std::string lower = lowercase(name);
  for (const std::string& candidate : table.class_names(/*builtin_only=*/true)) {
    if (lowercase(candidate) == lower) return table.find(candidate);
  }
  return {};
}

}  // namespace

json serialize(const Optimizer& optimizer) { return optimizer_table().serialize(optimizer.class_name(), optimizer.get_config()); }

std::shared_ptr<Optimizer> deserialize(const json& object) {
  // Keras resolves a built-in's class case-insensitively here too ("adam" in old configs).
  if (object.is_object() && object.contains("class_name") && object["class_name"].is_string()) {
    const std::string name = serialized_class_name(object);
    if (!optimizer_table().contains(name)) {
      if (OptimizerFactory factory = find_by_name(name)) return factory(envelope_config(object, "optimizer"));
    }
  }
  return optimizer_table().deserialize(object);
}

std::shared_ptr<Optimizer> get(const std::string& identifier) {
  OptimizerFactory factory = find_by_name(identifier);
  if (!factory) optimizer_not_interpretable(identifier);
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
  optimizer_table().add(class_name, std::move(factory));
}

}  // namespace minidl::optim
