#include "minidl/models/sequential.h"

#include <fmt/format.h>

#include "minidl/core/error.h"
#include "minidl/core/registry.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/input_layer.h"
#include "minidl/layers/serialization.h"
#include "minidl/models/detail/error_context.h"
#include "minidl/models/keras2_config.h"

namespace minidl {

LayerRef::LayerRef(const Layer& layer)
    : layer_(std::static_pointer_cast<Layer>(const_cast<Layer&>(layer).shared_self())) {}

LayerRef::LayerRef(std::shared_ptr<Layer> layer) : layer_(std::move(layer)) {
  if (!layer_) throw ValueError("Sequential: a layer pointer is null.");
}

LayerRef::LayerRef(const Tensor& input) {
  if (!input.is_symbolic() || !input.impl()->history) {
    throw ValueError("Sequential: only an md::Input tensor can be added as a layer; received " + to_string(input) + ".");
  }
  layer_ = std::dynamic_pointer_cast<layers::InputLayer>(input.impl()->history->operation);
  if (!layer_) throw ValueError("Sequential: only an md::Input tensor can be added as a layer.");
}

namespace {
bool is_input_layer(const std::shared_ptr<Layer>& layer) {
  return std::dynamic_pointer_cast<layers::InputLayer>(layer) != nullptr;
}
}  // namespace

// Model's copy names a sliced copy "Functional"; a Sequential copy stays a Sequential.
Sequential::Sequential(const Sequential& other) : LayerOf(other), stack_(other.stack_) { class_name_ = "Sequential"; }

Sequential& Sequential::operator=(const Sequential& other) {
  LayerOf::operator=(other);
  stack_ = other.stack_;
  class_name_ = "Sequential";
  return *this;
}

Sequential::Sequential(std::initializer_list<LayerRef> layer_list, const std::string& name)
    : Sequential(std::vector<LayerRef>(layer_list), name) {}

Sequential::Sequential(const std::vector<LayerRef>& layer_list, const std::string& name)
    : LayerOf("Sequential", name, true) {
  for (const LayerRef& layer : layer_list) add(layer);
}

void Sequential::add(const LayerRef& ref) {
  const std::shared_ptr<Layer>& layer = ref.get();
  if (auto input = std::dynamic_pointer_cast<layers::InputLayer>(layer)) input->attach_output();
  if (is_input_layer(layer) && !stack_->layers.empty() && is_input_layer(stack_->layers.front())) {
    const auto& existing = std::static_pointer_cast<layers::InputLayer>(stack_->layers.front());
    throw ValueError(fmt::format(
        "Sequential model '{}' has already been configured to use input shape {}. You cannot add a different Input "
        "layer to it.",
        name(), shape_to_string(existing->batch_shape())));
  }
  for (const auto& other : stack_->layers) {
    if (other->name() == layer->name()) {
      throw ValueError(fmt::format(
          "All layers added to a Sequential model should have unique names. Name '{}' is already the name of a layer "
          "in this model. Update the `name` argument to pass a unique name.",
          layer->name()));
    }
  }
  if (is_input_layer(layer) && !stack_->layers.empty()) {
    stack_->layers.insert(stack_->layers.begin(), layer);
  } else {
    stack_->layers.push_back(layer);
  }
  rebuild();
}

void Sequential::pop() {
  if (stack_->layers.empty() || (stack_->layers.size() == 1 && is_input_layer(stack_->layers[0]))) {
    throw ValueError(fmt::format("There are no layers in the Sequential model '{}' to remove.", name()));
  }
  stack_->layers.pop_back();
  rebuild();
}

void Sequential::rebuild() {
  // With a leading InputLayer the input shape is known: build the graph now (Keras's
  // _maybe_rebuild); otherwise wait for build() or the first call.
  mark_unbuilt();
  // Keras tracks the stack itself: a popped layer's weights leave the model at once.
  untrack_sublayers();
  for (const auto& layer : stack_->layers) {
    if (!is_input_layer(layer)) track(*layer);
  }
  if (!stack_->layers.empty() && is_input_layer(stack_->layers[0]) && stack_->layers.size() > 1) {
    build(ShapeSpec(std::static_pointer_cast<layers::InputLayer>(stack_->layers[0])->batch_shape()));
  }
}

void Sequential::build_weights(const ShapeSpec& input_shape) {
  if (stack_->layers.empty() || (stack_->layers.size() == 1 && is_input_layer(stack_->layers[0]))) {
    throw ValueError(fmt::format(
        "Sequential model {} cannot be built because it has no layers. Call `model.add(layer)`.", name()));
  }
  Shape shape = input_shape.shape();
  Tensor x;
  size_t first = 0;
  if (is_input_layer(stack_->layers[0])) {
    x = stack_->layers[0]->output();
    first = 1;
  } else {
    // The batch size stays open, so the model takes any batch (the data's first call fixed
    // only the feature dims).
    if (!shape.empty()) shape[0] = None;
    x = Input(layers::InputLayerOptions{.batch_shape = shape});
  }
  const Tensor input = x;
  for (size_t i = first; i < stack_->layers.size(); ++i) x = (*stack_->layers[i])(x);
  // One tensor in, one out, as Keras's Sequential builds its _functional: the functional model
  // over this graph (a copy into md::Model) writes bare [name, 0, 0] triples, as Keras's would.
  set_graph(input, x);
}

std::vector<Tensor> Sequential::call(const CallArgs& args, const CallContext& ctx) { return Model::call(args, ctx); }

std::vector<std::shared_ptr<Layer>> Sequential::layers() const {
  std::vector<std::shared_ptr<Layer>> out;
  for (const auto& layer : stack_->layers) {
    if (!is_input_layer(layer)) out.push_back(layer);
  }
  return out;
}

json Sequential::get_config() const {
  json config = Layer::get_config();
  json layer_configs = json::array();
  for (const auto& layer : stack_->layers) layer_configs.push_back(serialize(*layer));
  config["layers"] = layer_configs;
  if (built()) {
    const Shape& shape = graph_inputs().at(0).shape();
    json dims = json::array();
    for (int64_t d : shape) dims.push_back(d < 0 ? json(nullptr) : json(d));
    config["build_input_shape"] = dims;
  }
  return config;
}

json Sequential::get_build_config() const {
  // The graph's input shape, as build_input_shape has it (the batch axis stays open when the
  // first call built the model), so that a reloaded model writes the same build_config.
  if (!built() || !has_graph()) return Layer::get_build_config();
  json dims = json::array();
  for (int64_t d : graph_inputs().at(0).shape()) dims.push_back(d < 0 ? json(nullptr) : json(d));
  return json{{"input_shape", dims}};
}

Sequential Sequential::from_config(const json& saved) {
  const json config = keras2::sequential_config(saved);  // a Keras 3 config comes back as it is
  ConfigReader r(config, "Sequential");
  if (!r.has("name") || !r.has("layers")) {
    throw ValueError("A Sequential model configuration must be a dictionary containing the 'name' and 'layers' keys. "
                     "Received: config=" + config.dump());
  }
  if (!r.at("layers").is_array()) throw TypeError("Sequential config key 'layers' must be a list.");
  Sequential model({}, r.name());
  for (const auto& layer_config : r.at("layers")) {
    std::shared_ptr<Layer> layer;
    try {
      layer = deserialize(layer_config);
    } catch (const Error& e) {
      const auto text = [&](const json& object, const char* key) {
        return object.is_object() && object.contains(key) && object[key].is_string() ? object[key].get<std::string>()
                                                                                     : std::string();
      };
      const std::string layer_name =
          layer_config.is_object() && layer_config.contains("config") ? text(layer_config["config"], "name") : "";
      detail::rethrow_with_context(e, detail::layer_context(layer_name, text(layer_config, "class_name"), r.name()));
    }
    model.add(layer);
  }
  if (!model.built() && r.has("build_input_shape")) {
    model.build(ShapeSpec::from_json(r.at("build_input_shape")));
  }
  if (!r.trainable()) model.set_trainable(false);
  return model;
}

namespace {
const bool sequential_registered = [] {
  Registry::instance().add({.class_name = "Sequential",
                            .module = "keras",
                            .factory = [](const json& config) -> std::shared_ptr<Operation> {
                              return std::make_shared<Sequential>(Sequential::from_config(config));
                            },
                            .builtin = true});
  return true;
}();
}  // namespace

}  // namespace minidl
