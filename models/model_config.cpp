// Model's config (Keras's Functional get_config / from_config in keras/src/models/functional.py):
// the graph written as its layers with their inbound nodes plus the input and output
// references, and a model rebuilt from that by calling the layers again in graph order.
// Registers the class "Functional" for md::deserialize.
#include <fmt/format.h>

#include <functional>
#include <map>
#include <unordered_map>

#include "minidl/core/error.h"
#include "minidl/core/registry.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/serialization.h"
#include "minidl/models/detail/error_context.h"
#include "minidl/models/keras2_config.h"
#include "minidl/models/model.h"

namespace minidl {

// ---- get_config --------------------------------------------------------------------------------

namespace {

bool is_functional(const Operation& op) {
  return dynamic_cast<const Model*>(&op) != nullptr && op.class_name() == "Functional";
}

// One value of a node's arguments in Keras's form: __keras_tensor__ for graph tensors, plain
// numbers for scalar constants, __tensor__ for other constants.
json serialize_value(const json& value, const CallArgs& args,
                     const std::function<int(const SymbolicHistory&)>& node_index_of) {
  if (CallArgs::is_placeholder(value)) {
    const Tensor t = args.tensor_at(value);
    if (t.is_symbolic()) {
      const SymbolicHistory& h = *t.impl()->history;
      return {{"class_name", "__keras_tensor__"},
              {"config",
               {{"shape", shape_to_json(t.shape())},
                {"dtype", dtype_name(t.dtype())},
                {"keras_history", {h.operation->name(), node_index_of(h), h.tensor_index}}}}};
    }
    if (t.ndim() == 0) return t.item();
    std::function<json(int64_t, int64_t)> nest = [&](int64_t axis, int64_t offset) -> json {
      json out = json::array();
      int64_t stride = 1;
      for (int64_t d = axis + 1; d < t.ndim(); ++d) stride *= t.shape()[d];
      for (int64_t i = 0; i < t.shape()[axis]; ++i) {
        if (axis + 1 == t.ndim()) {
          out.push_back(t.data()[offset + i]);
        } else {
          out.push_back(nest(axis + 1, offset + i * stride));
        }
      }
      return out;
    };
    return {{"class_name", "__tensor__"}, {"config", {{"value", nest(0, 0)}, {"dtype", dtype_name(t.dtype())}}}};
  }
  if (value.is_array()) {
    json out = json::array();
    for (const auto& item : value) out.push_back(serialize_value(item, args, node_index_of));
    return out;
  }
  if (value.is_object()) {
    json out = json::object();
    for (const auto& [key, item] : value.items()) out[key] = serialize_value(item, args, node_index_of);
    return out;
  }
  return value;
}

}  // namespace

json Model::get_config() const {
  json config = {{"name", name()}, {"trainable", trainable()}};
  // Keras re-numbers each operation's nodes to the ones inside this model; a nested
  // functional model's first node counts as 1 (Keras keeps a pre-existing node for it).
  std::unordered_map<const Node*, int> reindexed;
  for (const auto& op : graph_->operations()) {
    int kept = is_functional(*op) ? 1 : 0;
    for (const auto& node : op->inbound_nodes()) {
      if (graph_->owns_node(*node)) reindexed[node.get()] = kept++;
    }
  }
  auto history_index = [&](const SymbolicHistory& h) {
    // Inside inbound_nodes Keras only drops the nodes outside the model (no +1 shift): the
    // index is the number of the model's own nodes of that operation before this one.
    int index = 0;
    for (const auto& node : h.operation->inbound_nodes()) {
      if (node->node_index < h.node_index && graph_->owns_node(*node)) ++index;
    }
    return index;
  };
  json layers_json = json::array();
  for (const auto& op : graph_->operations()) {
    json entry = serialize(*op);
    entry["name"] = op->name();
    json inbound = json::array();
    for (const auto& node : op->inbound_nodes()) {
      if (!graph_->owns_node(*node) || node->is_input()) continue;
      inbound.push_back({{"args", serialize_value(node->call_args.args_json(), node->call_args, history_index)},
                         {"kwargs", serialize_value(node->call_args.kwargs_json(), node->call_args, history_index)}});
    }
    entry["inbound_nodes"] = inbound;
    layers_json.push_back(entry);
  }
  config["layers"] = layers_json;
  auto triple = [&](const Tensor& t) {
    const SymbolicHistory& h = *t.impl()->history;
    return json{h.operation->name(), reindexed.at(h.node.get()), h.tensor_index};
  };
  auto triples = [&](const std::vector<Tensor>& ts, bool single) {
    if (single && ts.size() == 1) return triple(ts[0]);
    json out = json::array();
    for (const Tensor& t : ts) out.push_back(triple(t));
    return out;
  };
  config["input_layers"] = triples(graph_->inputs(), graph_->single_input());
  config["output_layers"] = triples(graph_->outputs(), graph_->single_output());
  return config;
}

// ---- from_config -------------------------------------------------------------------------------

namespace {

bool is_triple(const json& v) {
  return v.is_array() && v.size() == 3 && v[0].is_string() && v[1].is_number_integer() && v[2].is_number_integer();
}

// The layers created from a config, by name.
using CreatedLayers = std::map<std::string, std::shared_ptr<Operation>>;

// A created layer and its saved calls (inbound nodes) still to be made.
struct PendingLayer {
  std::shared_ptr<Operation> op;
  std::vector<json> nodes;
};

// Creates the layers of the config's "layers" list, in order, each with its inbound nodes.
// Errors name the layer and the model.
std::vector<PendingLayer> create_layers(const json& layers, CreatedLayers& created, const std::string& model_name) {
  std::vector<PendingLayer> pending;
  for (const auto& layer_data : layers) {
    if (!layer_data.is_object() || !layer_data.contains("name") || !layer_data["name"].is_string()) {
      throw ValueError("Functional config: every entry of 'layers' needs a string 'name'; received " +
                       layer_data.dump() + ".");
    }
    const std::string layer_name = layer_data["name"].get<std::string>();
    json object = layer_data;
    object.erase("name");
    object.erase("inbound_nodes");
    std::shared_ptr<Operation> op;
    try {
      op = deserialize_operation(object);
    } catch (const Error& e) {
      const std::string class_name =
          object.contains("class_name") && object["class_name"].is_string() ? object["class_name"].get<std::string>() : "";
      detail::rethrow_with_context(e, detail::layer_context(layer_name, class_name, model_name));
    }
    if (op->name() != layer_name) {
      throw ValueError(fmt::format("Functional config: layer '{}' has config name '{}'.", layer_name, op->name()));
    }
    created[layer_name] = op;
    std::vector<json> nodes;
    if (layer_data.contains("inbound_nodes")) {
      if (!layer_data["inbound_nodes"].is_array()) {
        throw TypeError(fmt::format("Functional config: 'inbound_nodes' of layer '{}' must be a list.", layer_name));
      }
      for (const auto& n : layer_data["inbound_nodes"]) nodes.push_back(n);
    }
    pending.push_back({op, std::move(nodes)});
  }
  return pending;
}

// Resolves a saved tensor reference; returns undefined when its node does not exist yet. With
// `shift`, a nested functional model's node indices count from 1, as get_config writes them in
// input_layers/output_layers.
Tensor resolve_tensor(const CreatedLayers& created, const std::string& layer_name, int node_index, int tensor_index,
                      bool shift) {
  auto it = created.find(layer_name);
  if (it == created.end()) throw ValueError("Unknown layer: " + layer_name);
  if (shift && is_functional(*it->second)) --node_index;
  const std::shared_ptr<Node> node = it->second->inbound_node(node_index);
  if (!node) return Tensor();
  const auto outs = node->output_tensors();
  if (tensor_index < 0 || tensor_index >= static_cast<int>(outs.size())) {
    throw ValueError(
        fmt::format("Functional config: layer '{}' node {} has no output {}.", layer_name, node_index, tensor_index));
  }
  return outs[tensor_index];
}

// Appends the numbers of a saved constant's nested lists to `flat`, recording each level's size.
void read_constant_values(const json& x, size_t depth, Shape& shape, std::vector<float>& flat) {
  if (x.is_array()) {
    if (shape.size() <= depth) shape.push_back(static_cast<int64_t>(x.size()));
    for (const auto& item : x) read_constant_values(item, depth + 1, shape, flat);
  } else {
    if (!x.is_number()) {
      throw ValueError("Functional config: a constant tensor's values must be numbers; received " + x.dump() + ".");
    }
    flat.push_back(x.get<float>());
  }
}

// A saved constant (__tensor__ or __numpy__) as a tensor.
Tensor revive_constant(const json& value) {
  if (!value.contains("config") || !value["config"].is_object() || !value["config"].contains("value")) {
    throw ValueError("Functional config: a constant tensor needs a 'config' with a 'value'; received " + value.dump() +
                     ".");
  }
  std::vector<float> flat;
  Shape shape;
  read_constant_values(value["config"]["value"], 0, shape, flat);
  return Tensor::from_vector(flat, shape);
}

// A placeholder {"__tensor__": i} for `t`, appended to `tensors` (CallArgs::from_json's form).
json placeholder(std::vector<Tensor>& tensors, const Tensor& t) {
  tensors.push_back(t);
  return json{{"__tensor__", tensors.size() - 1}};
}

// Turns saved node arguments into CallArgs's JSON form, collecting their tensors; false when an
// input does not exist yet.
bool revive_arguments(const CreatedLayers& created, const json& value, json& out, std::vector<Tensor>& args) {
  if (value.is_object() && value.value("class_name", "") == "__keras_tensor__") {
    const json* config = value.contains("config") && value["config"].is_object() ? &value["config"] : nullptr;
    if (!config || !config->contains("keras_history") || !is_triple((*config)["keras_history"])) {
      throw ValueError(
          "Functional config: a __keras_tensor__ needs a 'keras_history' [layer_name, node_index, tensor_index]; "
          "received " +
          value.dump() + ".");
    }
    const json& history = (*config)["keras_history"];
    Tensor t =
        resolve_tensor(created, history[0].get<std::string>(), history[1].get<int>(), history[2].get<int>(), false);
    if (!t.defined()) return false;
    out = placeholder(args, t);
    return true;
  }
  if (value.is_object() &&
      (value.value("class_name", "") == "__tensor__" || value.value("class_name", "") == "__numpy__")) {
    out = placeholder(args, revive_constant(value));
    return true;
  }
  if (value.is_array()) {
    out = json::array();
    for (const auto& item : value) {
      json converted;
      if (!revive_arguments(created, item, converted, args)) return false;
      out.push_back(converted);
    }
    return true;
  }
  if (value.is_object()) {
    out = json::object();
    for (const auto& [key, item] : value.items()) {
      json converted;
      if (!revive_arguments(created, item, converted, args)) return false;
      out[key] = converted;
    }
    return true;
  }
  out = value;
  return true;
}

// Calls `op` as the saved inbound node `node_data` describes (Keras 3's {"args", "kwargs"};
// keras2::functional_config turned Keras 2's lists into that); false, calling nothing, when an
// input does not exist yet.
bool call_saved_node(const CreatedLayers& created, const std::shared_ptr<Operation>& op, const json& node_data,
                     std::vector<Tensor>& produced) {
  if (!node_data.is_object() || !node_data.contains("args")) {
    throw ValueError("Functional config: malformed inbound node " + node_data.dump() + ".");
  }
  std::vector<Tensor> tensors;
  json args_json, kwargs_json = json::object();
  if (!revive_arguments(created, node_data["args"], args_json, tensors)) return false;
  if (node_data.contains("kwargs") && !revive_arguments(created, node_data["kwargs"], kwargs_json, tensors)) {
    return false;
  }
  for (Tensor& t : op->invoke(CallArgs::from_json(args_json, kwargs_json, std::move(tensors)))) {
    produced.push_back(std::move(t));
  }
  return true;
}

// Makes the saved calls in rounds, each layer's in order, until all are made; ValueError
// naming the layers whose calls cannot be resolved (loops or disconnected nodes). Returns every
// output made: they hold the new nodes (operations hold theirs only weakly) until the model's
// graph does.
std::vector<Tensor> call_saved_nodes(const CreatedLayers& created, std::vector<PendingLayer>& pending) {
  std::vector<Tensor> produced;
  while (true) {
    bool waiting = false, progress = false;
    for (auto& [op, nodes] : pending) {
      size_t done = 0;
      while (done < nodes.size() && call_saved_node(created, op, nodes[done], produced)) ++done;
      if (done > 0) progress = true;
      nodes.erase(nodes.begin(), nodes.begin() + static_cast<long>(done));
      if (!nodes.empty()) waiting = true;
    }
    if (!waiting) break;
    if (!progress) {
      std::string names;
      for (const auto& [op, nodes] : pending) {
        if (!nodes.empty()) names += (names.empty() ? "" : ", ") + op->name();
      }
      throw ValueError(
          "Invalid Functional model configuration. The graph of the Functional model either has loops "
          "or disconnected nodes. The following nodes failed to be resolved: " +
          names);
    }
  }
  return produced;
}

// The tensors that input_layers/output_layers name: one [layer_name, node_index, tensor_index]
// triple (*single is then true), a list of them, or a dict of them.
std::vector<Tensor> resolve_endpoints(const CreatedLayers& created, const json& value, bool* single) {
  std::vector<Tensor> out;
  auto one = [&](const json& t) {
    if (!is_triple(t)) throw ValueError("Functional config: malformed tensor reference " + t.dump() + ".");
    Tensor x = resolve_tensor(created, t[0].get<std::string>(), t[1].get<int>(), t[2].get<int>(), true);
    if (!x.defined()) throw ValueError("Functional config: tensor reference " + t.dump() + " does not exist.");
    out.push_back(x);
  };
  *single = is_triple(value);
  if (*single) {
    one(value);
  } else if (value.is_array()) {
    for (const auto& t : value) one(t);
  } else if (value.is_object()) {
    for (const auto& [key, t] : value.items()) one(t);
  } else {
    throw TypeError("Functional config: input_layers/output_layers must be lists; received " + value.dump() + ".");
  }
  return out;
}

}  // namespace

Model Model::from_config(const json& saved) {
  const json config = keras2::functional_config(saved);  // a Keras 3 config comes back as it is
  ConfigReader r(config, "Functional");
  for (const char* key : {"layers", "input_layers", "output_layers"}) {
    if (!r.has(key)) throw ValueError(fmt::format("Functional config is missing the required key '{}' (a list).", key));
  }
  if (!r.at("layers").is_array()) {
    throw TypeError("Functional config key 'layers' must be a list; received " + r.at("layers").dump() + ".");
  }
  CreatedLayers created;
  std::vector<PendingLayer> pending = create_layers(r.at("layers"), created, r.name());
  const std::vector<Tensor> produced = call_saved_nodes(created, pending);
  bool single_in = false, single_out = false;
  const std::vector<Tensor> inputs = resolve_endpoints(created, r.at("input_layers"), &single_in);
  const std::vector<Tensor> outputs = resolve_endpoints(created, r.at("output_layers"), &single_out);
  Model model("Functional", r.name(), true);
  model.replace_graph(
      Function(inputs, outputs, {.name = model.name(), .single_input = single_in, .single_output = single_out}));
  model.build(ShapeSpec());
  if (!r.trainable()) model.set_trainable(false);
  return model;
}

namespace {
const bool functional_registered = [] {
  Registry::instance().add({.class_name = "Functional",
                            .module = "keras.src.models.functional",
                            .registered_name = "Functional",
                            .factory = [](const json& config) -> std::shared_ptr<Operation> {
                              return std::make_shared<Model>(Model::from_config(config));
                            },
                            .builtin = true});
  return true;
}();
}  // namespace

}  // namespace minidl
