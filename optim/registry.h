#pragma once
// Optimizers by name or config, as keras.optimizers.get / serialize / deserialize, so that
// compile() can take "adam" and a saved model's compile_config can be read back.
//   std::shared_ptr<md::optim::Optimizer> opt = md::optim::get("adam");   // Adam with defaults
//   md::json saved = md::optim::serialize(*opt);
//   // {"module": "keras.optimizers", "class_name": "Adam", "config": {...}, "registered_name": null}
//   auto again = md::optim::deserialize(saved);   // a new, independent Adam
// Built-in names are case-insensitive, as in Keras: "sgd", "SGD", "adam", "adamw", "rmsprop",
// "adagrad".
#include <functional>
#include <memory>
#include <string>

#include "minidl/core/json.h"
#include "minidl/optim/optimizer.h"

namespace minidl::optim {

json serialize(const Optimizer& optimizer);

// Rebuilds an optimizer from serialize()'s envelope or Keras 2's {"class_name", "config"}
// (the class name may also be a registered "Custom>Name"). Unknown classes raise Keras's
// "Could not locate class ..." ValueError.
std::shared_ptr<Optimizer> deserialize(const json& object);

// A class name gives that optimizer with its defaults; a JSON object is deserialized; a JSON
// string is a class name. Anything else: ValueError "Could not interpret optimizer identifier: ...".
std::shared_ptr<Optimizer> get(const std::string& identifier);
std::shared_ptr<Optimizer> get(const char* identifier);
std::shared_ptr<Optimizer> get(const json& identifier);
// The same optimizer (a copy sharing its state), as Keras returns an instance unchanged.
std::shared_ptr<Optimizer> get(const Optimizer& optimizer);

using OptimizerFactory = std::function<std::shared_ptr<Optimizer>(const json& config)>;
// Makes a user optimizer class available to get() and deserialize(); its configs are written
// with module "minidl.custom" and registered_name "Custom>Name". Registering a name again
// replaces the factory.
//   md::optim::register_optimizer("SignSGD", [](const md::json& c) { return std::make_shared<SignSGD>(...); });
void register_optimizer(const std::string& class_name, OptimizerFactory factory);

}  // namespace minidl::optim
