#include "minidl/layers/attention.h"

#include <fmt/format.h>

#include "minidl/autograd/attention.h"
#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/config_reader.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

std::string describe(const Tensor& t) {
  if (!t.defined()) return "None";
  return fmt::format("Tensor(shape={}, dtype={})", shape_to_string(t.shape()), dtype_name(t.dtype()));
}

std::string describe(const std::vector<Tensor>& ts) {
  std::string out = "[";
  for (size_t i = 0; i < ts.size(); ++i) out += (i ? ", " : "") + describe(ts[i]);
  return out + "]";
}

Shape without_last(const Shape& s) { return Shape(s.begin(), s.end() - 1); }

}  // namespace

Attention::Attention(const AttentionOptions& options) : Attention("Attention", options) {}

Attention::Attention(const std::string& class_name, const AttentionOptions& options)
    : LayerOf(class_name, options.name, options.trainable, options.dtype), options_(options) {
  if (options.score_mode != "dot" && options.score_mode != "concat") {
    throw ValueError(fmt::format(
        "Invalid value for argument score_mode. Expected one of {{'dot', 'concat'}}. Received: score_mode={}",
        options.score_mode));
  }
}

// ---- calling ---------------------------------------------------------------------------------

Tensor Attention::operator()(const std::vector<Tensor>& inputs, const AttentionCallOptions& options) {
  CallArgs args = CallArgs::of(inputs);
  if (!options.mask.empty()) args.set_kwarg("mask", args.ref(options.mask));
  if (options.use_causal_mask) args.set_kwarg("use_causal_mask", true);
  const auto out = invoke(args, options.training);
  return out.at(0);
}

Tensor Attention::operator()(const Tensor& input, const AttentionCallOptions& options) {
  CallArgs args = CallArgs::of(input);
  if (!options.mask.empty()) args.set_kwarg("mask", args.ref(options.mask));
  return invoke(args, options.training).at(0);
}

std::pair<Tensor, Tensor> Attention::call_with_scores(const std::vector<Tensor>& inputs,
                                                      const AttentionCallOptions& options) {
  CallArgs args = CallArgs::of(inputs);
  if (!options.mask.empty()) args.set_kwarg("mask", args.ref(options.mask));
  args.set_kwarg("return_attention_scores", true);
  if (options.use_causal_mask) args.set_kwarg("use_causal_mask", true);
  const auto out = invoke(args, options.training);
  return {out.at(0), out.at(1)};
}

// ---- validation --------------------------------------------------------------------------------

void Attention::validate_input_shapes(const ShapeSpec& input_shape) const {
  if (!input_shape.is_list()) {
    throw ValueError(fmt::format(
        "{} layer must be called on a list of inputs, namely [query, value] or [query, value, key]. Received: "
        "inputs={}.",
        class_name(), input_shape.to_string()));
  }
  if (input_shape.size() < 2 || input_shape.size() > 3) {
    throw ValueError(fmt::format(
        "{} layer accepts inputs list of length 2 or 3, namely [query, value] or [query, value, key]. Received "
        "length: {}.",
        class_name(), input_shape.size()));
  }
}

void Attention::validate_call(const CallArgs& args) const {
  const std::vector<Tensor> inputs = args.inputs();
  if (!args.input_is_list()) {
    throw ValueError(fmt::format(
        "{} layer must be called on a list of inputs, namely [query, value] or [query, value, key]. Received: "
        "inputs={}.",
        class_name(), describe(inputs.empty() ? Tensor() : inputs[0])));
  }
  if (inputs.size() < 2 || inputs.size() > 3) {
    throw ValueError(fmt::format(
        "{} layer accepts inputs list of length 2 or 3, namely [query, value] or [query, value, key]. Received "
        "length: {}.",
        class_name(), inputs.size()));
  }
  // The scores are query @ key^T over the last two axes: a rank-0 or rank-1 input (e.g. from a
  // damaged config's batch_shape) has no such axes.
  static constexpr const char* kRoles[] = {"query", "value", "key"};
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].defined() && inputs[i].ndim() < 2) {
      throw ValueError(fmt::format("{} layer needs inputs with at least 2 dimensions ([batch,] steps, features); "
                                   "received {} of shape {}.",
                                   class_name(), kRoles[i], shape_to_string(inputs[i].shape())));
    }
  }
  const CallArg* mask = args.find_kwarg("mask");
  if (mask != nullptr && !mask->is_null()) {
    if (mask->kind != CallArg::Kind::tensor_list) {
      throw ValueError(fmt::format("{} layer mask must be a list, namely [query_mask, value_mask]. Received: mask={}.",
                                   class_name(), describe(args.tensor_of(*mask))));
    }
    if (mask->indices.size() < 2 || mask->indices.size() > 3) {
      throw ValueError(fmt::format("{} layer accepts mask list of length 2 or 3. Received: inputs={}, mask={}.",
                                   class_name(), describe(inputs), describe(args.tensors_of(*mask))));
    }
  }
}

// ---- building ---------------------------------------------------------------------------------

void Attention::build_weights(const ShapeSpec& input_shape) {
  validate_input_shapes(input_shape);
  if (options_.use_scale) state_->scale = add_weight("scale", {}, "ones");
  if (options_.score_mode == "concat") state_->concat_score_weight = add_weight("concat_score_weight", {}, "ones");
}

const Variable& Attention::scale() const { return state_->scale; }

// ---- computing --------------------------------------------------------------------------------

Tensor Attention::calculate_scores(const Tensor& query, const Tensor& key) {
  if (options_.score_mode == "dot") {
    Tensor scores = ops::matmul(query, ops::swapaxes(key, -2, -1));
    if (state_->scale.defined()) scores = ops::multiply(scores, state_->scale.value());
    return scores;
  }
  // concat: c * sum(tanh(s * (q[..., :, None, :] + k[..., None, :, :])), -1)
  Tensor sum = ops::add(ops::expand_dims(query, -2), ops::expand_dims(key, -3));
  if (state_->scale.defined()) sum = ops::multiply(sum, state_->scale.value());
  return ops::multiply(state_->concat_score_weight.value(), ops::sum(ops::tanh(sum), {-1}));
}

std::optional<std::pair<Tensor, Tensor>> Attention::fused_attention(const Tensor& query, const Tensor& key,
                                                                    const Tensor& value, const Tensor& value_mask,
                                                                    bool causal, float dropout_rate, uint64_t seed) {
  if (options_.score_mode != "concat") return std::nullopt;
  // tanh(s (q + k)) = tanh(s q + s k), and the outer weight c is a per-feature scale of c:
  // concat mode is the additive kernel on scaled inputs.
  Tensor q = query, k = key;
  if (state_->scale.defined()) {
    q = ops::multiply(query, state_->scale.value());
    k = ops::multiply(key, state_->scale.value());
  }
  const Tensor c = ops::broadcast_to(state_->concat_score_weight.value(), {query.dim(-1)});
  return ops::additive_attention(q, k, value, c, {.value_mask = value_mask, .causal = causal}, dropout_rate, seed);
}

std::vector<Tensor> Attention::call(const CallArgs& args, const CallContext& ctx) {
  validate_call(args);
  const std::vector<Tensor> inputs = args.inputs();
  const Tensor& query = inputs[0];
  const Tensor& value = inputs[1];
  const Tensor& key = inputs.size() > 2 ? inputs[2] : value;
  const Tensor query_mask = ctx.masks.size() > 0 ? ctx.masks[0] : Tensor();
  const Tensor value_mask = ctx.masks.size() > 1 ? ctx.masks[1] : Tensor();
  const bool causal = args.kwarg<bool>("use_causal_mask", false);
  const bool return_scores = args.kwarg<bool>("return_attention_scores", false);

  // Keras checks none of these shapes; minidl names both shapes instead of failing deep inside.
  if (query.dim(-1) != key.dim(-1)) {
    throw ShapeError(fmt::format("{} layer: query shape {} and key shape {} must have the same last dimension.",
                                 class_name(), shape_to_string(query.shape()), shape_to_string(key.shape())));
  }
  if (key.dim(-2) != value.dim(-2)) {
    throw ShapeError(fmt::format("{} layer: key shape {} and value shape {} must have the same length (axis -2).",
                                 class_name(), shape_to_string(key.shape()), shape_to_string(value.shape())));
  }
  if (query_mask.defined() && query_mask.shape() != without_last(query.shape())) {
    throw ShapeError(fmt::format("{} layer: the query mask has shape {} but query shape {} needs {}.", class_name(),
                                 shape_to_string(query_mask.shape()), shape_to_string(query.shape()),
                                 shape_to_string(without_last(query.shape()))));
  }
  if (value_mask.defined() && value_mask.shape() != without_last(value.shape())) {
    throw ShapeError(fmt::format("{} layer: the value mask has shape {} but value shape {} needs {}.", class_name(),
                                 shape_to_string(value_mask.shape()), shape_to_string(value.shape()),
                                 shape_to_string(without_last(value.shape()))));
  }

  const bool dropping = ctx.training && options_.dropout > 0.0;
  const float rate = dropping ? static_cast<float>(options_.dropout) : 0.0f;
  const uint64_t seed = dropping ? seed_generator(options_.seed).next() : 0;

  Tensor out, weights;
  if (auto fused = fused_attention(query, key, value, value_mask, causal, rate, seed)) {
    std::tie(out, weights) = *fused;
  } else {
    Tensor scores = calculate_scores(query, key);
    const Tensor keep = ops::score_keep_mask({.value_mask = value_mask, .causal = causal}, query.dim(-2), key.dim(-2));
    if (keep.defined()) scores = ops::where(ops::logical_not(keep), ops::subtract(scores, 1.0e9f), scores);
    weights = ops::softmax(scores, -1);
    if (dropping) weights = ops::dropout(weights, rate, seed);
    out = ops::matmul(weights, value);
  }
  if (query_mask.defined()) {
    // The query mask zeroes output rows; the weights stay as they are (Keras).
    out = ops::where(ops::expand_dims(query_mask, -1), out, Tensor::scalar(0.0f));
  }
  if (return_scores) return {out, weights};
  return {out};
}

// ---- shapes, masks and config -------------------------------------------------------------------

Tensor Attention::compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) {
  validate_call(args);
  if (masks.empty() || !masks[0].defined()) return Tensor();
  return masks[0];
}

ShapeSpec Attention::compute_output_shape(const ShapeSpec& input_shape) {
  validate_input_shapes(input_shape);
  Shape out = without_last(input_shape.shapes()[0]);
  out.push_back(input_shape.shapes()[1].back());
  return ShapeSpec(out);
}

std::vector<Tensor> Attention::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  validate_call(args);
  const std::vector<Tensor> inputs = args.inputs();
  const Tensor& query = inputs[0];
  const Tensor& value = inputs[1];
  const Tensor& key = inputs.size() > 2 ? inputs[2] : value;
  Shape out = without_last(query.shape());
  out.push_back(value.dim(-1));
  std::vector<Tensor> specs = {Tensor::symbolic(out)};
  if (args.kwarg<bool>("return_attention_scores", false)) {
    Shape scores = without_last(query.shape());
    scores.push_back(key.dim(-2));
    specs.push_back(Tensor::symbolic(scores));
  }
  return specs;
}

json Attention::get_config() const {
  json config = Layer::get_config();
  config["use_scale"] = options_.use_scale;
  config["score_mode"] = options_.score_mode;
  config["dropout"] = options_.dropout;
  config["seed"] = options_.seed ? json(*options_.seed) : json(nullptr);
  return config;
}

Attention Attention::from_config(const json& config) {
  ConfigReader r(config, "Attention");
  AttentionOptions o;
  o.use_scale = r.optional<bool>("use_scale", false);
  o.score_mode = r.optional<std::string>("score_mode", "dot");
  o.dropout = r.optional<double>("dropout", 0.0);
  o.seed = r.maybe<uint64_t>("seed");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return Attention(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(Attention);

}  // namespace minidl::layers
