#pragma once
// minidl::Operation — the root of everything that can sit in a graph (Keras's Operation):
// built-in ops and layers. It has a process-unique name, `call` on concrete tensors,
// `compute_output_spec` on symbolic ones, and `symbolic_call`, which computes the output specs
// and records a graph Node. Its input()/output() are those of its first call.
//
// An Operation object is a handle: copies share its state (name, nodes) and are the same
// operation. Graphs hold operations by std::shared_ptr, taken with shared_self().
#include "minidl/core/json.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minidl/core/call_args.h"
#include "minidl/core/shared.h"
#include "minidl/core/tensor.h"

namespace minidl {

class Operation;

// One call of an operation inside a graph: its arguments (tensors symbolic where they come
// from the graph, concrete where they are constants) and its outputs.
//
// Ownership runs from outputs back to inputs, never around: a symbolic tensor's history holds
// its node and operation, a node holds its argument tensors, and an operation holds its nodes
// only weakly. So a graph lives as long as a tensor (or a Function) at its end, and a layer
// called on its own output (d1(d1(x))) forms no reference cycle.
struct Node {
  std::weak_ptr<Operation> operation;
  CallArgs call_args;
  // Outputs are held weakly: a tensor owns its history, not the other way round, so that
  // graphs never form reference cycles. An output nobody holds any more is indistinguishable
  // from a fresh one, so output_tensors() re-creates it from its spec.
  mutable std::vector<std::weak_ptr<detail::TensorImpl>> outputs;
  std::vector<Shape> output_shapes;
  std::vector<DType> output_dtypes;
  int node_index = 0;

  std::shared_ptr<Operation> op() const;
  // The symbolic tensors among the arguments: the edges into this node.
  std::vector<Tensor> input_tensors() const;
  std::vector<Tensor> output_tensors() const;
  bool is_input() const { return input_tensors().empty(); }
};

// Where a symbolic tensor came from: output `tensor_index` of node `node_index` of `operation`
// (Keras's KerasHistory).
struct SymbolicHistory {
  std::shared_ptr<Operation> operation;
  std::shared_ptr<Node> node;
  int node_index = 0;
  int tensor_index = 0;
};

class Operation : public std::enable_shared_from_this<Operation> {
 public:
  // `class_name` is the Keras class name ("Dense", "Add"); an empty `name` is generated from it
  // ("dense", "dense_1", ...). Throws ValueError for a name containing '/'.
  explicit Operation(std::string class_name, std::string name = {});
  virtual ~Operation() = default;
  Operation(const Operation&) = default;
  Operation& operator=(const Operation&) = default;

  const std::string& class_name() const { return class_name_; }
  const std::string& name() const;
  // Serialization envelope fields (Keras's serialize_keras_object).
  virtual std::string module() const { return "keras.src.ops"; }
  virtual std::optional<std::string> registered_name() const { return class_name_; }

  // Runs the operation: eagerly on concrete tensors, or as symbolic_call when any input is
  // symbolic. Graphs replay their nodes through here.
  virtual std::vector<Tensor> invoke(const CallArgs& args);
  // The computation (Keras's Operation.call). Layers implement call(args, ctx) instead, which
  // is why the names differ: a user layer's call would otherwise hide this one
  // (-Woverloaded-virtual).
  virtual std::vector<Tensor> run(const CallArgs& args) = 0;
  // Output shapes and dtypes for symbolic inputs (Keras's Operation.compute_output_spec; layers
  // override compute_output_spec(args, ctx)). The default runs run() on the symbolic tensors with
  // node recording off, so any operation built from traceable ops gets it free.
  virtual std::vector<Tensor> output_spec(const CallArgs& args);
  std::vector<Tensor> symbolic_call(const CallArgs& args);

  virtual json get_config() const;

  // The nodes of this operation's calls that still exist (something holds one of their
  // outputs), in call order; Keras's _inbound_nodes.
  std::vector<std::shared_ptr<Node>> inbound_nodes() const;
  // The node of call number `node_index` (SymbolicHistory::node_index), or null when it no
  // longer exists or was never made.
  std::shared_ptr<Node> inbound_node(int node_index) const;
  // The same for every copy of this operation, different for every other: its identity.
  const void* identity() const { return op_state_.get(); }
  // The input/output tensors of the first call; AttributeError if never called, and
  // ValueError when there are several (use inputs()/outputs()).
  Tensor input() const;
  Tensor output() const;
  std::vector<Tensor> inputs() const;
  std::vector<Tensor> outputs() const;

  // This operation as a shared_ptr for graphs: itself when already owned by one, else one heap
  // copy of this handle (copy_handle), made once and shared by every later call.
  std::shared_ptr<Operation> shared_self();

  // Appends a node for `args` producing `outputs` (symbolic) and stamps their history. The
  // outputs hold the node; the operation keeps it only weakly.
  std::shared_ptr<Node> record_node(const CallArgs& args, std::vector<Tensor>& outputs);

 protected:
  // A heap copy of this handle, for an operation not owned by a shared_ptr (a layer made on the
  // stack). Ops are always made with make_shared; layers get it from LayerOf.
  virtual std::shared_ptr<Operation> copy_handle() const;

  struct State {
    std::string name;
    std::vector<std::weak_ptr<Node>> inbound_nodes;  // position = node_index
    std::weak_ptr<Operation> graph_instance;
  };
  Shared<State> op_state_;
  std::string class_name_;

 private:
  std::shared_ptr<Node> first_node(const char* attribute) const;
};

namespace symbolic {

// True when ops on symbolic tensors should only compute output specs and record no node
// (inside compute_output_spec).
bool recording_disabled();

// Turns node recording off for its lifetime.
class ShapeInferenceScope {
 public:
  ShapeInferenceScope();
  ~ShapeInferenceScope();
  ShapeInferenceScope(const ShapeInferenceScope&) = delete;
  ShapeInferenceScope& operator=(const ShapeInferenceScope&) = delete;

 private:
  bool previous_;
};

template <class... Tensors>
bool any(const Tensors&... ts) {
  return (ts.is_symbolic() || ...);
}
bool any(const std::vector<Tensor>& ts);

}  // namespace symbolic
}  // namespace minidl
