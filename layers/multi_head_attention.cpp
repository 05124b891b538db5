#include "minidl/layers/multi_head_attention.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/einsum.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {
namespace {

char letter(int64_t i) { return static_cast<char>('a' + i); }

// Keras's _build_proj_equation: `free` axes kept, `bound` axes contracted with the kernel,
// `out` new axes from the kernel (which the bias spans).
struct Projection {
  std::string equation, bias_axes;
  int64_t output_rank = 0;
};

Projection projection_equation(int64_t free, int64_t bound, int64_t out) {
  std::string input, kernel, output, bias;
  int64_t next = 0;
  for (int64_t i = 0; i < free; ++i, ++next) {
    input += letter(next);
    output += letter(next);
  }
  for (int64_t i = 0; i < bound; ++i, ++next) {
    input += letter(next);
    kernel += letter(next);
  }
  for (int64_t i = 0; i < out; ++i, ++next) {
    kernel += letter(next);
    output += letter(next);
    bias += letter(next);
  }
  return {input + "," + kernel + "->" + output, bias, static_cast<int64_t>(output.size())};
}

// Keras's _get_output_shape: unknown leading axes, then the known last ones.
std::vector<int64_t> partial_shape(int64_t rank, const std::vector<int64_t>& known) {
  std::vector<int64_t> out(static_cast<size_t>(rank) - known.size(), None);
  out.insert(out.end(), known.begin(), known.end());
  return out;
}

// Keras's _build_attention_equation for projected tensors of `rank` (batch, ..., heads,
// channels): the query-key product "source,target->scores" and the weights-value combination.
std::pair<std::string, std::string> attention_equations(int64_t rank, const std::vector<int64_t>& axes) {
  std::string target, source, product;
  for (int64_t i = 0; i < rank; ++i) target += letter(i);
  auto is_attention = [&](int64_t i) { return std::find(axes.begin(), axes.end(), i) != axes.end(); };
  int64_t next = rank;
  for (int64_t i = 0; i < rank; ++i) source += (is_attention(i) && i != rank - 1) ? letter(next++) : target[i];
  for (int64_t i = 0; i < rank; ++i) {
    if (!is_attention(i) && i != rank - 1) product += target[i];
  }
  for (int64_t a : axes) product += target[a];
  for (int64_t a : axes) product += source[a];
  return {source + "," + target + "->" + product, product + "," + source + "->" + target};
}

void check_key_value(const Shape& value, const Shape& key) {
  if (value.size() != key.size() || !std::equal(value.begin() + 1, value.end() - 1, key.begin() + 1)) {
    throw ValueError(fmt::format("All dimensions of `value` and `key`, except the last one, must be equal. Received: "
                                 "value_shape={} and key_shape={}",
                                 shape_to_string(value), shape_to_string(key)));
  }
}

Tensor causal_mask(int64_t tq, int64_t tv) {
  std::vector<float> keep(static_cast<size_t>(tq * tv));
  for (int64_t i = 0; i < tq; ++i) {
    for (int64_t j = 0; j < tv; ++j) keep[static_cast<size_t>(i * tv + j)] = i >= j ? 1.0f : 0.0f;
  }
  return Tensor::from_vector(keep, {1, tq, tv}, DType::bool_);
}

Tensor as_bool(const Tensor& m) { return m.dtype() == DType::bool_ ? m : ops::cast(m, DType::bool_); }

Tensor and_masks(const Tensor& a, const Tensor& b) {
  if (!a.defined()) return b;
  if (!b.defined()) return a;
  return ops::logical_and(a, b);
}

json shape_or_null(const std::vector<int64_t>& s) {
  if (s.empty()) return nullptr;
  return json(s);
}

}  // namespace

MultiHeadAttention::MultiHeadAttention(const MultiHeadAttentionOptions& options)
    : LayerOf("MultiHeadAttention", options.name, options.trainable, options.dtype), options_(options) {
  if (options.num_heads <= 0) {
    throw ValueError(fmt::format("Received an invalid value for argument `num_heads`, expected a positive integer. "
                                 "Received: num_heads={}",
                                 options.num_heads));
  }
  if (options.key_dim <= 0) {
    throw ValueError(fmt::format(
        "Received an invalid value for argument `key_dim`, expected a positive integer. Received: key_dim={}",
        options.key_dim));
  }
  if (options.value_dim && *options.value_dim <= 0) {
    throw ValueError(fmt::format("Received an invalid value for argument `value_dim`, expected a positive integer or "
                                 "`None`. Received: value_dim={}",
                                 *options.value_dim));
  }
  if (options.dropout < 0.0 || options.dropout >= 1.0) {
    throw ValueError(fmt::format(
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate={}",
        options.dropout));
  }
}

// ---- calling ---------------------------------------------------------------------------------

Tensor MultiHeadAttention::operator()(const Tensor& query, const Tensor& value,
                                      const MultiHeadAttentionCallOptions& options) {
  return run_call(query, value, options, false).at(0);
}

std::pair<Tensor, Tensor> MultiHeadAttention::call_with_scores(const Tensor& query, const Tensor& value,
                                                               const MultiHeadAttentionCallOptions& options) {
  const auto out = run_call(query, value, options, true);
  return {out.at(0), out.at(1)};
}

std::vector<Tensor> MultiHeadAttention::run_call(const Tensor& query, const Tensor& value,
                                                 const MultiHeadAttentionCallOptions& options, bool return_scores) {
  CallArgs args = CallArgs::positional({query, value});
  if (options.key.defined()) args.set_kwarg("key", args.ref(options.key));
  if (options.query_mask.defined()) args.set_kwarg("query_mask", args.ref(options.query_mask));
  if (options.value_mask.defined()) args.set_kwarg("value_mask", args.ref(options.value_mask));
  if (options.key_mask.defined()) args.set_kwarg("key_mask", args.ref(options.key_mask));
  if (options.attention_mask.defined()) args.set_kwarg("attention_mask", args.ref(options.attention_mask));
  if (return_scores) args.set_kwarg("return_attention_scores", true);
  if (options.training) args.set_kwarg("training", *options.training);
  if (options.use_causal_mask) args.set_kwarg("use_causal_mask", true);
  return invoke(args);
}

MultiHeadAttention::Inputs MultiHeadAttention::inputs_of(const CallArgs& args) const {
  auto argument = [&](size_t position, const char* key) -> Tensor {
    if (args.args.size() > position) return args.tensor_of(args.args[position]);
    if (const CallArg* found = args.find_kwarg(key)) return args.tensor_of(*found);
    return Tensor();
  };
  Inputs in;
  if (args.input_is_list()) {
    // mha([query, value(, key)]): minidl's list form, the form layers taking several inputs share.
    const std::vector<Tensor> list = args.inputs();
    if (list.size() < 2 || list.size() > 3) {
      throw ValueError(fmt::format("MultiHeadAttention layer '{}' takes a list [query, value] or [query, value, "
                                   "key]; received a list of {}.",
                                   name(), list.size()));
    }
    in.query = list[0];
    in.value = list[1];
    if (list.size() > 2) in.key = list[2];
  } else {
    in.query = argument(0, "query");
    in.value = argument(1, "value");
    in.key = argument(2, "key");
  }
  if (!in.query.defined() || !in.value.defined()) {
    throw ValueError(fmt::format("MultiHeadAttention layer '{}' needs a query and a value tensor.", name()));
  }
  in.key_given = in.key.defined();
  if (!in.key_given) in.key = in.value;
  return in;
}

std::vector<Tensor> MultiHeadAttention::invoke(const CallArgs& args) {
  if (!built()) {
    const Inputs in = inputs_of(args);
    std::vector<Shape> shapes = {in.query.shape(), in.value.shape()};
    if (in.key_given) shapes.push_back(in.key.shape());
    build(ShapeSpec::list(shapes));
  }
  return Layer::invoke(args);
}

// ---- building ---------------------------------------------------------------------------------

void MultiHeadAttention::build_weights(const ShapeSpec& input_shape) {
  if (!input_shape.is_list() || input_shape.size() < 2 || input_shape.size() > 3) {
    throw ValueError(fmt::format("MultiHeadAttention layer '{}' builds from [query, value] or [query, value, key] "
                                 "shapes; received {}.",
                                 name(), input_shape.to_string()));
  }
  const Shape& query = input_shape.shapes()[0];
  const Shape& value = input_shape.shapes()[1];
  const Shape& key = input_shape.size() > 2 ? input_shape.shapes()[2] : value;
  check_key_value(value, key);
  State& s = *state_;
  s.key_shape_given = input_shape.size() > 2;
  const auto query_rank = static_cast<int64_t>(query.size());
  if (query_rank < 3) {
    throw ValueError(fmt::format("MultiHeadAttention layer '{}' needs inputs of rank 3 or more (batch, ..., "
                                 "features); received query shape {}.",
                                 name(), shape_to_string(query)));
  }
  auto make = [&](const Projection& p, std::vector<int64_t> known, const char* sublayer_name) {
    return EinsumDense({.equation = p.equation,
                        .output_shape = partial_shape(p.output_rank - 1, known),
                        .bias_axes = options_.use_bias ? std::optional<std::string>(p.bias_axes) : std::nullopt,
                        .kernel_initializer = options_.kernel_initializer,
                        .bias_initializer = options_.bias_initializer,
                        .name = sublayer_name,
                        .dtype = options_.dtype});
  };
  const Projection qp = projection_equation(query_rank - 1, 1, 2);
  s.query = make(qp, {options_.num_heads, options_.key_dim}, "query");
  s.query->build(query);
  s.key = make(projection_equation(static_cast<int64_t>(key.size()) - 1, 1, 2), {options_.num_heads, options_.key_dim},
               "key");
  s.key->build(key);
  const Projection vp = projection_equation(static_cast<int64_t>(value.size()) - 1, 1, 2);
  s.value = make(vp, {options_.num_heads, value_dim()}, "value");
  s.value->build(value);

  // Attention over `attention_axes` of the projected (batch, ..., heads, channels) tensors.
  const int64_t rank = vp.output_rank;
  s.attention_axes.clear();
  if (!options_.attention_axes) {
    for (int64_t i = 1; i < rank - 2; ++i) s.attention_axes.push_back(i);
  } else {
    for (int64_t a : *options_.attention_axes) {
      const int64_t axis = a >= 0 ? a : (rank - 1) + a;
      if (axis < 1 || axis >= rank - 2) {
        throw ValueError(fmt::format("MultiHeadAttention layer '{}': attention axis {} is not an axis between the "
                                     "batch and the features of an input of shape {}.",
                                     name(), a, shape_to_string(query)));
      }
      s.attention_axes.push_back(axis);
    }
  }
  std::tie(s.dot_product_equation, s.combine_equation) = attention_equations(rank, s.attention_axes);

  const std::vector<int64_t> out_shape = options_.output_shape.empty() ? std::vector<int64_t>{query.back()}
                                                                       : options_.output_shape;
  const Projection op = projection_equation(query_rank - 1, 2, static_cast<int64_t>(out_shape.size()));
  s.output = make(op, out_shape, "attention_output");
  Shape output_input = s.query->compute_output_shape(ShapeSpec(query)).shape();
  output_input.back() = value_dim();
  s.output->build(output_input);
  track(*s.query);
  track(*s.key);
  track(*s.value);
  track(*s.output);
}

json MultiHeadAttention::get_build_config() const {
  const json base = Layer::get_build_config();
  if (base.is_null()) return base;
  const json shapes = base["input_shape"];
  json dict = {{"query_shape", shapes[0]}, {"value_shape", shapes[1]}};
  if (shapes.size() > 2) dict["key_shape"] = shapes[2];
  return json{{"shapes_dict", dict}};
}

void MultiHeadAttention::build_from_config(const json& build_config) {
  if (build_config.is_null() || built()) return;
  if (!build_config.contains("shapes_dict")) return Layer::build_from_config(build_config);
  const json& dict = build_config["shapes_dict"];
  ConfigReader r(dict, "MultiHeadAttention build_config");
  std::vector<Shape> shapes = {ShapeSpec::from_json(r.at("query_shape")).shape(),
                               ShapeSpec::from_json(r.at("value_shape")).shape()};
  if (r.has("key_shape")) shapes.push_back(ShapeSpec::from_json(r.at("key_shape")).shape());
  build(ShapeSpec::list(shapes));
}

std::vector<std::pair<std::string, std::shared_ptr<Layer>>> MultiHeadAttention::saved_sublayers() const {
  // sublayers() holds them in track order: query, key, value, output.
  const auto tracked = sublayers();
  if (tracked.size() != 4) return {};
  return {{"query_dense", tracked[0]}, {"key_dense", tracked[1]}, {"value_dense", tracked[2]},
          {"output_dense", tracked[3]}};
}

const EinsumDense& MultiHeadAttention::query_dense() const { return state_->query.value(); }
const EinsumDense& MultiHeadAttention::key_dense() const { return state_->key.value(); }
const EinsumDense& MultiHeadAttention::value_dense() const { return state_->value.value(); }
const EinsumDense& MultiHeadAttention::output_dense() const { return state_->output.value(); }

// ---- computing --------------------------------------------------------------------------------

std::vector<Tensor> MultiHeadAttention::call(const CallArgs& args, const CallContext& ctx) {
  State& s = *state_;
  const Inputs in = inputs_of(args);
  auto mask_of = [&](const char* key, const Tensor& tensor) {
    if (const CallArg* found = args.find_kwarg(key); found != nullptr && !found->is_null()) {
      return args.tensor_of(*found);
    }
    return tensor.defined() ? tensor.keras_mask() : Tensor();
  };
  const Tensor query_mask = mask_of("query_mask", in.query);
  const Tensor value_mask = mask_of("value_mask", in.value);
  // Keras fills key_mask from the key argument's mask only when a key was passed.
  const Tensor key_mask = mask_of("key_mask", in.key_given ? in.key : Tensor());
  const bool causal = args.kwarg<bool>("use_causal_mask", false);
  const bool return_scores = args.kwarg<bool>("return_attention_scores", false);

  // Keras's _compute_attention_mask: everything and-ed into one (B, T, S) boolean mask.
  Tensor mask;
  if (query_mask.defined()) mask = ops::expand_dims(as_bool(query_mask), -1);
  if (value_mask.defined()) mask = and_masks(mask, ops::expand_dims(as_bool(value_mask), -2));
  if (key_mask.defined()) mask = and_masks(mask, ops::expand_dims(as_bool(key_mask), -2));
  if (causal) mask = and_masks(mask, causal_mask(in.query.dim(1), in.value.dim(1)));
  if (const CallArg* found = args.find_kwarg("attention_mask"); found != nullptr && !found->is_null()) {
    mask = and_masks(as_bool(args.tensor_of(*found)), mask);
  }

  const auto inverse_sqrt_key_dim = static_cast<float>(1.0 / std::sqrt(static_cast<double>(options_.key_dim)));
  // Keras's Softmax layer zeroes masked weights, so a fully masked row gives zeros. Keras skips
  // that layer on its fused path (ops.dot_product_attention, taken for rank-3 inputs when no
  // dropout rate is set and no scores are returned), where a fully masked row stays uniform;
  // minidl gives the same numbers on both paths as Keras does (on JAX, the reference).
  const bool fused_in_keras = options_.dropout <= 0.0 && !return_scores && in.query.ndim() == 3;
  const auto n_axes = static_cast<int64_t>(s.attention_axes.size());
  const bool training_dropout = ctx.training && options_.dropout > 0.0;

  if (in.query.ndim() == 3 && in.key.ndim() == 3 && n_axes == 1 && s.attention_axes[0] == 1) {
    // The common case, (B, T, heads, channels) attending over T: one fused op on the projections'
    // own layout, the scale folded into the product.
    if (mask.defined()) mask = ops::expand_dims(mask, -3);  // (B, 1, T, S): the heads axis
    const ops::DotProductAttentionOptions attention{
        .mask = mask,
        .scale = inverse_sqrt_key_dim,
        .dropout_rate = training_dropout ? static_cast<float>(options_.dropout) : 0.0f,
        .dropout_seed = training_dropout ? seed_generator(options_.seed).next() : 0,
        .zero_masked_weights = mask.defined() && !fused_in_keras,
        .return_weights = return_scores};
    // Self-attention (query, key and value one tensor) on concrete inputs: one product for the
    // three projections, the kernels side by side (PyTorch's packed in-projection), and the
    // attention reading q, k and v from its rows; the weights stay Keras's three EinsumDense
    // layers. Any other call projects each input on its own.
    const bool self_attention = in.query.id() == in.value.id() && in.key.id() == in.value.id();
    Tensor attended, weights;
    if (self_attention && in.query.is_concrete()) {
      std::vector<Tensor> kernels, biases;
      for (const EinsumDense* d : {&*s.query, &*s.key, &*s.value}) {
        kernels.push_back(d->kernel().value());
        if (options_.use_bias) biases.push_back(d->bias().value());
      }
      const Tensor qkv = ops::packed_projection(in.query, kernels, biases);
      std::tie(attended, weights) = ops::packed_self_attention(
          qkv, {.heads = options_.num_heads, .key_dim = options_.key_dim, .value_dim = value_dim()}, attention);
    } else {
      std::tie(attended, weights) = ops::dot_product_attention(s.query->operator()(in.query), s.key->operator()(in.key),
                                                               s.value->operator()(in.value), attention);
    }
    const Tensor output = s.output->operator()(attended);
    if (!return_scores) return {output};
    if (mask.defined()) weights.set_keras_mask(mask);
    return {output, weights};
  }

  Tensor query = s.query->operator()(in.query);
  const Tensor key = s.key->operator()(in.key);
  const Tensor value = s.value->operator()(in.value);
  query = ops::multiply(query, inverse_sqrt_key_dim);
  Tensor scores = einsum(s.dot_product_equation, key, query);

  // Keras's masked softmax: masked scores become -1e9 (so a fully masked row is uniform), the
  // mask gaining the heads axis (and any other batch axes) where it lacks them.
  if (mask.defined()) {
    while (mask.ndim() < scores.ndim()) mask = ops::expand_dims(mask, -n_axes * 2 - 1);
    scores = ops::where(mask, scores, Tensor::scalar(-1.0e9f));
  }
  Tensor weights;
  if (n_axes == 1) {
    weights = ops::softmax(scores, -1);
  } else {
    // A softmax over several trailing axes is one over their flattening.
    Shape flat(scores.shape().begin(), scores.shape().end() - n_axes);
    flat.push_back(-1);
    weights = ops::reshape(ops::softmax(ops::reshape(scores, flat), -1), scores.shape());
  }
  if (mask.defined() && !fused_in_keras) weights = ops::where(mask, weights, Tensor::scalar(0.0f));
  Tensor mixed = weights;
  if (training_dropout) {
    mixed = ops::dropout(weights, static_cast<float>(options_.dropout), seed_generator(options_.seed).next());
  }
  const Tensor attended = einsum(s.combine_equation, mixed, value);
  const Tensor output = s.output->operator()(attended);
  if (return_scores) {
    // Keras's scores come out of its Softmax layer, which attaches the (expanded) mask it got.
    if (mask.defined()) weights.set_keras_mask(mask);
    return {output, weights};
  }
  return {output};
}

// ---- shapes, masks and config -------------------------------------------------------------------

Tensor MultiHeadAttention::compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) {
  if (const CallArg* found = args.find_kwarg("query_mask"); found != nullptr && !found->is_null()) {
    return args.tensor_of(*found);
  }
  return masks.empty() ? Tensor() : masks[0];
}

ShapeSpec MultiHeadAttention::compute_output_shape(const ShapeSpec& input_shape) {
  if (!input_shape.is_list() || input_shape.size() < 2 || input_shape.size() > 3) {
    throw ValueError(fmt::format("MultiHeadAttention layer '{}' takes [query, value] or [query, value, key] shapes; "
                                 "received {}.",
                                 name(), input_shape.to_string()));
  }
  const Shape& value = input_shape.shapes()[1];
  check_key_value(value, input_shape.size() > 2 ? input_shape.shapes()[2] : value);
  Shape out = input_shape.shapes()[0];
  if (!options_.output_shape.empty()) {
    out.pop_back();
    out.insert(out.end(), options_.output_shape.begin(), options_.output_shape.end());
  }
  return ShapeSpec(out);
}

std::vector<Tensor> MultiHeadAttention::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  const Inputs in = inputs_of(args);
  std::vector<Shape> shapes = {in.query.shape(), in.value.shape()};
  if (in.key_given) shapes.push_back(in.key.shape());
  std::vector<Tensor> specs = {Tensor::symbolic(compute_output_shape(ShapeSpec::list(shapes)).shape())};
  if (args.kwarg<bool>("return_attention_scores", false)) {
    // The scores' shape from the projected shapes (Keras's spec gives (B, heads, T, T) even when
    // the value is longer; the computed scores are (B, heads, T, S), which minidl reports).
    auto projected = [&](const Shape& x, int64_t channels) {
      Shape p(x.begin(), x.end() - 1);
      p.push_back(options_.num_heads);
      p.push_back(channels);
      return p;
    };
    const Shape scores = einsum_output_shape(state_->dot_product_equation, projected(in.key.shape(), options_.key_dim),
                                             projected(in.query.shape(), options_.key_dim));
    specs.push_back(Tensor::symbolic(scores));
  }
  return specs;
}

json MultiHeadAttention::get_config() const {
  json config = Layer::get_config();
  config["num_heads"] = options_.num_heads;
  config["key_dim"] = options_.key_dim;
  config["value_dim"] = value_dim();
  config["dropout"] = options_.dropout;
  config["use_bias"] = options_.use_bias;
  config["use_gate"] = false;
  config["output_shape"] = shape_or_null(options_.output_shape);
  // Keras resolves the axes at build and its config then holds them.
  if (built()) {
    config["attention_axes"] = state_->attention_axes;
  } else {
    config["attention_axes"] = options_.attention_axes ? json(*options_.attention_axes) : json(nullptr);
  }
  config["sliding_window"] = nullptr;
  config["kernel_initializer"] = options_.kernel_initializer.serialize();
  config["bias_initializer"] = options_.bias_initializer.serialize();
  config["kernel_regularizer"] = nullptr;
  config["bias_regularizer"] = nullptr;
  config["activity_regularizer"] = nullptr;
  config["kernel_constraint"] = nullptr;
  config["bias_constraint"] = nullptr;
  config["seed"] = options_.seed ? json(*options_.seed) : json(nullptr);
  return config;
}

MultiHeadAttention MultiHeadAttention::from_config(const json& config) {
  ConfigReader r(config, "MultiHeadAttention");
  r.reject_non_null({"kernel_regularizer", "bias_regularizer", "activity_regularizer", "kernel_constraint",
                     "bias_constraint", "sliding_window"});
  if (r.optional<bool>("use_gate", false)) {
    throw NotImplementedError("MultiHeadAttention config: use_gate=True (gated attention) is not supported by minidl.");
  }
  MultiHeadAttentionOptions o;
  o.num_heads = r.required<int64_t>("num_heads");
  o.key_dim = r.required<int64_t>("key_dim");
  o.value_dim = r.maybe<int64_t>("value_dim");
  o.dropout = r.optional<double>("dropout", 0.0);
  o.use_bias = r.optional<bool>("use_bias", true);
  auto int_list = [&](const char* key) -> std::optional<std::vector<int64_t>> {
    const json* v = r.find(key);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (v->is_number()) return std::vector<int64_t>{r.integer_value(key, *v)};
    std::vector<int64_t> out;
    if (!v->is_array()) {
      throw ValueError(fmt::format("MultiHeadAttention config: '{}' must be an integer or a list; received {}.", key,
                                   v->dump()));
    }
    for (const json& d : *v) out.push_back(r.integer_value(key, d));
    return out;
  };
  o.output_shape = int_list("output_shape").value_or(std::vector<int64_t>{});
  o.attention_axes = int_list("attention_axes");
  if (r.has("kernel_initializer")) o.kernel_initializer = Initializer::deserialize(r.at("kernel_initializer"));
  if (r.has("bias_initializer")) o.bias_initializer = Initializer::deserialize(r.at("bias_initializer"));
  o.seed = r.maybe<uint64_t>("seed");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return MultiHeadAttention(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(MultiHeadAttention);

}  // namespace minidl::layers
