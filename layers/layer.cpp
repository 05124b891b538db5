#include "minidl/layers/layer.h"

#include <fmt/format.h>

#include <cxxabi.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <memory>
#include <unordered_set>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/keras_envelope.h"
#include "minidl/core/registry.h"

namespace minidl {
namespace {

thread_local std::vector<bool> t_training_stack;

// Pushes the resolved training flag for the duration of an outermost-or-nested call.
class TrainingScope {
 public:
  explicit TrainingScope(bool training) { t_training_stack.push_back(training); }
  ~TrainingScope() { t_training_stack.pop_back(); }
  TrainingScope(const TrainingScope&) = delete;
  TrainingScope& operator=(const TrainingScope&) = delete;
};

// Keras's name-scope stack (keras/src/backend/common/name_scope.py): the layer that opened each
// scope, and its state. A layer opens its scope around its build and its
// call, so that the layers it builds (a Sequential's) get paths under its own.
struct OpenScope {
  const Layer* layer;  // alive while its scope is open (the scope lives inside its build or call)
  const void* owner;   // its shared state, the same for every copy of the layer
};
thread_local std::vector<OpenScope> t_name_scopes;

// Computed only when asked (a weight's path, a layer's first scope): opening a scope on every
// call must not cost a string.
std::string current_scope_path() {
  return t_name_scopes.empty() ? std::string() : t_name_scopes.back().layer->scope_path();
}

// "minidl::layers::Dense" from typeid's "N6minidl6layers5DenseE".
std::string demangled(const char* mangled) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> name(abi::__cxa_demangle(mangled, nullptr, nullptr, &status), std::free);
  return status == 0 && name ? std::string(name.get()) : std::string(mangled);
}

std::vector<Shape> shapes_of(const std::vector<Tensor>& ts) {
  std::vector<Shape> out;
  for (const Tensor& t : ts) out.push_back(t.defined() ? t.shape() : Shape{});
  return out;
}

}  // namespace

// Opens the layer's name scope for its lifetime: records the layer's parent path the first
// time, and enters nothing when the innermost scope is already the layer's (Keras deduplicates).
class Layer::NameScope {
 public:
  explicit NameScope(const Layer& layer) {
    Layer::LayerState& state = *layer.layer_state_;
    if (!state.parent_path) state.parent_path = current_scope_path();
    if (!t_name_scopes.empty() && t_name_scopes.back().owner == &state) return;
    t_name_scopes.push_back({&layer, &state});
    pushed_ = true;
  }
  ~NameScope() {
    if (pushed_) t_name_scopes.pop_back();
  }
  NameScope(const NameScope&) = delete;
  NameScope& operator=(const NameScope&) = delete;

 private:
  bool pushed_ = false;
};

std::string Layer::scope_path() const {
  const std::string parent = layer_state_->parent_path ? *layer_state_->parent_path : current_scope_path();
  return parent.empty() ? name() : parent + "/" + name();
}

std::optional<bool> current_training() {
  if (t_training_stack.empty()) return std::nullopt;
  return t_training_stack.back();
}

Layer::Layer(std::string class_name, std::string name, bool trainable, std::string dtype)
    : Operation(std::move(class_name), std::move(name)), layer_state_() {
  if (dtype != "float32") {
    throw ValueError(fmt::format("Layer '{}': minidl computes in float32; received dtype={}.", this->name(), dtype));
  }
  layer_state_->trainable = trainable;
  layer_state_->dtype = std::move(dtype);
}

// ---- calling ------------------------------------------------------------------------------

Tensor Layer::operator()(const Tensor& x, const CallOptions& options) {
  const auto out = call_all(x, options);
  if (out.size() != 1) {
    throw ValueError(fmt::format("Layer '{}' returned {} outputs; use call_all() to get them.", name(), out.size()));
  }
  return out[0];
}

Tensor Layer::operator()(const std::vector<Tensor>& xs, const CallOptions& options) {
  const auto out = call_all(xs, options);
  if (out.size() != 1) {
    throw ValueError(fmt::format("Layer '{}' returned {} outputs; use call_all() to get them.", name(), out.size()));
  }
  return out[0];
}

std::vector<Tensor> Layer::call_all(const Tensor& x, const CallOptions& options) {
  CallArgs args = CallArgs::of(x);
  if (!options.mask.empty()) args.set_kwarg("mask", options.mask.size() == 1 ? args.ref(options.mask[0]) : args.ref(options.mask));
  return invoke(args, options.training);
}

std::vector<Tensor> Layer::call_all(const std::vector<Tensor>& xs, const CallOptions& options) {
  CallArgs args = CallArgs::of(xs);
  if (!options.mask.empty()) args.set_kwarg("mask", args.ref(options.mask));
  return invoke(args, options.training);
}

std::vector<Tensor> Layer::invoke(const CallArgs& args) {
  std::optional<bool> training;
  if (const CallArg* flag = args.find_kwarg("training"); flag != nullptr && flag->literal.is_boolean()) {
    training = flag->literal.get<bool>();
  }
  return invoke(args, training);
}

CallContext Layer::make_context(const CallArgs& args, std::optional<bool> training) const {
  CallContext ctx;
  // Keras's order: the explicit argument, then the enclosing call's value, then False.
  ctx.training = training ? *training : current_training().value_or(false);
  const std::vector<Tensor> inputs = args.inputs();
  std::vector<Tensor> explicit_masks = args.kwarg_tensors("mask");
  if (!explicit_masks.empty() || args.has_kwarg("mask")) {
    ctx.masks = std::move(explicit_masks);
  } else {
    for (const Tensor& t : inputs) ctx.masks.push_back(t.defined() ? t.keras_mask() : Tensor());
  }
  return ctx;
}

std::vector<Tensor> Layer::invoke(const CallArgs& args, std::optional<bool> training) {
  const bool symbolic = args.any_symbolic();
  check_input_spec(args);
  const NameScope name_scope(*this);
  if (!built()) {
    const std::vector<Tensor> inputs = args.inputs();
    // A saved node's "args" can be empty (a damaged config): nothing to build from.
    if (inputs.empty()) throw ValueError(fmt::format("Layer '{}' was called without an input tensor.", name()));
    build(args.input_is_list() ? ShapeSpec::list(shapes_of(inputs)) : ShapeSpec(inputs[0].shape()));
  }
  const CallContext ctx = make_context(args, training);
  // Keras's entry layer (the outermost call) starts fresh loss lists for itself and its layers.
  if (t_training_stack.empty() && !symbolic) clear_losses();
  TrainingScope scope(ctx.training);
  std::vector<Tensor> outputs;
  if (symbolic) {
    outputs = compute_output_spec(args, ctx);
    if (!symbolic::recording_disabled()) {
      // Only what the user passed is recorded (Keras 3.10+): not the resolved training flag.
      CallArgs recorded = args;
      if (training) recorded.set_kwarg("training", *training);
      record_node(recorded, outputs);
    }
  } else {
    try {
      outputs = call(args, ctx);
    } catch (const FloatingPointError& e) {
      // md::debug::check_numerics: say which layer's call it was, outermost first.
      throw FloatingPointError(fmt::format("layer '{}' ({}): {}", name(), class_name(), e.what()));
    }
    if (const RegularizerArg& reg = layer_state_->activity_regularizer) {
      for (const Tensor& y : outputs) {
        if (!y.defined()) continue;
        Tensor loss = reg(y);
        // Keras divides by the batch size (divide_no_nan) so that the weighting against weight
        // penalties does not depend on it.
        if (y.ndim() > 0) {
          const int64_t batch = y.shape()[0];
          loss = batch > 0 ? ops::divide(loss, static_cast<float>(batch)) : Tensor::scalar(0.0f);
        }
        add_loss(loss);
      }
    }
  }
  if (supports_masking()) {
    // On symbolic inputs the ops inside compute_mask record their own graph nodes, as in Keras:
    // the mask is then a graph tensor like any other, and can be passed on explicitly
    // (layer({h, h}, {.mask = {h.keras_mask(), ...}})) inside a functional model.
    // compute_mask returns one mask, which goes to the first output only: Keras zips the flat
    // outputs with the flat masks (Layer._set_mask_metadata), so Attention's scores, its second
    // output, carry none.
    const Tensor mask = compute_mask(args, ctx.masks);
    if (mask.defined() && !outputs.empty() && outputs[0].defined()) outputs[0].set_keras_mask(mask);
  }
  return outputs;
}

std::vector<Tensor> Layer::run(const CallArgs& args) {
  return call(args, make_context(args, std::nullopt));
}

// ---- building -------------------------------------------------------------------------------

namespace {

// Input `index` of layer `layer` against its InputSpec, in Keras 3's words (less its "with name
// 'None'": a layer's InputSpec has no input name; a functional model names its inputs, see
// Model::checked_input).
void check_input_shape(const InputSpec& spec, const std::string& layer, size_t index, const Shape& x) {
  const auto ndim = static_cast<int64_t>(x.size());
  const std::string shape = shape_to_string(x);
  const std::string where = fmt::format("Input {} of layer '{}' is incompatible with the layer: ", index, layer);
  if (spec.ndim && ndim != *spec.ndim) {
    throw ValueError(where +
                     fmt::format("expected ndim={}, found ndim={}. Full shape received: {}", *spec.ndim, ndim, shape));
  }
  if (spec.max_ndim && ndim > *spec.max_ndim) {
    throw ValueError(where + fmt::format("expected max_ndim={}, found ndim={}", *spec.max_ndim, ndim));
  }
  if (spec.min_ndim && ndim < *spec.min_ndim) {
    throw ValueError(where + fmt::format("expected min_ndim={}, found ndim={}. Full shape received: {}", *spec.min_ndim,
                                         ndim, shape));
  }
  for (const auto& [axis, value] : spec.axes) {
    const int64_t a = axis < 0 ? axis + ndim : axis;
    if (a < 0 || a >= ndim) continue;
    const int64_t d = x[static_cast<size_t>(a)];
    if (d != None && d != value) {
      throw ValueError(where + fmt::format("expected axis {} of input shape to have value {}, but received input "
                                           "with shape {}",
                                           axis, value, shape));
    }
  }
}

}  // namespace

void Layer::build(const ShapeSpec& input_shape) {
  if (layer_state_->built) return;
  const NameScope name_scope(*this);
  // A build_config read from a file may hold any shape: the ranks the layer declared are checked
  // before build_weights indexes it (a Conv2D built for shape () read past its end; an RNN's
  // shape.at(0) threw std::out_of_range). As for a call, the first input's.
  if (layer_state_->input_spec && !input_shape.shapes().empty()) {
    check_input_shape(*layer_state_->input_spec, name(), 0, input_shape.shapes()[0]);
  }
  build_weights(input_shape);
  layer_state_->built = true;
  layer_state_->build_shape = input_shape;
}

void Layer::throw_missing_layer_of(const char* actual_type, const char* layer_of_type) {
  const std::string actual = demangled(actual_type);
  const std::string base = demangled(layer_of_type);
  throw TypeError(fmt::format(
      "Layer class {} derives from {} without LayerOf, so a graph cannot hold a copy of it (the copy would be a {}). "
      "Derive from md::LayerOf<{}, {}> instead.",
      actual, base, base, actual, base));
}

void Layer::build_weights(const ShapeSpec& /*input_shape*/) {}

void Layer::mark_unbuilt() {
  layer_state_->built = false;
  layer_state_->build_shape.reset();
}

void Layer::build_at_init() { layer_state_->built = true; }

bool Layer::built() const { return layer_state_->built; }

json Layer::get_build_config() const {
  if (!layer_state_->build_shape) return nullptr;
  return json{{"input_shape", layer_state_->build_shape->to_json()}};
}

void Layer::compile_from_serialized_config(const json&) {
  throw TypeError(fmt::format("Layer '{}' ({}) has a compile_config, but only models can be compiled.", name(),
                              class_name()));
}

void Layer::build_from_config(const json& build_config) {
  if (build_config.is_null() || built()) return;
  if (build_config.contains("input_shape")) {
    build(ShapeSpec::from_json(build_config["input_shape"]));
  } else if (build_config.contains("shapes_dict") && build_config["shapes_dict"].is_object()) {
    // Keras writes {"shapes_dict": {"<arg>_shape": shape, ...}} for multi-argument builds;
    // minidl layers take the first argument's shape.
    const auto& dict = build_config["shapes_dict"];
    if (!dict.empty()) build(ShapeSpec::from_json(dict.begin().value()));
  }
}

void Layer::set_input_spec(InputSpec spec) { layer_state_->input_spec = std::move(spec); }

void Layer::check_input_spec(const CallArgs& args) const {
  if (!layer_state_->input_spec || args.args.empty()) return;
  const std::vector<Tensor> inputs = args.inputs();
  if (!inputs.empty() && inputs[0].defined()) {
    check_input_shape(*layer_state_->input_spec, name(), 0, inputs[0].shape());
  }
}

// ---- shapes and masks ---------------------------------------------------------------------

std::vector<Tensor> Layer::output_spec(const CallArgs& args) {
  return compute_output_spec(args, make_context(args, std::nullopt));
}

std::vector<Tensor> Layer::compute_output_spec(const CallArgs& args, const CallContext& ctx) {
  symbolic::ShapeInferenceScope scope;
  // Run call() on placeholders: symbolic tensors flow through the ops as shapes only.
  CallArgs symbolic_args = args;
  for (Tensor& t : symbolic_args.tensors) {
    if (t.defined() && !t.is_symbolic()) t = Tensor::symbolic(t.shape(), t.dtype());
  }
  CallContext symbolic_ctx = ctx;
  for (Tensor& m : symbolic_ctx.masks) {
    if (m.defined() && !m.is_symbolic()) m = Tensor::symbolic(m.shape(), m.dtype());
  }
  try {
    std::vector<Tensor> out = call(symbolic_args, symbolic_ctx);
    for (Tensor& t : out) {
      if (t.defined() && !t.is_symbolic()) t = Tensor::symbolic(t.shape(), t.dtype());
    }
    return out;
  } catch (const Error& e) {
    throw ValueError(fmt::format(
        "Could not automatically infer the output shape / dtype of '{}' (of type {}). Either the `{}.call()` method "
        "is incorrect, or you need to implement the `{}.compute_output_spec() / compute_output_shape()` method. "
        "Error encountered:\n\n{}",
        name(), class_name(), class_name(), class_name(), e.what()));
  }
}

ShapeSpec Layer::compute_output_shape(const ShapeSpec& input_shape) {
  std::vector<Tensor> placeholders;
  for (const Shape& s : input_shape.shapes()) placeholders.push_back(Tensor::symbolic(s));
  const CallArgs args = input_shape.is_list() ? CallArgs::of(placeholders) : CallArgs::of(placeholders.at(0));
  build(input_shape);
  const std::vector<Tensor> out = compute_output_spec(args, make_context(args, false));
  if (out.size() == 1) return ShapeSpec(out[0].shape());
  std::vector<Shape> shapes;
  for (const Tensor& t : out) shapes.push_back(t.shape());
  return ShapeSpec::list(std::move(shapes));
}

Tensor Layer::compute_mask(const CallArgs& /*args*/, const std::vector<Tensor>& masks) {
  if (!supports_masking() || masks.empty()) return Tensor();
  return masks[0];
}

// ---- weights --------------------------------------------------------------------------------

Variable Layer::add_weight(const std::string& weight_name, const Shape& shape, const Initializer& initializer,
                           bool trainable) {
  return add_weight(weight_name, shape, WeightOptions{.initializer = initializer, .trainable = trainable});
}

Variable Layer::add_weight(const std::string& weight_name, const Shape& shape, const WeightOptions& options) {
  if (layer_state_->built) {
    throw ValueError(fmt::format(
        "You cannot add new elements of state (variables or sub-layers) to a layer that is already built. All state "
        "must be created in the constructor or in build_weights() (layer '{}', weight '{}').",
        name(), weight_name));
  }
  if (!is_fully_defined(shape)) {
    throw ShapeError(fmt::format("Layer '{}': weight '{}' needs a fully known shape; received {}.", name(),
                                 weight_name, shape_to_string(shape)));
  }
  const bool trainable = options.trainable;
  Variable v(options.initializer(shape), weight_name, trainable && layer_state_->trainable);
  if (options.regularizer) {
    v.set_regularizer([r = options.regularizer.get()](const Tensor& value) { return (*r)(value); });
  }
  if (options.constraint) {
    v.set_constraint([c = options.constraint.get()](const Tensor& value) { return (*c)(value); });
  }
  v.set_path(scope_path() + "/" + weight_name);
  (trainable ? layer_state_->trainable_variables : layer_state_->non_trainable_variables).push_back(v);
  return v;
}

std::vector<Variable> Layer::weights() const {
  std::vector<Variable> out;
  std::unordered_set<uint64_t> seen;
  auto add = [&](const Variable& v) {
    if (seen.insert(v.id()).second) out.push_back(v);
  };
  for (const Variable& v : layer_state_->trainable_variables) add(v);
  for (const Variable& v : layer_state_->non_trainable_variables) add(v);
  for (const auto& layer : layer_state_->sublayers) {
    for (const Variable& v : layer->weights()) add(v);
  }
  return out;
}

std::vector<Variable> Layer::trainable_weights() const {
  if (!trainable()) return {};
  std::vector<Variable> out;
  for (const Variable& v : weights()) {
    if (v.trainable()) out.push_back(v);
  }
  return out;
}

std::vector<Variable> Layer::non_trainable_weights() const {
  if (!trainable()) return weights();
  std::vector<Variable> out;
  for (const Variable& v : weights()) {
    if (!v.trainable()) out.push_back(v);
  }
  return out;
}

std::vector<Tensor> Layer::get_weights() const {
  std::vector<Tensor> out;
  for (const Variable& v : weights()) out.push_back(v.value().clone());
  return out;
}

void Layer::set_weights(const std::vector<Tensor>& values) {
  const std::vector<Variable> vars = weights();
  if (vars.size() != values.size()) {
    throw ValueError(fmt::format(
        "You called `set_weights(weights)` on layer '{}' with a weight list of length {}, but the layer was expecting "
        "{} weights.",
        name(), values.size(), vars.size()));
  }
  for (size_t i = 0; i < vars.size(); ++i) {
    if (vars[i].shape() != values[i].shape()) {
      // Keras's words, naming the variable (Keras's message leaves the reader to guess which).
      throw ValueError(fmt::format("Layer {} weight '{}' (index {}) shape {} is not compatible with provided weight "
                                   "shape {}.",
                                   name(), vars[i].path(), i, shape_to_string(vars[i].shape()),
                                   shape_to_string(values[i].shape())));
    }
  }
  for (size_t i = 0; i < vars.size(); ++i) vars[i].assign(values[i]);
}

int64_t Layer::count_params() const {
  if (!built()) {
    throw ValueError(fmt::format(
        "You tried to call `count_params` on layer '{}', but the layer isn't built. You can build it manually via: "
        "`layer.build(input_shape)`.",
        name()));
  }
  int64_t n = 0;
  for (const Variable& v : weights()) n += v.value().size();
  return n;
}

bool Layer::trainable() const { return layer_state_->trainable; }

void Layer::set_trainable(bool trainable) {
  layer_state_->trainable = trainable;
  // Keras: setting trainable propagates to the variables and to every sub-layer.
  for (const Variable& v : layer_state_->trainable_variables) v.set_trainable(trainable);
  for (const auto& layer : layer_state_->sublayers) layer->set_trainable(trainable);
}

const std::string& Layer::dtype() const { return layer_state_->dtype; }

void Layer::track(Layer& sublayer) {
  auto shared = std::static_pointer_cast<Layer>(sublayer.shared_self());
  for (const auto& existing : layer_state_->sublayers) {
    if (existing->layer_state_ == shared->layer_state_) return;
  }
  layer_state_->sublayers.push_back(std::move(shared));
}

void Layer::untrack_sublayers() { layer_state_->sublayers.clear(); }

std::vector<std::shared_ptr<Layer>> Layer::sublayers() const { return layer_state_->sublayers; }

random::SeedGenerator& Layer::seed_generator(std::optional<uint64_t> seed) {
  if (!layer_state_->seed_generator) layer_state_->seed_generator = std::make_unique<random::SeedGenerator>(seed);
  return *layer_state_->seed_generator;
}

// ---- losses -----------------------------------------------------------------------------------

void Layer::add_loss(const Tensor& loss) { layer_state_->losses.push_back(loss); }

void Layer::clear_losses() {
  layer_state_->losses.clear();
  for (const auto& layer : layer_state_->sublayers) layer->clear_losses();
}

std::vector<Tensor> Layer::losses() const {
  // Keras's losses: the added losses of this layer and every layer below it (each layer once),
  // then the penalties of its trainable_weights. fit reads it on every step: for a model
  // without penalties it walks the layers without allocating (the visited list starts on the
  // stack).
  std::vector<Tensor> added, penalties;
  std::array<const LayerState*, 32> seen{};
  size_t seen_count = 0;
  std::vector<const LayerState*> seen_overflow;
  auto first_visit = [&](const LayerState* state) {
    if (std::find(seen.begin(), seen.begin() + static_cast<std::ptrdiff_t>(seen_count), state) !=
            seen.begin() + static_cast<std::ptrdiff_t>(seen_count) ||
        std::find(seen_overflow.begin(), seen_overflow.end(), state) != seen_overflow.end()) {
      return false;
    }
    if (seen_count < seen.size()) {
      seen[seen_count++] = state;
    } else {
      seen_overflow.push_back(state);
    }
    return true;
  };
  auto visit = [&](auto& self, const Layer& layer, bool weights_count) -> void {
    const LayerState& state = *layer.layer_state_;
    if (!first_visit(&state)) return;
    added.insert(added.end(), state.losses.begin(), state.losses.end());
    // A frozen layer's weights are not trainable_weights, nor are its sub-layers'.
    weights_count = weights_count && state.trainable;
    if (weights_count) {
      for (const Variable& v : state.trainable_variables) {
        if (v.trainable() && v.regularizer()) penalties.push_back(v.regularizer()(v.value()));
      }
    }
    for (const auto& sublayer : state.sublayers) self(self, *sublayer, weights_count);
  };
  visit(visit, *this, true);
  added.insert(added.end(), penalties.begin(), penalties.end());
  return added;
}

const RegularizerArg& Layer::activity_regularizer() const { return layer_state_->activity_regularizer; }

void Layer::set_activity_regularizer(RegularizerArg regularizer) {
  layer_state_->activity_regularizer = std::move(regularizer);
}

// ---- configs ----------------------------------------------------------------------------------

json Layer::get_config() const {
  json config{{"name", name()},
              {"trainable", trainable()},
              {"dtype", keras_envelope("keras", "DTypePolicy", json{{"name", dtype()}}, std::nullopt)}};
  if (layer_state_->activity_regularizer) {
    config["activity_regularizer"] = layer_state_->activity_regularizer.serialize();
  }
  return config;
}

std::string Layer::module() const { return Registry::instance().module_of(class_name()); }

std::optional<std::string> Layer::registered_name() const {
  return Registry::instance().registered_name_of(class_name());
}

}  // namespace minidl
