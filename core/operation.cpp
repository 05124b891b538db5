#include "minidl/core/operation.h"

#include <fmt/format.h>

#include "minidl/core/error.h"
#include "minidl/core/naming.h"

namespace minidl {

// ---- Node -----------------------------------------------------------------------------------

std::shared_ptr<Operation> Node::op() const { return operation.lock(); }

std::vector<Tensor> Node::input_tensors() const {
  std::vector<Tensor> out;
  for (const Tensor& t : call_args.tensors) {
    if (t.is_symbolic()) out.push_back(t);
  }
  return out;
}

std::vector<Tensor> Node::output_tensors() const {
  std::vector<Tensor> out;
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto impl = outputs[i].lock();
    if (!impl) {
      auto owner = operation.lock();
      if (!owner) throw ValueError("The operation of this graph node no longer exists.");
      Tensor fresh = Tensor::symbolic(output_shapes[i], output_dtypes[i]);
      fresh.impl()->history = std::make_shared<SymbolicHistory>(
          SymbolicHistory{owner, owner->inbound_node(node_index), node_index, static_cast<int>(i)});
      outputs[i] = fresh.impl();
      impl = fresh.impl();
    }
    out.emplace_back(std::move(impl));
  }
  return out;
}

// ---- Operation ------------------------------------------------------------------------------

Operation::Operation(std::string class_name, std::string name)
    : class_name_(std::move(class_name)) {
  if (name.empty()) {
    name = auto_name(class_name_);
  } else if (name.find('/') != std::string::npos) {
    throw ValueError(fmt::format(
        "Argument `name` must be a string and cannot contain character `/`. Received: name={} (of type <class 'str'>)",
        name));
  }
  op_state_->name = std::move(name);
}

const std::string& Operation::name() const { return op_state_->name; }

std::vector<Tensor> Operation::invoke(const CallArgs& args) {
  return args.any_symbolic() ? symbolic_call(args) : run(args);
}

std::vector<Tensor> Operation::output_spec(const CallArgs& args) {
  symbolic::ShapeInferenceScope scope;
  try {
    std::vector<Tensor> out = run(args);
    for (Tensor& t : out) {
      // Shape inference may have produced concrete tensors (e.g. constants); keep specs only.
      if (t.defined() && !t.is_symbolic()) t = Tensor::symbolic(t.shape(), t.dtype());
    }
    return out;
  } catch (const Error& e) {
    throw ValueError(fmt::format(
        "Could not automatically infer the output shape / dtype of '{}' (of type {}). Either the `{}.call()` method "
        "is incorrect, or you need to implement the `{}.compute_output_spec() / compute_output_shape()` method. "
        "Error encountered:\n\n{}",
        name(), class_name_, class_name_, class_name_, e.what()));
  }
}

std::vector<Tensor> Operation::symbolic_call(const CallArgs& args) {
  std::vector<Tensor> outputs = output_spec(args);
  if (!symbolic::recording_disabled()) record_node(args, outputs);
  return outputs;
}

std::shared_ptr<Node> Operation::record_node(const CallArgs& args, std::vector<Tensor>& outputs) {
  std::shared_ptr<Operation> self = shared_self();
  auto node = std::make_shared<Node>();
  node->operation = self;
  node->call_args = args;
  const int node_index = static_cast<int>(op_state_->inbound_nodes.size());
  node->node_index = node_index;
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor& t = outputs[i];
    if (!t.is_symbolic()) {
      throw ValueError(fmt::format("All operation outputs must be tensors. Operation {} returned a non-tensor.",
                                   name()));
    }
    // A fresh handle per output, so that a tensor passed straight through keeps its own history.
    t = Tensor::symbolic(t.shape(), t.dtype());
    t.impl()->history = std::make_shared<SymbolicHistory>(SymbolicHistory{self, node, node_index, static_cast<int>(i)});
    node->outputs.push_back(t.impl());
    node->output_shapes.push_back(t.shape());
    node->output_dtypes.push_back(t.dtype());
  }
  op_state_->inbound_nodes.push_back(node);
  return node;
}

json Operation::get_config() const { return json{{"name", name()}}; }

std::vector<std::shared_ptr<Node>> Operation::inbound_nodes() const {
  std::vector<std::shared_ptr<Node>> out;
  for (const auto& weak : op_state_->inbound_nodes) {
    if (auto node = weak.lock()) out.push_back(std::move(node));
  }
  return out;
}

std::shared_ptr<Node> Operation::inbound_node(int node_index) const {
  if (node_index < 0 || node_index >= static_cast<int>(op_state_->inbound_nodes.size())) return nullptr;
  return op_state_->inbound_nodes[static_cast<size_t>(node_index)].lock();
}

std::shared_ptr<Node> Operation::first_node(const char* attribute) const {
  const auto nodes = inbound_nodes();
  if (nodes.empty()) {
    throw AttributeError(fmt::format("The layer {} has never been called and thus has no defined {}.", name(),
                                     attribute));
  }
  return nodes.front();
}

std::vector<Tensor> Operation::inputs() const { return first_node("input")->input_tensors(); }
std::vector<Tensor> Operation::outputs() const { return first_node("output")->output_tensors(); }

Tensor Operation::input() const {
  const auto all = inputs();
  if (all.size() != 1) {
    throw ValueError(fmt::format("The layer {} has {} inputs; use inputs() to get them all.", name(), all.size()));
  }
  return all[0];
}

Tensor Operation::output() const {
  const auto all = outputs();
  if (all.size() != 1) {
    throw ValueError(fmt::format("The layer {} has {} outputs; use outputs() to get them all.", name(), all.size()));
  }
  return all[0];
}

std::shared_ptr<Operation> Operation::shared_self() {
  if (auto self = weak_from_this().lock()) return self;
  if (auto instance = op_state_->graph_instance.lock()) return instance;
  std::shared_ptr<Operation> copy = copy_handle();
  op_state_->graph_instance = copy;
  return copy;
}

std::shared_ptr<Operation> Operation::copy_handle() const {
  throw TypeError(fmt::format("Operation '{}' ({}) is not owned by a std::shared_ptr, so a graph cannot hold it.",
                              name(), class_name_));
}

// ---- symbolic scope -------------------------------------------------------------------------

namespace symbolic {
namespace {
thread_local bool t_recording_disabled = false;
}

bool recording_disabled() { return t_recording_disabled; }

ShapeInferenceScope::ShapeInferenceScope() : previous_(t_recording_disabled) { t_recording_disabled = true; }
ShapeInferenceScope::~ShapeInferenceScope() { t_recording_disabled = previous_; }

bool any(const std::vector<Tensor>& ts) {
  for (const Tensor& t : ts) {
    if (t.is_symbolic()) return true;
  }
  return false;
}

}  // namespace symbolic
}  // namespace minidl
