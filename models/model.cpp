#include "minidl/models/model.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/registry.h"
#include "minidl/layers/config_reader.h"
#include "minidl/layers/serialization.h"

namespace minidl {

struct Model::Graph {
  std::vector<Tensor> inputs;
  std::vector<Tensor> outputs;
  bool single_input = false, single_output = false;
  std::vector<std::shared_ptr<Operation>> operations;
  // Depth -> the nodes at that depth (deepest first when iterated in reverse).
  std::map<int, std::vector<std::shared_ptr<Node>>> nodes_by_depth;
  std::unordered_set<const Node*> own_nodes;
};

namespace {

const SymbolicHistory& history_of(const Tensor& t, const char* what) {
  if (!t.defined() || !t.is_symbolic() || !t.impl()->history) {
    throw ValueError(fmt::format(
        "All `{}` values must be symbolic tensors produced by md::Input or by layers called on them. Received: {}",
        what, to_string(t)));
  }
  return *t.impl()->history;
}

// The history of a tensor that `consumer` (a node inside the graph) took as an argument.
const SymbolicHistory& argument_history(const Tensor& t, const Operation& consumer) {
  if (!t.impl()->history) {
    throw ValueError(fmt::format(
        "Operation '{}' was called on a symbolic tensor that no md::Input, layer or op produced: {}. Tensors passed "
        "to a layer inside a model (inputs, masks, other arguments) must come from the graph, e.g. from md::Input, "
        "a layer's output or its keras_mask().",
        consumer.name(), to_string(t)));
  }
  return *t.impl()->history;
}

std::shared_ptr<Node> node_of(const Tensor& t) {
  const SymbolicHistory& h = *t.impl()->history;
  return h.operation->inbound_nodes().at(h.node_index);
}

std::string tensor_repr(const Tensor& t) {
  const auto& h = t.impl()->history;
  return fmt::format("<KerasTensor shape={}, dtype={}, name={}>", shape_to_string(t.shape()), dtype_name(t.dtype()),
                     h ? h->operation->name() : std::string("?"));
}

// Keras's _build_map: a depth-first walk from the outputs through the tensors' histories.
struct GraphWalk {
  const std::vector<Tensor>& inputs;
  std::vector<std::shared_ptr<Node>> nodes_in_decreasing_depth;
  std::unordered_map<const Operation*, int> operation_indices;
  std::unordered_set<const Node*> finished, in_progress;

  bool is_graph_input(const Tensor& t) const {
    return std::any_of(inputs.begin(), inputs.end(), [&](const Tensor& x) { return x.id() == t.id(); });
  }

  void visit(const Tensor& t) {
    const SymbolicHistory& h = history_of(t, "outputs");
    std::shared_ptr<Node> node = node_of(t);
    if (finished.count(node.get())) return;
    if (!node->is_input() && is_graph_input(t)) {
      finished.insert(node.get());
      return;
    }
    if (in_progress.count(node.get())) {
      throw ValueError(fmt::format("Tensor {} from operation '{}' is part of a cycle.", tensor_repr(t),
                                   h.operation->name()));
    }
    operation_indices.try_emplace(h.operation.get(), static_cast<int>(operation_indices.size()));
    in_progress.insert(node.get());
    if (!node->is_input()) {
      for (const Tensor& x : node->input_tensors()) {
        argument_history(x, *h.operation);
        visit(x);
      }
    }
    finished.insert(node.get());
    in_progress.erase(node.get());
    nodes_in_decreasing_depth.push_back(node);
  }
};

}  // namespace

Model::Model(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, const std::string& name)
    : Model("Functional", name, true) {
  set_graph(inputs, outputs);
  build(ShapeSpec());  // Keras builds a functional model at once, with input_shape None
}

Model::Model(const Tensor& input, const Tensor& output, const std::string& name) : Model("Functional", name, true) {
  graph_->single_input = graph_->single_output = true;
  set_graph({input}, {output});
  build(ShapeSpec());
}

Model::Model(std::string class_name, std::string name, bool trainable)
    : Layer(std::move(class_name), std::move(name), trainable), graph_(std::make_shared<Graph>()) {}

bool Model::has_graph() const { return !graph_->outputs.empty(); }

void Model::set_graph(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
  if (inputs.empty() || outputs.empty()) throw ValueError("A model needs at least one input and one output tensor.");
  for (const Tensor& t : inputs) history_of(t, "inputs");
  for (const Tensor& t : outputs) history_of(t, "outputs");
  for (const Tensor& t : inputs) {
    if (!node_of(t)->is_input()) {
      throw ValueError(fmt::format(
          "Model inputs must come from md::Input (an InputLayer); {} is produced by operation '{}'. Build the model "
          "from the md::Input tensors.",
          tensor_repr(t), t.impl()->history->operation->name()));
    }
  }
  auto graph = std::make_shared<Graph>();
  graph->inputs = inputs;
  graph->outputs = outputs;
  graph->single_input = graph_->single_input;
  graph->single_output = graph_->single_output;

  GraphWalk walk{inputs, {}, {}, {}, {}};
  for (const Tensor& t : outputs) walk.visit(t);

  // Keras's map_graph: depths from the outputs (0) upwards; an operation sits at its deepest node.
  std::unordered_set<const Node*> in_graph;
  for (const auto& n : walk.nodes_in_decreasing_depth) in_graph.insert(n.get());
  std::unordered_map<const Node*, int> node_depth;
  std::unordered_map<const Operation*, int> op_depth;
  std::unordered_map<const Operation*, std::shared_ptr<Operation>> ops;
  std::unordered_map<const Node*, std::shared_ptr<Node>> nodes;
  for (auto it = walk.nodes_in_decreasing_depth.rbegin(); it != walk.nodes_in_decreasing_depth.rend(); ++it) {
    const std::shared_ptr<Node>& node = *it;
    auto op = node->op();
    int depth = node_depth.try_emplace(node.get(), 0).first->second;
    depth = std::max(depth, op_depth.count(op.get()) ? op_depth[op.get()] : 0);
    op_depth[op.get()] = depth;
    node_depth[node.get()] = depth;
    ops[op.get()] = op;
    nodes[node.get()] = node;
    for (const Tensor& x : node->input_tensors()) {
      const std::shared_ptr<Node> parent = node_of(x);
      if (!in_graph.count(parent.get())) continue;
      auto [pit, inserted] = node_depth.try_emplace(parent.get(), depth + 1);
      if (!inserted) pit->second = std::max(pit->second, depth + 1);
    }
  }
  for (const Tensor& x : inputs) {
    const auto& h = *x.impl()->history;
    if (!op_depth.count(h.operation.get())) {
      const std::shared_ptr<Node> node = node_of(x);
      op_depth[h.operation.get()] = 0;
      walk.operation_indices[h.operation.get()] = -1;
      node_depth[node.get()] = 0;
      ops[h.operation.get()] = h.operation;
      nodes[node.get()] = node;
    }
  }
  std::map<int, std::vector<const Operation*>, std::greater<int>> ops_by_depth;
  for (const auto& [op, depth] : op_depth) ops_by_depth[depth].push_back(op);
  for (auto& [depth, list] : ops_by_depth) {
    std::sort(list.begin(), list.end(), [&](const Operation* a, const Operation* b) {
      return walk.operation_indices[a] < walk.operation_indices[b];
    });
    for (const Operation* op : list) graph->operations.push_back(ops[op]);
  }
  for (const auto& [node, depth] : node_depth) {
    graph->nodes_by_depth[depth].push_back(nodes[node]);
    graph->own_nodes.insert(node);
  }
  // Keep each depth's nodes in a stable order: by operation order, then node index.
  std::unordered_map<const Operation*, size_t> op_order;
  for (size_t i = 0; i < graph->operations.size(); ++i) op_order[graph->operations[i].get()] = i;
  for (auto& [depth, list] : graph->nodes_by_depth) {
    std::sort(list.begin(), list.end(), [&](const auto& a, const auto& b) {
      const size_t oa = op_order[a->op().get()], ob = op_order[b->op().get()];
      return oa != ob ? oa < ob : a->node_index < b->node_index;
    });
  }

  // Every node's inputs must be computable from the model inputs.
  std::unordered_set<uint64_t> computable;
  for (const Tensor& x : inputs) computable.insert(x.id());
  std::vector<std::string> complete;
  for (auto it = graph->nodes_by_depth.rbegin(); it != graph->nodes_by_depth.rend(); ++it) {
    for (const auto& node : it->second) {
      for (const Tensor& x : node->input_tensors()) {
        if (!computable.count(x.id())) {
          std::string done = "[";
          for (size_t i = 0; i < complete.size(); ++i) done += (i ? ", '" : "'") + complete[i] + "'";
          done += "]";
          throw ValueError(fmt::format(
              "Graph disconnected: cannot find parent for tensor {} at operation '{}'. The following previous "
              "operations were accessed without issue: {}",
              tensor_repr(x), node->op()->name(), done));
        }
        complete.push_back(node->op()->name());
      }
      // An InputLayer the model does not list feeds nothing: its tensors stay uncomputable.
      if (node->is_input()) continue;
      for (const Tensor& y : node->output_tensors()) computable.insert(y.id());
    }
  }
  std::map<std::string, int> counts;
  for (const auto& op : graph->operations) ++counts[op->name()];
  for (const auto& op : graph->operations) {
    if (counts[op->name()] != 1) {
      throw ValueError(fmt::format(
          "The name \"{}\" is used {} times in the model. All operation names should be unique.", op->name(),
          counts[op->name()]));
    }
  }
  // Replaced in place, so that every copy of this model (they share graph_) sees the new graph.
  *graph_ = std::move(*graph);
  // The new graph's layers replace the old ones (a layer Sequential::pop removed owns no weights here).
  untrack_sublayers();
  for (const auto& op : graph_->operations) {
    if (auto layer = std::dynamic_pointer_cast<Layer>(op)) track(*layer);
  }
}

std::vector<std::shared_ptr<Operation>> Model::operations() const { return graph_->operations; }

bool Model::owns_node(const Node& node) const { return graph_->own_nodes.count(&node) > 0; }

bool Model::sequential_like() const {
  for (const auto& [depth, nodes] : graph_->nodes_by_depth) {
    if (nodes.size() > 1 || (nodes.size() == 1 && nodes[0]->input_tensors().size() > 1)) return false;
  }
  for (const auto& op : graph_->operations) {
    int own = 0;
    for (const auto& node : op->inbound_nodes()) own += owns_node(*node) ? 1 : 0;
    if (own > 1) return false;
  }
  return true;
}

std::vector<std::shared_ptr<Layer>> Model::layers() const {
  std::vector<std::shared_ptr<Layer>> out;
  for (const auto& op : graph_->operations) {
    if (auto layer = std::dynamic_pointer_cast<Layer>(op)) out.push_back(std::move(layer));
  }
  return out;
}

std::shared_ptr<Layer> Model::get_layer(const std::string& layer_name) const {
  for (const auto& layer : layers()) {
    if (layer->name() == layer_name) return layer;
  }
  std::string names;
  for (const auto& layer : layers()) names += (names.empty() ? "'" : ", '") + layer->name() + "'";
  throw ValueError(fmt::format("No such layer: {}. Existing layers are: [{}].", layer_name, names));
}

const std::vector<Tensor>& Model::graph_inputs() const { return graph_->inputs; }
const std::vector<Tensor>& Model::graph_outputs() const { return graph_->outputs; }

std::vector<Tensor> Model::call(const CallArgs& args, const CallContext& ctx) {
  if (!has_graph()) throw ValueError(fmt::format("Model '{}' has no graph yet: it cannot be called.", name()));
  const std::vector<Tensor> inputs = args.inputs();
  if (inputs.size() != graph_->inputs.size()) {
    // Keras's input_spec check (keras/src/layers/input_spec.py).
    std::string received;
    for (const Tensor& x : inputs) {
      received += received.empty() ? "" : ", ";
      received += x.defined()
                      ? fmt::format("<Tensor shape={}, dtype={}>", shape_to_string(x.shape()), dtype_name(x.dtype()))
                      : std::string("None");
    }
    throw ValueError(
        fmt::format("Layer \"{}\" expects {} input(s), but it received {} input tensors. Inputs received: [{}]", name(),
                    graph_->inputs.size(), inputs.size(), received));
  }
  std::unordered_map<uint64_t, Tensor> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) throw ValueError(fmt::format("Model '{}': input {} is undefined.", name(), i));
    Tensor x = checked_input(i, inputs[i]);
    const Tensor mask = i < ctx.masks.size() ? ctx.masks[i] : Tensor();
    if (mask.defined()) {
      x = x.reshape(x.shape());  // a new handle, so the caller's tensor keeps no mask
      x.set_keras_mask(mask);
    }
    values[graph_->inputs[i].id()] = x;
  }
  for (auto it = graph_->nodes_by_depth.rbegin(); it != graph_->nodes_by_depth.rend(); ++it) {
    for (const auto& node : it->second) {
      if (node->is_input()) continue;
      std::vector<Tensor> tensors;
      bool ready = true;
      for (const Tensor& t : node->call_args.tensors) {
        if (!t.is_symbolic()) {
          tensors.push_back(t);
          continue;
        }
        auto found = values.find(t.id());
        if (found == values.end()) {
          ready = false;
          break;
        }
        tensors.push_back(found->second);
      }
      if (!ready) continue;
      const std::vector<Tensor> out = node->op()->invoke(node->call_args.with_tensors(std::move(tensors)));
      for (size_t k = 0; k < node->outputs.size() && k < out.size(); ++k) {
        if (auto impl = node->outputs[k].lock()) values[impl->id] = out[k];
      }
    }
  }
  std::vector<Tensor> result;
  for (const Tensor& y : graph_->outputs) {
    auto found = values.find(y.id());
    if (found == values.end()) throw ValueError(fmt::format("Model '{}': output {} was not computed.", name(), tensor_repr(y)));
    result.push_back(found->second);
  }
  return result;
}

Tensor Model::checked_input(size_t index, const Tensor& x) const {
  const Tensor& reference = graph_->inputs[index];
  const Shape& expected = reference.shape();
  const std::string input_name = reference.impl()->history->operation->name();
  Tensor adjusted = x;
  // Keras's Functional._adjust_input_rank: a trailing axis of size 1 may be added or dropped.
  const auto rank = static_cast<int64_t>(expected.size());
  if (x.ndim() == rank + 1 && x.shape().back() == 1) {
    adjusted = ops::squeeze(x, -1);
  } else if (x.ndim() + 1 == rank && expected.back() == 1) {
    adjusted = ops::expand_dims(x, -1);
  } else if (x.ndim() != rank) {
    throw ValueError(fmt::format("Invalid input shape for input {} with name '{}'. Expected shape {}, but input has "
                                 "incompatible shape {}",
                                 index, input_name, shape_to_string(expected), shape_to_string(x.shape())));
  }
  // Keras's input_spec check: every known dimension of the Input must match; None stays free.
  for (size_t d = 0; d < expected.size(); ++d) {
    const int64_t want = expected[d], got = adjusted.shape()[d];
    if (want != None && got != None && want != got) {
      throw ValueError(fmt::format("Input {} with name '{}' of layer '{}' is incompatible with the layer: expected "
                                   "shape={}, found shape={}",
                                   index, input_name, name(), shape_to_string(expected),
                                   shape_to_string(adjusted.shape())));
    }
  }
  if (adjusted.id() != x.id() && x.keras_mask().defined()) adjusted.set_keras_mask(x.keras_mask());
  return adjusted;
}

json Model::get_build_config() const { return json{{"input_shape", nullptr}}; }

// ---- config ----------------------------------------------------------------------------------

namespace {

bool is_functional(const Operation& op) { return dynamic_cast<const Model*>(&op) != nullptr && op.class_name() == "Functional"; }

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
  for (const auto& op : graph_->operations) {
    int kept = is_functional(*op) ? 1 : 0;
    for (const auto& node : op->inbound_nodes()) {
      if (graph_->own_nodes.count(node.get())) reindexed[node.get()] = kept++;
    }
  }
  auto history_index = [&](const SymbolicHistory& h) {
    // Inside inbound_nodes Keras only drops the nodes outside the model (no +1 shift).
    int irrelevant = 0;
    const auto& nodes = h.operation->inbound_nodes();
    for (int i = 0; i < h.node_index; ++i) {
      if (!graph_->own_nodes.count(nodes[i].get())) ++irrelevant;
    }
    return h.node_index - irrelevant;
  };
  json layers_json = json::array();
  for (const auto& op : graph_->operations) {
    json entry = serialize(*op);
    entry["name"] = op->name();
    json inbound = json::array();
    for (const auto& node : op->inbound_nodes()) {
      if (!graph_->own_nodes.count(node.get()) || node->is_input()) continue;
      inbound.push_back({{"args", serialize_value(node->call_args.args, node->call_args, history_index)},
                         {"kwargs", serialize_value(node->call_args.kwargs, node->call_args, history_index)}});
    }
    entry["inbound_nodes"] = inbound;
    layers_json.push_back(entry);
  }
  config["layers"] = layers_json;
  auto triple = [&](const Tensor& t) {
    const SymbolicHistory& h = *t.impl()->history;
    const auto& node = h.operation->inbound_nodes().at(h.node_index);
    return json{h.operation->name(), reindexed.at(node.get()), h.tensor_index};
  };
  auto triples = [&](const std::vector<Tensor>& ts, bool single) {
    if (single && ts.size() == 1) return triple(ts[0]);
    json out = json::array();
    for (const Tensor& t : ts) out.push_back(triple(t));
    return out;
  };
  config["input_layers"] = triples(graph_->inputs, graph_->single_input);
  config["output_layers"] = triples(graph_->outputs, graph_->single_output);
  return config;
}

namespace {

bool is_triple(const json& v) {
  return v.is_array() && v.size() == 3 && v[0].is_string() && v[1].is_number_integer() &&
         v[2].is_number_integer();
}

}  // namespace

Model Model::from_config(const json& config) {
  ConfigReader r(config, "Functional");
  for (const char* key : {"layers", "input_layers", "output_layers"}) {
    if (!r.has(key)) throw ValueError(fmt::format("Functional config is missing the required key '{}' (a list).", key));
  }
  if (!r.at("layers").is_array()) {
    throw TypeError("Functional config key 'layers' must be a list; received " + r.at("layers").dump() + ".");
  }
  std::map<std::string, std::shared_ptr<Operation>> created;
  std::vector<std::pair<std::shared_ptr<Operation>, std::vector<json>>> queue;
  for (const auto& layer_data : r.at("layers")) {
    if (!layer_data.is_object() || !layer_data.contains("name") || !layer_data["name"].is_string()) {
      throw ValueError("Functional config: every entry of 'layers' needs a string 'name'; received " +
                       layer_data.dump() + ".");
    }
    const std::string layer_name = layer_data["name"].get<std::string>();
    json object = layer_data;
    object.erase("name");
    object.erase("inbound_nodes");
    std::shared_ptr<Operation> op = deserialize_operation(object);
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
    queue.emplace_back(op, std::move(nodes));
  }

  // Resolves a saved tensor reference; returns undefined when its node does not exist yet.
  auto resolve = [&](const std::string& layer_name, int node_index, int tensor_index, bool shift) -> Tensor {
    auto it = created.find(layer_name);
    if (it == created.end()) throw ValueError("Unknown layer: " + layer_name);
    if (shift && is_functional(*it->second)) --node_index;
    const auto& nodes = it->second->inbound_nodes();
    if (node_index < 0 || node_index >= static_cast<int>(nodes.size())) return Tensor();
    const auto outs = nodes[node_index]->output_tensors();
    if (tensor_index < 0 || tensor_index >= static_cast<int>(outs.size())) {
      throw ValueError(fmt::format("Functional config: layer '{}' node {} has no output {}.", layer_name, node_index,
                                   tensor_index));
    }
    return outs[tensor_index];
  };

  // Turns saved node arguments into CallArgs; false when an input does not exist yet.
  std::function<bool(const json&, json&, CallArgs&)> revive = [&](const json& value, json& out, CallArgs& args) {
    if (value.is_object() && value.value("class_name", "") == "__keras_tensor__") {
      const json* config = value.contains("config") && value["config"].is_object() ? &value["config"] : nullptr;
      if (!config || !config->contains("keras_history") || !is_triple((*config)["keras_history"])) {
        throw ValueError(
            "Functional config: a __keras_tensor__ needs a 'keras_history' [layer_name, node_index, tensor_index]; "
            "received " +
            value.dump() + ".");
      }
      const json& history = (*config)["keras_history"];
      Tensor t = resolve(history[0].get<std::string>(), history[1].get<int>(), history[2].get<int>(), false);
      if (!t.defined()) return false;
      out = args.ref(t);
      return true;
    }
    if (value.is_object() && (value.value("class_name", "") == "__tensor__" || value.value("class_name", "") == "__numpy__")) {
      if (!value.contains("config") || !value["config"].is_object() || !value["config"].contains("value")) {
        throw ValueError("Functional config: a constant tensor needs a 'config' with a 'value'; received " +
                         value.dump() + ".");
      }
      const json& v = value["config"]["value"];
      std::vector<float> flat;
      Shape shape;
      std::function<void(const json&, size_t)> walk = [&](const json& x, size_t depth) {
        if (x.is_array()) {
          if (shape.size() <= depth) shape.push_back(static_cast<int64_t>(x.size()));
          for (const auto& item : x) walk(item, depth + 1);
        } else {
          if (!x.is_number()) {
            throw ValueError("Functional config: a constant tensor's values must be numbers; received " + x.dump() +
                             ".");
          }
          flat.push_back(x.get<float>());
        }
      };
      walk(v, 0);
      out = args.ref(Tensor::from_vector(flat, shape));
      return true;
    }
    if (value.is_array()) {
      out = json::array();
      for (const auto& item : value) {
        json converted;
        if (!revive(item, converted, args)) return false;
        out.push_back(converted);
      }
      return true;
    }
    if (value.is_object()) {
      out = json::object();
      for (const auto& [key, item] : value.items()) {
        json converted;
        if (!revive(item, converted, args)) return false;
        out[key] = converted;
      }
      return true;
    }
    out = value;
    return true;
  };

  auto process = [&](const std::shared_ptr<Operation>& op, const json& node_data) -> bool {
    CallArgs args;
    if (node_data.is_array()) {
      // Keras 2's form: [[layer_name, node_index, tensor_index, kwargs], ...].
      std::vector<Tensor> inputs;
      json kwargs = json::object();
      for (const auto& ref : node_data) {
        if (!ref.is_array() || ref.size() < 3 || !ref[0].is_string() || !ref[1].is_number_integer() ||
            !ref[2].is_number_integer()) {
          throw ValueError("Functional config: malformed inbound node " + ref.dump() +
                           " (expected [layer_name, node_index, tensor_index, kwargs]).");
        }
        Tensor t = resolve(ref[0].get<std::string>(), ref[1].get<int>(), ref[2].get<int>(), false);
        if (!t.defined()) return false;
        inputs.push_back(t);
        if (ref.size() > 3 && ref[3].is_object()) kwargs = ref[3];
      }
      args = inputs.size() == 1 ? CallArgs::of(inputs[0]) : CallArgs::of(inputs);
      for (const auto& [key, value] : kwargs.items()) {
        if (key != "mask") args.kwargs[key] = value;
      }
    } else {
      if (!node_data.is_object() || !node_data.contains("args")) {
        throw ValueError("Functional config: malformed inbound node " + node_data.dump() + ".");
      }
      if (!revive(node_data["args"], args.args, args)) return false;
      if (node_data.contains("kwargs") && !revive(node_data["kwargs"], args.kwargs, args)) return false;
      if (args.kwargs.is_null()) args.kwargs = json::object();
    }
    op->invoke(args);
    return true;
  };

  while (true) {
    bool pending = false, progress = false;
    for (auto& [op, nodes] : queue) {
      size_t done = 0;
      while (done < nodes.size() && process(op, nodes[done])) ++done;
      if (done > 0) progress = true;
      nodes.erase(nodes.begin(), nodes.begin() + static_cast<long>(done));
      if (!nodes.empty()) pending = true;
    }
    if (!pending) break;
    if (!progress) {
      std::string names;
      for (const auto& [op, nodes] : queue) {
        if (!nodes.empty()) names += (names.empty() ? "" : ", ") + op->name();
      }
      throw ValueError("Invalid Functional model configuration. The graph of the Functional model either has loops "
                       "or disconnected nodes. The following nodes failed to be resolved: " + names);
    }
  }

  auto tensors_of = [&](const json& value, bool* single) {
    std::vector<Tensor> out;
    auto one = [&](const json& t) {
      if (!is_triple(t)) throw ValueError("Functional config: malformed tensor reference " + t.dump() + ".");
      Tensor x = resolve(t[0].get<std::string>(), t[1].get<int>(), t[2].get<int>(), true);
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
  };
  bool single_in = false, single_out = false;
  const std::vector<Tensor> inputs = tensors_of(r.at("input_layers"), &single_in);
  const std::vector<Tensor> outputs = tensors_of(r.at("output_layers"), &single_out);
  Model model("Functional", r.name(), true);
  model.graph_->single_input = single_in;
  model.graph_->single_output = single_out;
  model.set_graph(inputs, outputs);
  model.build(ShapeSpec());
  if (!r.trainable()) model.set_trainable(false);
  return model;
}

namespace {
const bool functional_registered = [] {
  Registry::instance().add_class<Model>("Functional", "keras.src.models.functional", "Functional",
                                        [](const json& config) -> std::shared_ptr<Operation> {
                                          return std::make_shared<Model>(Model::from_config(config));
                                        });
  return true;
}();
}  // namespace

}  // namespace minidl
