// Keras 2 configs translated into Keras 3's form (see models/keras2_config.h for the list).
#include "minidl/models/keras2_config.h"

#include <fmt/format.h>

#include <cctype>
#include <functional>
#include <map>
#include <set>

#include "minidl/core/error.h"
#include "minidl/core/keras_envelope.h"

namespace minidl::keras2 {
namespace {
// Unity builds put several files in one translation unit: the helpers live in k2.
namespace k2 {

// Where an error is: "model 'm', layer 'dense' (Dense)".
struct Where {
  std::string model;
  std::string layer;
  std::string class_name;
  std::string text() const {
    std::string out = fmt::format("Keras 2 config of model '{}'", model);
    if (!layer.empty()) out += fmt::format(", layer '{}'", layer);
    if (!class_name.empty()) out += fmt::format(" ({})", class_name);
    return out;
  }
};

std::string string_or(const json& object, const char* key, const std::string& fallback) {
  if (!object.is_object()) return fallback;
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : fallback;
}

// ---- dtypes and initializers -----------------------------------------------------------------

// The dtype name inside a string or a Keras 2 Policy / Keras 3 DTypePolicy object.
std::optional<std::string> dtype_name_of(const json& dtype) {
  if (dtype.is_string()) return dtype.get<std::string>();
  if (dtype.is_object() && dtype.contains("config") && dtype["config"].is_object()) {
    return string_or(dtype["config"], "name", "");
  }
  return std::nullopt;
}

json dtype_policy(const std::string& name) {
  return keras_envelope("keras", "DTypePolicy", json{{"name", name}}, std::nullopt);
}

// "GlorotUniformV2" / "glorot_uniformV2": Keras 2's aliases of its V2 initializers.
std::string without_v2(const std::string& name) {
  if (name.size() > 2 && name.ends_with("V2")) return name.substr(0, name.size() - 2);
  return name;
}

// VarianceScaling (what tf.keras 2 wrote for glorot_uniform & co. in some versions, and what a
// user may have set) as the named initializer it equals: Keras 3's GlorotUniform is
// VarianceScaling(1.0, "fan_avg", "uniform"), and so on. minidl has the named ones only.
json variance_scaling(const json& object, const Where& where, const std::string& key) {
  struct Named {
    double scale;
    const char* mode;
    const char* distribution;
    const char* class_name;
  };
  static constexpr Named kNamed[] = {
      {1.0, "fan_avg", "uniform", "GlorotUniform"}, {1.0, "fan_avg", "truncated_normal", "GlorotNormal"},
      {2.0, "fan_in", "uniform", "HeUniform"},      {2.0, "fan_in", "truncated_normal", "HeNormal"},
      {1.0, "fan_in", "uniform", "LecunUniform"},   {1.0, "fan_in", "truncated_normal", "LecunNormal"},
  };
  const json& config = object["config"];
  const double scale = config.contains("scale") && config["scale"].is_number() ? config["scale"].get<double>() : 1.0;
  const std::string mode = string_or(config, "mode", "fan_in");
  const std::string distribution = string_or(config, "distribution", "truncated_normal");
  for (const Named& n : kNamed) {
    if (n.scale == scale && mode == n.mode && distribution == n.distribution) {
      json seed = config.contains("seed") ? config["seed"] : json(nullptr);
      return keras_envelope("keras.initializers", n.class_name, json{{"seed", seed}}, std::nullopt);
    }
  }
  throw NotImplementedError(fmt::format(
      "{}: key '{}' is VarianceScaling(scale={}, mode='{}', distribution='{}'); minidl has the variance-scaling "
      "initializers Glorot, He and Lecun (uniform and truncated normal) only.",
      where.text(), key, scale, mode, distribution));
}

json initializer(const json& value, const Where& where, const std::string& key) {
  if (value.is_string()) return without_v2(value.get<std::string>());
  if (!value.is_object() || !value.contains("class_name") || !value["class_name"].is_string()) return value;
  json out = value;
  const std::string class_name = without_v2(value["class_name"].get<std::string>());
  out["class_name"] = class_name;
  if (out.contains("config") && out["config"].is_object()) {
    json& config = out["config"];
    // TF1-era (V1) initializers wrote their dtype; Keras 3's take none.
    if (auto it = config.find("dtype"); it != config.end()) {
      if (!it->is_null() && dtype_name_of(*it) != "float32") {
        throw NotImplementedError(fmt::format("{}: key '{}' is a {} initializer with dtype {}; minidl initializes "
                                              "float32 variables only.",
                                              where.text(), key, class_name, it->dump()));
      }
      config.erase(it);
    }
    if (class_name == "VarianceScaling") {
      // Keras 2 read "normal" as "truncated_normal".
      if (string_or(config, "distribution", "") == "normal") config["distribution"] = "truncated_normal";
      return variance_scaling(out, where, key);
    }
  }
  return out;
}

// ---- layers ----------------------------------------------------------------------------------

void translate_layer_keys(json& config, const Where& where) {
  const std::string& class_name = where.class_name;
  if (auto it = config.find("dtype"); it != config.end() && !it->is_null()) {
    const std::optional<std::string> name = dtype_name_of(*it);
    if (!name) {
      throw ValueError(fmt::format("{}: key 'dtype' must be a string or a dtype policy; received {}.", where.text(),
                                   it->dump()));
    }
    // Keras 3 writes an InputLayer's dtype as a string, every other layer's as a DTypePolicy.
    *it = class_name == "InputLayer" ? json(*name) : dtype_policy(*name);
  }
  if (auto it = config.find("batch_input_shape"); it != config.end()) {
    if (class_name == "InputLayer" && !config.contains("batch_shape")) config["batch_shape"] = *it;
    config.erase("batch_input_shape");
  }
  for (auto& [key, value] : config.items()) {
    if (key.ends_with("_initializer")) value = initializer(value, where, key);
  }
  if (class_name == "Embedding") config.erase("input_length");
  if (class_name == "Attention" || class_name == "AdditiveAttention") {
    if (auto it = config.find("causal"); it != config.end()) {
      if (it->is_boolean() && it->get<bool>()) {
        throw NotImplementedError(fmt::format(
            "{}: key 'causal' is true. Keras 3 and minidl take causal masking as a call argument "
            "(use_causal_mask=True), not a layer setting; call the layer with use_causal_mask instead.",
            where.text()));
      }
      config.erase(it);
    }
  }
}

// ---- inbound nodes ---------------------------------------------------------------------------

// The layers of a Functional config: which of them are models whose node 0 Keras 2 counted for
// the model itself (Functional._should_skip_first_node).
struct LayerTable {
  std::map<std::string, bool> skips_first_node;
  bool contains(const std::string& name) const { return skips_first_node.count(name) > 0; }
};

bool skips_first_node(const json& entry) {
  const std::string class_name = string_or(entry, "class_name", "");
  if (class_name == "Functional" || class_name == "Model") return true;
  if (class_name != "Sequential") return false;
  // A Sequential is a graph network (with its InputLayer first) once it has an input shape.
  const json* config = entry.contains("config") && entry["config"].is_object() ? &entry["config"] : nullptr;
  if (!config || !config->contains("layers") || !(*config)["layers"].is_array() || (*config)["layers"].empty()) {
    return false;
  }
  const json& first = (*config)["layers"][0];
  if (string_or(first, "class_name", "") == "InputLayer") return true;
  return first.is_object() && first.contains("config") && first["config"].is_object() &&
         first["config"].contains("batch_input_shape");
}

bool is_reference(const json& v, const LayerTable& layers) {
  return v.is_array() && v.size() == 3 && v[0].is_string() && v[1].is_number_integer() && v[2].is_number_integer() &&
         layers.contains(v[0].get<std::string>());
}

json keras_tensor(const json& reference, const LayerTable& layers, const Where& where) {
  const std::string name = reference[0].get<std::string>();
  int64_t node_index = reference[1].get<int64_t>();
  if (layers.skips_first_node.at(name)) --node_index;
  if (node_index < 0) {
    throw ValueError(fmt::format("{}: key 'inbound_nodes' refers to node {} of model '{}', whose node 0 is the "
                                 "model's own (Keras 2 numbers a nested model's calls from 1).",
                                 where.text(), reference[1].get<int64_t>(), name));
  }
  return {{"class_name", "__keras_tensor__"},
          {"config", {{"keras_history", {name, node_index, reference[2].get<int64_t>()}}}}};
}

// Call arguments with the references to this model's tensors (Keras 2 writes an explicitly
// passed mask as ["layer", node, tensor]) made keras tensors.
json revive_references(const json& value, const LayerTable& layers, const Where& where) {
  if (is_reference(value, layers)) return keras_tensor(value, layers, where);
  if (value.is_array()) {
    json out = json::array();
    for (const json& item : value) out.push_back(revive_references(item, layers, where));
    return out;
  }
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, item] : value.items()) out[key] = revive_references(item, layers, where);
    return out;
  }
  return value;
}

// One Keras 2 node, [[layer, node, tensor, kwargs], ...] (TFOpLambda writes one reference
// without the outer list), as Keras 3's {"args", "kwargs"}.
json node(const json& data, const LayerTable& layers, const Where& where) {
  if (!data.is_array()) return data;  // Keras 3's form already
  const bool single = !data.empty() && data[0].is_string();
  const json refs = single ? json::array({data}) : data;
  json tensors = json::array();
  json kwargs = json::object();
  for (const json& ref : refs) {
    const bool shaped = ref.is_array() && (ref.size() == 3 || ref.size() == 4) && ref[0].is_string() &&
                        ref[1].is_number_integer() && ref[2].is_number_integer() &&
                        (ref.size() == 3 || ref[3].is_object());
    if (!shaped) {
      throw ValueError(fmt::format("{}: key 'inbound_nodes' holds the malformed reference {} (expected "
                                   "[layer_name, node_index, tensor_index, kwargs]).",
                                   where.text(), ref.dump()));
    }
    if (!layers.contains(ref[0].get<std::string>())) {
      throw ValueError(fmt::format("{}: key 'inbound_nodes' refers to layer '{}', which the model's 'layers' list "
                                   "does not have.",
                                   where.text(), ref[0].get<std::string>()));
    }
    tensors.push_back(keras_tensor(json::array({ref[0], ref[1], ref[2]}), layers, where));
    if (ref.size() == 4) kwargs = revive_references(ref[3], layers, where);
  }
  json args = json::array();
  if (tensors.size() == 1) {
    args.push_back(tensors[0]);
  } else if (!tensors.empty()) {
    args.push_back(tensors);
  }
  return {{"args", args}, {"kwargs", kwargs}};
}

// ---- training config -------------------------------------------------------------------------

std::string camel_case(const std::string& snake) {
  std::string out;
  bool upper = true;
  for (char c : snake) {
    if (c == '_') {
      upper = true;
      continue;
    }
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
    upper = false;
  }
  return out;
}

json optimizer(const json& object) {
  const auto fail = [](const std::string& what) {
    return ValueError("Keras 2 training_config: key 'optimizer_config' " + what);
  };
  if (!object.is_object() || !object.contains("class_name") || !object["class_name"].is_string()) {
    throw fail("must be {\"class_name\": ..., \"config\": {...}}; received " + object.dump() + ".");
  }
  std::string class_name = object["class_name"].get<std::string>();
  // Keras 2.11+ registered its new optimizers as "Custom>Adam".
  if (class_name.starts_with("Custom>")) class_name = class_name.substr(7);
  json config = object.contains("config") && object["config"].is_object() ? object["config"] : json::object();
  config.erase("jit_compile");
  config.erase("is_legacy_optimizer");
  if (auto it = config.find("lr"); it != config.end()) {  // Keras < 2.3's name
    if (!config.contains("learning_rate")) config["learning_rate"] = *it;
    config.erase("lr");
  }
  if (auto it = config.find("decay"); it != config.end()) {
    // The legacy optimizers' time decay, lr / (1 + decay * iterations).
    if (!it->is_null() && !(it->is_number() && it->get<double>() == 0.0)) {
      throw NotImplementedError(fmt::format(
          "Keras 2 training_config: optimizer {} sets key 'decay' to {} (the legacy optimizers' learning-rate decay "
          "lr / (1 + decay * iterations)), which Keras 3 and minidl do not have; Keras 3 ignores it with a warning, "
          "minidl will not train at another rate. Load with compile=false and compile with a schedule.",
          class_name, it->dump()));
    }
    config.erase(it);
  }
  if (auto it = config.find("use_ema"); it != config.end() && it->is_boolean() && !it->get<bool>()) {
    // The EMA settings mean nothing without EMA (Keras 2's RMSprop writes frequency 100).
    config.erase("use_ema");
    config.erase("ema_momentum");
    config.erase("ema_overwrite_frequency");
  }
  return keras_envelope("keras.optimizers", class_name, config, std::nullopt);
}

json loss_object(const json& object) {
  if (!object.is_object()) return object;
  json out = object;
  if (out.contains("class_name") && out["class_name"].is_string()) {
    out["class_name"] = serialized_class_name(out);
  }
  if (out.contains("config") && out["config"].is_object()) {
    json& config = out["config"];
    config.erase("fn");  // LossFunctionWrapper's function, implied by the class
    if (string_or(config, "reduction", "") == "auto") config["reduction"] = "sum_over_batch_size";
  }
  return out;
}

// The loss of a single-output model: Keras 2 also writes per-output lists and dicts.
json loss(const json& value) {
  if (value.is_null() || value.is_string()) return value;
  if (value.is_object() && value.contains("class_name")) return loss_object(value);
  if ((value.is_array() || value.is_object()) && value.size() == 1) {
    return loss(value.is_array() ? value[0] : value.begin().value());
  }
  throw NotImplementedError(
      "Keras 2 training_config: key 'loss' gives one loss per output (" + value.dump() +
      "); minidl's compile() takes one loss. Load with compile=false and compile the model yourself.");
}

json metric(const json& value) {
  if (value.is_string()) return value;
  if (!value.is_object() || !value.contains("class_name") || !value["class_name"].is_string()) {
    throw ValueError("Keras 2 training_config: key 'metrics' holds " + value.dump() +
                     ", which is neither a metric name nor a serialized metric.");
  }
  json out = value;
  json config = value.contains("config") && value["config"].is_object() ? value["config"] : json::object();
  std::string class_name = serialized_class_name(value);
  if (class_name == "MeanMetricWrapper") {
    // compile(metrics=["accuracy"]) saved as the wrapper of the function Keras chose.
    auto fn = config.find("fn");
    if (fn == config.end() || !fn->is_string()) {
      throw NotImplementedError("Keras 2 training_config: key 'metrics' holds a MeanMetricWrapper of a custom "
                                "function (" + value.dump() + "), which minidl cannot rebuild.");
    }
    class_name = camel_case(fn->get<std::string>());
    config.erase(fn);
  }
  return keras_envelope("keras.metrics", class_name, config, std::nullopt);
}

// Keras 2.15 writes one list per output ([[m1, m2]]); older versions a flat list or a dict by
// output name.
json metrics(const json& value) {
  if (value.is_null()) return value;
  json list = value;
  if (value.is_object()) {
    if (value.size() != 1) {
      throw NotImplementedError("Keras 2 training_config: key 'metrics' gives metrics per output (" + value.dump() +
                                "); minidl models train one output.");
    }
    list = value.begin().value();
  }
  if (!list.is_array()) {
    throw ValueError("Keras 2 training_config: key 'metrics' must be a list; received " + value.dump() + ".");
  }
  json flat = json::array();
  size_t outputs = 0;
  for (const json& item : list) {
    if (item.is_array()) {
      if (!item.empty() && ++outputs > 1) {
        throw NotImplementedError("Keras 2 training_config: key 'metrics' gives metrics for several outputs (" +
                                  value.dump() + "); minidl models train one output.");
      }
      for (const json& m : item) flat.push_back(metric(m));
    } else {
      flat.push_back(metric(item));
    }
  }
  return flat;
}

}  // namespace k2
}  // namespace

json model_config(const json& object) {
  if (!object.is_object()) return object;
  json out = object;
  out.erase("keras_version");
  out.erase("backend");
  if (k2::string_or(out, "class_name", "") == "Model") out["class_name"] = "Functional";
  return out;
}

json layer_config(const json& object, const std::string& model) {
  if (!object.is_object() || !object.contains("class_name") || !object["class_name"].is_string()) return object;
  // Keras 3's ops in a graph (keras.src.ops.*): Keras 2 has none, and their "dtype" is an
  // argument, not a policy.
  if (k2::string_or(object, "module", "").starts_with("keras.src.ops")) return object;
  json out = object;
  std::string class_name = object["class_name"].get<std::string>();
  if (class_name == "Model") out["class_name"] = class_name = "Functional";
  const json* config = object.contains("config") && object["config"].is_object() ? &object["config"] : nullptr;
  const std::string name = config ? k2::string_or(*config, "name", k2::string_or(object, "name", "")) : "";
  const k2::Where where{model, name, class_name};
  if (class_name == "TFOpLambda" || class_name == "SlicingOpLambda") {
    throw NotImplementedError(fmt::format(
        "{}: key 'function' is {}, a TensorFlow function applied to a Keras tensor (tf.keras 2 records it as a "
        "layer); Keras 3 and minidl cannot load it. Rebuild that step with layers.",
        where.text(), config && config->contains("function") ? (*config)["function"].dump() : std::string("unset")));
  }
  if (config) k2::translate_layer_keys(out["config"], where);
  return out;
}

json functional_config(const json& config) {
  if (!config.is_object() || !config.contains("layers") || !config["layers"].is_array()) return config;
  json out = config;
  const std::string model = k2::string_or(config, "name", "");
  k2::LayerTable table;
  std::set<std::string> sequentials;  // nested Sequential models that Keras 2 numbered from 1
  for (const json& entry : config["layers"]) {
    const std::string name = k2::string_or(entry, "name", "");
    if (name.empty()) continue;
    table.skips_first_node[name] = k2::skips_first_node(entry);
    if (table.skips_first_node[name] && k2::string_or(entry, "class_name", "") == "Sequential") {
      sequentials.insert(name);
    }
  }
  bool keras2 = false;  // a node in Keras 2's list form was seen
  json layers = json::array();
  for (const json& entry : config["layers"]) {
    json translated = layer_config(entry, model);
    if (translated.is_object() && translated.contains("inbound_nodes") && translated["inbound_nodes"].is_array()) {
      const k2::Where where{model, k2::string_or(entry, "name", ""), k2::string_or(entry, "class_name", "")};
      json nodes = json::array();
      for (const json& n : translated["inbound_nodes"]) {
        keras2 = keras2 || n.is_array();
        nodes.push_back(k2::node(n, table, where));
      }
      translated["inbound_nodes"] = nodes;
    }
    layers.push_back(translated);
  }
  out["layers"] = layers;
  if (keras2 && !sequentials.empty()) {
    // input_layers/output_layers count a nested model's own node in Keras 2 and Keras 3 alike,
    // but Keras 3's Sequential is no Functional and has no such node.
    const std::function<void(json&)> shift = [&](json& v) {
      if (v.is_array() && v.size() == 3 && v[0].is_string() && v[1].is_number_integer() &&
          sequentials.count(v[0].get<std::string>()) && v[1].get<int64_t>() > 0) {
        v[1] = v[1].get<int64_t>() - 1;
      } else if (v.is_array() || v.is_object()) {
        for (auto& item : v) shift(item);
      }
    };
    for (const char* key : {"input_layers", "output_layers"}) {
      if (out.contains(key)) shift(out[key]);
    }
  }
  return out;
}

json sequential_config(const json& config) {
  if (!config.is_object() || !config.contains("layers") || !config["layers"].is_array()) return config;
  json out = config;
  const std::string model = k2::string_or(config, "name", "");
  json layers = json::array();
  const json& saved = config["layers"];
  if (!saved.empty() && saved[0].is_object() && k2::string_or(saved[0], "class_name", "") != "InputLayer" &&
      saved[0].contains("config") && saved[0]["config"].is_object() &&
      saved[0]["config"].contains("batch_input_shape")) {
    // Keras 2 wrote Sequential([Dense(4, input_shape=(8,))]) without the InputLayer it made.
    const json& first = saved[0]["config"];
    const std::string dtype =
        first.contains("dtype") ? k2::dtype_name_of(first["dtype"]).value_or("float32") : std::string("float32");
    layers.push_back({{"class_name", "InputLayer"},
                      {"config",
                       {{"batch_shape", first["batch_input_shape"]},
                        {"dtype", dtype},
                        {"sparse", false},
                        {"name", k2::string_or(first, "name", "layer") + "_input"}}}});
  }
  for (const json& entry : saved) layers.push_back(layer_config(entry, model));
  out["layers"] = layers;
  return out;
}

json compile_config(const json& training_config) {
  if (!training_config.is_object()) {
    throw ValueError("Keras 2 training_config must be an object; received " + training_config.dump() + ".");
  }
  auto field = [&](const char* key) -> json {
    auto it = training_config.find(key);
    return it == training_config.end() ? json(nullptr) : *it;
  };
  const json optimizer_config = field("optimizer_config");
  if (optimizer_config.is_null()) {
    throw ValueError("Keras 2 training_config is missing the key 'optimizer_config'.");
  }
  json weighted = field("weighted_metrics");
  if (weighted.is_array() && weighted.empty()) weighted = nullptr;
  return {{"optimizer", k2::optimizer(optimizer_config)},
          {"loss", k2::loss(field("loss"))},
          {"metrics", k2::metrics(field("metrics"))},
          {"loss_weights", field("loss_weights")},
          {"weighted_metrics", weighted.is_null() ? weighted : k2::metrics(weighted)}};
}

std::optional<std::string> optimizer_variable_name(const std::string& keras2_name, const std::string& optimizer_class,
                                                   const std::vector<std::string>& variable_paths) {
  std::string name = keras2_name;
  if (name.ends_with(":0")) name.resize(name.size() - 2);
  std::vector<std::string> parts;
  for (size_t start = 0;;) {
    const size_t slash = name.find('/', start);
    parts.push_back(name.substr(start, slash == std::string::npos ? std::string::npos : slash - start));
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  if (name == "iteration" || (parts.size() == 2 && (parts[1] == "iter" || parts[1] == "iteration"))) {
    return std::string("iteration");
  }
  // Keras 2 slot names (new optimizers, then legacy ones) -> Keras 3's.
  static const std::map<std::string, std::map<std::string, std::string>> slots = {
      {"Adam", {{"m", "momentum"}, {"v", "velocity"}, {"vhat", "velocity_hat"}}},
      {"AdamW", {{"m", "momentum"}, {"v", "velocity"}, {"vhat", "velocity_hat"}}},
      {"SGD", {{"m", "momentum"}, {"momentum", "momentum"}}},
      {"RMSprop",
       {{"velocity", "velocity"},
        {"momentum", "momentum"},
        {"average_gradient", "average_gradient"},
        {"rms", "velocity"},
        {"mg", "average_gradient"}}},
      {"Adagrad", {{"accumulator", "accumulator"}}},
  };
  auto table = slots.find(optimizer_class);
  if (table == slots.end() || parts.size() < 3) return std::nullopt;
  const auto join = [&](size_t begin, size_t end) {
    std::string out;
    for (size_t i = begin; i < end; ++i) out += (i > begin ? "/" : "") + parts[i];
    return out;
  };
  // The model variable a Keras 2 path names: the same path, or the one path ending in "/<path>".
  const auto model_path = [&](const std::string& keras2_path) -> std::optional<std::string> {
    std::optional<std::string> found;
    for (const std::string& path : variable_paths) {
      if (path == keras2_path) return path;
      if (path.ends_with("/" + keras2_path)) {
        if (found) return std::nullopt;  // ambiguous
        found = path;
      }
    }
    return found;
  };
  const auto minidl_name = [](std::string path, const std::string& slot) {
    for (char& c : path) {
      if (c == '/') c = '_';
    }
    return path + "_" + slot;
  };
  // Keras 2.11+: <optimizer>/<slot>/<variable path>.
  if (auto slot = table->second.find(parts[1]); slot != table->second.end()) {
    if (const auto path = model_path(join(2, parts.size()))) return minidl_name(*path, slot->second);
  }
  // Legacy optimizers: <optimizer>/<variable path>/<slot>.
  if (auto slot = table->second.find(parts.back()); slot != table->second.end()) {
    if (const auto path = model_path(join(1, parts.size() - 1))) return minidl_name(*path, slot->second);
  }
  return std::nullopt;
}

}  // namespace minidl::keras2
