// minidl::Model, the model itself: a layer around a Function (models/function.h). Construction
// (tracing the graph), its layers, calling it (input count and shape checks, masks, then the
// graph's run) and the thin wrappers of saving. The config is in models/model_config.cpp,
// training in models/training.cpp; summary.cpp and plot.cpp render the graph as text.
#include "minidl/models/model.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/models/detail/model_text.h"
#include "minidl/models/detail/training_state.h"
#include "minidl/models/keras_file.h"
#include "minidl/models/weights_h5.h"

namespace minidl {

Model::Model(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs, const std::string& name)
    : Model("Functional", name, true) {
  set_graph(inputs, outputs);
  build(ShapeSpec());  // Keras builds a functional model at once, with input_shape None
}

Model::Model(const Tensor& input, const Tensor& output, const std::string& name) : Model("Functional", name, true) {
  set_graph(input, output);
  build(ShapeSpec());
}

Model::Model(std::string class_name, std::string name, bool trainable)
    : LayerOf(std::move(class_name), std::move(name), trainable) {}

// Sequential's own copies name themselves "Sequential" again (models/sequential.cpp); a Model
// that keeps the name would write a Functional config under it, which nothing can load.
Model::Model(const Model& other) : LayerOf(other), graph_(other.graph_), training_(other.training_) {
  if (class_name_ == "Sequential") class_name_ = "Functional";
}

Model& Model::operator=(const Model& other) {
  LayerOf::operator=(other);
  graph_ = other.graph_;
  training_ = other.training_;
  if (class_name_ == "Sequential") class_name_ = "Functional";
  return *this;
}

bool Model::has_graph() const { return !graph_->empty(); }

void Model::set_graph(const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs) {
  const FunctionOptions options{
      .name = name(), .single_input = graph_->single_input(), .single_output = graph_->single_output()};
  replace_graph(Function(inputs, outputs, options));
}

void Model::replace_graph(Function graph) {
  // Replaced in place, so that every copy of this model sees the new graph.
  *graph_ = std::move(graph);
  // The new graph's layers replace the old ones (a layer Sequential::pop removed owns no weights here).
  untrack_sublayers();
  for (const auto& op : graph_->operations()) {
    if (auto layer = std::dynamic_pointer_cast<Layer>(op)) track(*layer);
  }
}

void Model::set_graph(const Tensor& input, const Tensor& output) {
  replace_graph(Function({input}, {output}, {.name = name(), .single_input = true, .single_output = true}));
}

json Model::serialized_compile_config() const { return compiled() ? get_compile_config() : json::object(); }

void Model::compile_from_serialized_config(const json& compile_config) { compile_from_config(compile_config); }

const Function& Model::graph() const { return *graph_; }

std::vector<std::shared_ptr<Operation>> Model::operations() const { return graph_->operations(); }

std::vector<std::shared_ptr<Layer>> Model::layers() const {
  std::vector<std::shared_ptr<Layer>> out;
  for (const auto& op : graph_->operations()) {
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

const std::vector<Tensor>& Model::graph_inputs() const { return graph_->inputs(); }
const std::vector<Tensor>& Model::graph_outputs() const { return graph_->outputs(); }

std::vector<Tensor> Model::call(const CallArgs& args, const CallContext& ctx) {
  if (!has_graph()) throw ValueError(fmt::format("Model '{}' has no graph yet: it cannot be called.", name()));
  const std::vector<Tensor> inputs = args.inputs();
  if (inputs.size() != graph_->inputs().size()) {
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
                    graph_->inputs().size(), inputs.size(), received));
  }
  std::vector<Tensor> values;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i].defined()) throw ValueError(fmt::format("Model '{}': input {} is undefined.", name(), i));
    Tensor x = checked_input(i, inputs[i]);
    const Tensor mask = i < ctx.masks.size() ? ctx.masks[i] : Tensor();
    if (mask.defined()) {
      x = x.reshape(x.shape());  // a new handle, so the caller's tensor keeps no mask
      x.set_keras_mask(mask);
    }
    values.push_back(x);
  }
  return graph_->run(values);
}

Tensor Model::checked_input(size_t index, const Tensor& x) const {
  const Tensor& reference = graph_->inputs()[index];
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

// ---- text and files: the work is done elsewhere ------------------------------------------------

std::string Model::summary_string(int line_length) const { return detail::model_summary_table(*this, line_length); }
void Model::summary(int line_length) const { fmt::print("{}", summary_string(line_length)); }
std::string Model::to_dot(bool show_shapes) const { return detail::model_to_dot(*this, show_shapes); }

void Model::save(const std::string& path) const { save_model(*this, path); }
void Model::save_weights(const std::string& path) const { minidl::save_weights(*this, path); }
void Model::load_weights(const std::string& path) { minidl::load_weights(*this, path); }

}  // namespace minidl
