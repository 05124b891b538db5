#pragma once
// minidl::Model — a functional graph of layers, traced from symbolic inputs to outputs
// (Keras's Functional model). A model is a layer: call it on concrete data to run the graph,
// or on symbolic tensors to nest it in a bigger graph.
//
//   md::Tensor q = md::Input({8, 16}, "query");
//   md::Tensor v = md::Input({md::None, 16}, "value");
//   md::Tensor c = md::layers::AdditiveAttention()({q, v});
//   md::Tensor y = md::layers::Dense({.units = 10})(md::layers::GlobalAveragePooling1D()(c));
//   md::Model model({q, v}, {y});
//   model.summary();
//   md::Tensor pred = model({q_data, v_data});
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "minidl/layers/layer.h"

namespace minidl {

class Model : public Layer {
 public:
  // The graph between symbolic `inputs` and `outputs`. Throws ValueError for a disconnected
  // graph, a cycle or duplicate operation names, with Keras's messages.
  Model(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, const std::string& name = {});
  Model(const Tensor& input, const Tensor& output, const std::string& name = {});
  // Keras's Functional config (get_config()), as written by md::serialize.
  static Model from_config(const json& config);

  // The graph's operations, inputs first then by decreasing depth (Keras's model.operations).
  std::vector<std::shared_ptr<Operation>> operations() const;
  // The operations that are layers, in the same order (Keras's model.layers).
  std::vector<std::shared_ptr<Layer>> layers() const;
  // Throws ValueError naming the missing layer.
  std::shared_ptr<Layer> get_layer(const std::string& name) const;
  // The symbolic tensors the model was built from.
  const std::vector<Tensor>& graph_inputs() const;
  const std::vector<Tensor>& graph_outputs() const;

  // Keras's summary table: layer name and type, output shape, parameters, connections; totals.
  void summary(int line_length = 0) const;
  std::string summary_string(int line_length = 0) const;

  // Graphviz DOT text of the graph (Keras's model_to_dot); see md::plot_model to render it.
  std::string to_dot(bool show_shapes = true) const;

  json get_config() const override;
  json get_build_config() const override;
  std::string module() const override { return "keras.src.models.functional"; }
  std::optional<std::string> registered_name() const override { return "Functional"; }

 protected:
  // For subclasses (Sequential) that set up their graph later.
  Model(std::string class_name, std::string name, bool trainable);
  void set_graph(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs);
  bool has_graph() const;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  // For summary(): whether `node` is one of this graph's nodes, and Keras's sequential_like
  // test (one node per depth, each with at most one input tensor, no layer called twice).
  bool owns_node(const Node& node) const;
  bool sequential_like() const;

  struct Graph;
  std::shared_ptr<Graph> graph_;
};

}  // namespace minidl
