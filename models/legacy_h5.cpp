// Keras 2 whole-model `.h5` files (see models/detail/legacy_h5.h).
#include "minidl/models/detail/legacy_h5.h"

#include <fmt/format.h>

#include <map>
#include <optional>
#include <set>
#include <vector>

#include "minidl/core/error.h"
#include "minidl/models/config_io.h"
#include "minidl/models/detail/error_context.h"
#include "minidl/models/detail/hdf5_file.h"
#include "minidl/models/keras2_config.h"

namespace minidl::detail {
namespace {
// Unity builds put several files in one translation unit: the helpers live in legacy.
namespace legacy {

using hdf5::Found;
using hdf5::Id;
using hdf5::Pending;

// Opens the group that holds dataset `name` ("dense/kernel:0" inside `root`, whose path is
// `root_path`) and returns the dataset's own name in `leaf`; nullopt with `missing` set when a
// group on the way does not exist.
std::optional<Id> open_parent(hid_t root, const std::string& root_path, const std::string& name, std::string& leaf,
                              std::string& missing, const std::string& prefix) {
  const size_t slash = name.rfind('/');
  leaf = slash == std::string::npos ? name : name.substr(slash + 1);
  if (slash == std::string::npos) {
    Id self(H5Oopen(root, ".", H5P_DEFAULT), H5Oclose);
    if (!self.valid()) hdf5::fail_io(prefix, fmt::format("cannot open '{}'", root_path));
    return self;
  }
  Id group;
  if (hdf5::open_group_path(root, name.substr(0, slash), group, missing, prefix) == Found::no) {
    missing = root_path + "/" + missing;
    return std::nullopt;
  }
  return group;
}

// Reads dataset `name` of `root` into `variable` (pending); the reason when it does not fit.
std::optional<std::string> read_named(hid_t root, const std::string& root_path, const std::string& name,
                                      const Variable& variable, std::vector<Pending>& pending,
                                      const std::string& prefix) {
  std::string leaf, missing;
  const std::optional<Id> group = open_parent(root, root_path, name, leaf, missing, prefix);
  if (!group) return fmt::format("Group '{}' is missing (for weight '{}').", missing, name);
  const size_t slash = name.rfind('/');
  const std::string group_path = slash == std::string::npos ? root_path : root_path + "/" + name.substr(0, slash);
  return hdf5::read_variable(group->get(), group_path, leaf, variable, pending, prefix);
}

// load_weights_from_hdf5_group, matching the saved layers to the model's by name (the file's
// config built the model, so the names are the ones Keras 2 paired by position).
// `weights` is the group with the layer_names attribute, `root` its path ("model_weights", or
// "" for a weights file).
void read_model_weights(hid_t weights, const std::string& root, const Model& model, std::vector<Pending>& pending,
                        const std::string& prefix) {
  const std::string where = root.empty() ? std::string("the file's root group") : "group '" + root + "'";
  const std::string base = root.empty() ? "" : root + "/";
  const std::optional<std::vector<std::string>> names =
      hdf5::string_list_attribute(weights, "layer_names", where, prefix);
  if (!names) {
    throw ValueError(fmt::format("{}{} has no 'layer_names' attribute: this is not a weights or model file written "
                                 "by tf.keras 2.",
                                 prefix, where));
  }
  std::map<std::string, std::vector<std::string>> saved;  // layer -> weight names, for layers with weights
  for (const std::string& name : *names) {
    Id group;
    if (hdf5::open_child(weights, name, H5I_GROUP, base + name, group, prefix) == Found::no) {
      throw ValueError(fmt::format("{}group '{}{}' (listed in layer_names) is missing.", prefix, base, name));
    }
    auto weight_names =
        hdf5::string_list_attribute(group.get(), "weight_names", fmt::format("group '{}{}'", base, name), prefix);
    if (weight_names && !weight_names->empty()) saved[name] = std::move(*weight_names);
  }
  std::vector<std::shared_ptr<Layer>> with_weights;
  for (const auto& layer : model.layers()) {
    if (!layer->weights().empty()) with_weights.push_back(layer);
  }
  if (with_weights.size() != saved.size()) {
    // Keras 2's text.
    throw ValueError(fmt::format("{}Layer count mismatch when loading weights from file. Model expected {} layers, "
                                 "found {} saved layers.",
                                 prefix, with_weights.size(), saved.size()));
  }
  for (const auto& layer : with_weights) {
    auto it = saved.find(layer->name());
    if (it == saved.end()) {
      throw ValueError(fmt::format("{}layer '{}' ({}) has weights, but the file has none for it.", prefix,
                                   layer->name(), layer->class_name()));
    }
    // _legacy_weights: trainable weights first, then the others.
    std::vector<Variable> variables = layer->trainable_weights();
    for (const Variable& v : layer->non_trainable_weights()) variables.push_back(v);
    const std::vector<std::string>& weight_names = it->second;
    if (weight_names.size() != variables.size()) {
      throw ValueError(fmt::format("{}Weight count mismatch for layer '{}'. Layer expects {} weight(s). Received {} "
                                   "saved weight(s)",
                                   prefix, layer->name(), variables.size(), weight_names.size()));
    }
    Id group;
    hdf5::open_child(weights, layer->name(), H5I_GROUP, base + layer->name(), group, prefix);
    for (size_t i = 0; i < variables.size(); ++i) {
      if (auto error = read_named(group.get(), base + layer->name(), weight_names[i], variables[i], pending, prefix)) {
        throw ValueError(fmt::format("{}layer '{}': {}", prefix, layer->name(), *error));
      }
    }
  }
  Id top;
  if (hdf5::open_child(weights, "top_level_model_weights", H5I_GROUP, base + "top_level_model_weights", top,
                       prefix) == Found::yes) {
    const auto top_names = hdf5::string_list_attribute(
        top.get(), "weight_names", fmt::format("group '{}top_level_model_weights'", base), prefix);
    if (top_names && !top_names->empty()) {
      throw ValueError(fmt::format("{}Weight count mismatch for top-level weights when loading weights from file. "
                                   "Model expects 0 top-level weight(s). Received {} saved top-level weight(s)",
                                   prefix, top_names->size()));
    }
  }
}

// The optimizer's saved state, by name (keras2::optimizer_variable_name); the reason when it
// cannot be restored completely.
std::optional<std::string> read_optimizer_weights(hid_t file, const Model& model, std::vector<Pending>& pending,
                                                  const std::string& prefix) {
  Id group;
  std::string missing;
  if (hdf5::open_group_path(file, "optimizer_weights", group, missing, prefix) == Found::no) return std::nullopt;
  const auto names = hdf5::string_list_attribute(group.get(), "weight_names", "group 'optimizer_weights'", prefix);
  if (!names || names->empty()) return std::nullopt;
  const auto& optimizer = *model.optimizer();
  std::vector<std::string> paths;
  for (const Variable& v : model.trainable_variables()) paths.push_back(v.path());
  std::map<std::string, Variable> by_name;
  for (const Variable& v : optimizer.variables()) by_name.emplace(v.name(), v);
  std::set<std::string> restored;
  std::vector<Pending> read;
  for (const std::string& name : *names) {
    const std::optional<std::string> target = keras2::optimizer_variable_name(name, optimizer.class_name(), paths);
    auto it = target ? by_name.find(*target) : by_name.end();
    if (it == by_name.end()) {
      return fmt::format("the saved weight '{}' has no counterpart among the {} optimizer's variables", name,
                         optimizer.class_name());
    }
    if (auto error = read_named(group.get(), "optimizer_weights", name, it->second, read, prefix)) return *error;
    restored.insert(*target);
  }
  for (const auto& [name, variable] : by_name) {
    // learning_rate comes from the config: Keras 2 keeps it out of the optimizer's variables.
    if (name != "learning_rate" && !restored.count(name)) {
      return fmt::format("the file has no value for the optimizer variable '{}'", name);
    }
  }
  pending.insert(pending.end(), read.begin(), read.end());
  return std::nullopt;
}

// The model of a model_config (the same in the reading child and in the parent).
Model build_model(const json& model_config, const std::string& context) {
  try {
    return model_from_config(model_config);
  } catch (const Error& e) {
    rethrow_with_context(e, context + ": its model_config does not describe a model minidl can build");
  } catch (const json::exception& e) {
    throw ValueError(context + ": its model_config does not describe a model minidl can build: " + e.what());
  }
}

void compile(Model& model, const json& training_config, const std::string& context) {
  try {
    model.compile_from_config(keras2::compile_config(training_config));
  } catch (const Error& e) {
    rethrow_with_context(e, context + ": its training_config cannot be compiled");
  } catch (const json::exception& e) {
    throw ValueError(context + ": its training_config cannot be compiled: " + e.what());
  }
}

// The variables a legacy file's values can go to, in an order both processes agree on.
std::vector<Variable> candidates(const Model& model) {
  std::vector<Variable> out = model.weights();
  if (model.optimizer()) {
    for (const Variable& v : model.optimizer()->variables()) out.push_back(v);
  }
  return out;
}

}  // namespace legacy
}  // namespace

Model load_legacy_h5_model(const std::string& path, const LoadModelOptions& options) {
  const std::string context = fmt::format("Cannot load model from '{}'", path);
  const std::string prefix = context + ": ";
  hdf5::check_readable(path, prefix);
  // The child reads the configs and every value, building its own copy of the model to check
  // them against; the parent builds the same model from the same config text and takes the
  // values by position.
  std::optional<Model> model;
  std::vector<hdf5::Pending> pending;
  hdf5::bounded_read(
      prefix, hdf5::file_size(path),
      [&](ChildWriter& out) {
        hdf5::Id file = hdf5::open_file(path, prefix);
        const std::optional<std::string> config_text = hdf5::string_attribute(file.get(), "model_config");
        std::optional<json> model_config;
        if (config_text) model_config = parse_json_text(*config_text, fmt::format("'{}' (attribute model_config)", path));
        if (!model_config) {
          // Keras's text.
          throw ValueError(fmt::format("{}No model config found in the file at {}. (md::load_weights reads "
                                       "weights-only files into a model you build.)",
                                       prefix, path));
        }
        Model child_model = legacy::build_model(*model_config, context);
        std::vector<hdf5::Pending> read;
        {
          hdf5::Id weights;
          std::string missing;
          if (hdf5::open_group_path(file.get(), "model_weights", weights, missing, prefix) == hdf5::Found::no) {
            throw ValueError(prefix + "the file has no 'model_weights' group (it is not a whole-model file written "
                                      "by tf.keras's model.save).");
          }
          legacy::read_model_weights(weights.get(), "model_weights", child_model, read, prefix);
        }
        std::optional<std::string> training_text;
        std::optional<std::string> optimizer_problem;
        if (options.compile) {
          training_text = hdf5::string_attribute(file.get(), "training_config");
          if (training_text) {
            legacy::compile(child_model, parse_json_text(*training_text, fmt::format("'{}' (attribute training_config)", path)),
                            context);
            optimizer_problem = legacy::read_optimizer_weights(file.get(), child_model, read, prefix);
          }
        }
        out.string(*config_text);
        out.u8(training_text ? 1 : 0);
        if (training_text) out.string(*training_text);
        out.u8(optimizer_problem ? 1 : 0);
        if (optimizer_problem) out.string(*optimizer_problem);
        hdf5::send_pending(out, read, legacy::candidates(child_model));
      },
      [&](ParentReader& in) {
        model = legacy::build_model(parse_json_text(in.string(), fmt::format("'{}' (attribute model_config)", path)),
                                    context);
        std::optional<std::string> optimizer_problem;
        if (in.u8() == 1) {
          legacy::compile(*model, parse_json_text(in.string(), fmt::format("'{}' (attribute training_config)", path)),
                          context);
        } else if (options.compile) {
          fmt::print(stderr, "Warning: No training configuration found in the save file '{}', so the model was *not* "
                             "compiled. Compile it manually.\n", path);
        }
        if (in.u8() == 1) optimizer_problem = in.string();
        pending = hdf5::receive_pending(in, legacy::candidates(*model));
        if (optimizer_problem) {
          // Keras 2 goes on with a fresh optimizer too.
          fmt::print(stderr, "Warning: Error in loading the saved optimizer state of '{}' ({}). As a result, your model "
                             "is starting with a freshly initialized optimizer.\n", path, *optimizer_problem);
        }
      });
  // Every dataset was read and checked: the assignments below cannot fail halfway.
  for (const hdf5::Pending& p : pending) p.variable.assign(p.value);
  return std::move(*model);
}

void load_legacy_h5_weights(Layer& layer_or_model, const std::string& path) {
  const std::string prefix = fmt::format("Cannot load weights from '{}': ", path);
  auto* model = dynamic_cast<Model*>(&layer_or_model);
  if (!model) {
    throw ValueError(fmt::format("{}a legacy `.h5` file names its groups after a model's layers; load it into a "
                                 "model, not into the layer '{}'.",
                                 prefix, layer_or_model.name()));
  }
  if (!model->built()) {
    throw ValueError(fmt::format("{}You are loading weights into a model that has not yet been built. Try building "
                                 "the model first by calling it on some data or by using `build()`. (layer '{}')",
                                 prefix, model->name()));
  }
  hdf5::check_readable(path, prefix);
  const std::vector<Variable> candidates = model->weights();
  std::vector<hdf5::Pending> pending;
  hdf5::bounded_read(
      prefix, hdf5::file_size(path),
      [&](ChildWriter& out) {
        const hdf5::Id file = hdf5::open_file(path, prefix);
        std::vector<hdf5::Pending> read;
        hdf5::Id weights;
        std::string missing;
        if (hdf5::open_group_path(file.get(), "model_weights", weights, missing, prefix) == hdf5::Found::yes) {
          legacy::read_model_weights(weights.get(), "model_weights", *model, read, prefix);
        } else {
          legacy::read_model_weights(file.get(), "", *model, read, prefix);
        }
        hdf5::send_pending(out, read, candidates);
      },
      [&](ParentReader& in) { pending = hdf5::receive_pending(in, candidates); });
  for (const hdf5::Pending& p : pending) p.variable.assign(p.value);
}

}  // namespace minidl::detail
