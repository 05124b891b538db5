// minidl::Function, the graph part of a model: tracing a graph from its outputs back to its
// inputs (Keras's Functional._build_map and map_graph, in keras/src/ops/function.py) and
// running it node by node on concrete values (Function._run_through_graph).
#include "minidl/models/function.h"

#include <fmt/format.h>

#include <algorithm>
#include <functional>
#include <unordered_map>

#include "minidl/core/error.h"

namespace minidl {

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

std::shared_ptr<Node> node_of(const Tensor& t) { return t.impl()->history->node; }

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
      throw ValueError(
          fmt::format("Tensor {} from operation '{}' is part of a cycle.", tensor_repr(t), h.operation->name()));
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

Function::Function(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, FunctionOptions options)
    : inputs_(inputs), outputs_(outputs), options_(std::move(options)) {
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
    for (const Operation* op : list) operations_.push_back(ops[op]);
  }
  for (const auto& [node, depth] : node_depth) {
    nodes_by_depth_[depth].push_back(nodes[node]);
    own_nodes_.insert(node);
  }
  // Keep each depth's nodes in a stable order: by operation order, then node index.
  std::unordered_map<const Operation*, size_t> op_order;
  for (size_t i = 0; i < operations_.size(); ++i) op_order[operations_[i].get()] = i;
  for (auto& [depth, list] : nodes_by_depth_) {
    std::sort(list.begin(), list.end(), [&](const auto& a, const auto& b) {
      const size_t oa = op_order[a->op().get()], ob = op_order[b->op().get()];
      return oa != ob ? oa < ob : a->node_index < b->node_index;
    });
  }

  // Every node's inputs must be computable from the model inputs.
  std::unordered_set<uint64_t> computable;
  for (const Tensor& x : inputs) computable.insert(x.id());
  std::vector<std::string> complete;
  for (auto it = nodes_by_depth_.rbegin(); it != nodes_by_depth_.rend(); ++it) {
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
  for (const auto& op : operations_) ++counts[op->name()];
  for (const auto& op : operations_) {
    if (counts[op->name()] != 1) {
      throw ValueError(
          fmt::format("The name \"{}\" is used {} times in the model. All operation names should be unique.",
                      op->name(), counts[op->name()]));
    }
  }
}

bool Function::sequential_like() const {
  for (const auto& [depth, nodes] : nodes_by_depth_) {
    if (nodes.size() > 1 || (nodes.size() == 1 && nodes[0]->input_tensors().size() > 1)) return false;
  }
  for (const auto& op : operations_) {
    int own = 0;
    for (const auto& node : op->inbound_nodes()) own += owns_node(*node) ? 1 : 0;
    if (own > 1) return false;
  }
  return true;
}

std::vector<Tensor> Function::run(const std::vector<Tensor>& input_values) const {
  if (input_values.size() != inputs_.size()) {
    throw ValueError(fmt::format("Function '{}' expects {} input value(s), but it received {}.", name(), inputs_.size(),
                                 input_values.size()));
  }
  std::unordered_map<uint64_t, Tensor> values;
  for (size_t i = 0; i < inputs_.size(); ++i) values[inputs_[i].id()] = input_values[i];
  for (auto it = nodes_by_depth_.rbegin(); it != nodes_by_depth_.rend(); ++it) {
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
  for (const Tensor& y : outputs_) {
    auto found = values.find(y.id());
    if (found == values.end())
      throw ValueError(fmt::format("Model '{}': output {} was not computed.", name(), tensor_repr(y)));
    result.push_back(found->second);
  }
  return result;
}

}  // namespace minidl
