#pragma once
// minidl::Function — a traced graph between symbolic inputs and outputs (Keras's
// ops/function.py): the operations and nodes that lead from the outputs back to the inputs,
// sorted by depth, and the node-by-node evaluation of that graph on concrete values. It is the
// graph part of md::Model, which adds the layer around it (input checks, masks, weights,
// config, training).
//
//   md::Tensor x = md::Input({4}, "x");
//   md::Tensor y = md::layers::Dense({.units = 2})(x);
//   md::Function f({x}, {y}, {.name = "f"});
//   std::vector<md::Tensor> out = f.run({x_data});
#include <map>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "minidl/core/operation.h"
#include "minidl/core/tensor.h"

namespace minidl {

struct FunctionOptions {
  // Named in run()'s errors ("Model '<name>': ...").
  std::string name{};
  // The graph was given one input / one output tensor rather than a list: Keras's functional
  // config then writes that reference bare instead of in a list.
  bool single_input = false;
  bool single_output = false;
};

class Function {
 public:
  // An empty graph (no inputs, no outputs).
  Function() = default;
  // Traces the graph from `outputs` back to `inputs` (Keras's _build_map and map_graph). Throws
  // ValueError, with Keras's messages, for no inputs or outputs, tensors that are not symbolic,
  // inputs that do not come from md::Input, a cycle, a disconnected graph ("Graph
  // disconnected: ...") and operation names used twice.
  Function(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, FunctionOptions options = {});

  const std::string& name() const { return options_.name; }
  const std::vector<Tensor>& inputs() const { return inputs_; }
  const std::vector<Tensor>& outputs() const { return outputs_; }
  bool empty() const { return outputs_.empty(); }
  bool single_input() const { return options_.single_input; }
  bool single_output() const { return options_.single_output; }
  // The graph's operations, inputs first then by decreasing depth (Keras's operations).
  const std::vector<std::shared_ptr<Operation>>& operations() const { return operations_; }
  // Depth -> the nodes at that depth; depth 0 holds the output nodes, so iterate in reverse to
  // go from the inputs to the outputs. Within a depth: by operation order, then node index.
  const std::map<int, std::vector<std::shared_ptr<Node>>>& nodes_by_depth() const { return nodes_by_depth_; }
  // Whether `node` is one of this graph's nodes (an operation may also have been called
  // outside the graph).
  bool owns_node(const Node& node) const { return own_nodes_.count(&node) > 0; }
  // Keras's sequential_like test (print_summary): one node per depth, each with at most one
  // input tensor, and no operation called twice inside the graph.
  bool sequential_like() const;

  // The output values for `input_values`, one per input in order, replaying every node by depth
  // through Operation::invoke. The values are used as they are (Model checks their shapes and
  // attaches masks first). ValueError for a wrong number of values.
  std::vector<Tensor> run(const std::vector<Tensor>& input_values) const;

 private:
  std::vector<Tensor> inputs_;
  std::vector<Tensor> outputs_;
  FunctionOptions options_;
  std::vector<std::shared_ptr<Operation>> operations_;
  std::map<int, std::vector<std::shared_ptr<Node>>> nodes_by_depth_;
  std::unordered_set<const Node*> own_nodes_;
};

}  // namespace minidl
