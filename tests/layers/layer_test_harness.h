#pragma once
// run_layer_test: Keras's testing.TestCase.run_layer_test for minidl layers, in one call.
//
//   lt::run_layer_test<md::layers::Dense>({.units = 3},
//                                         {.input_shape = {2, 4},
//                                          .expected_output_shape = {2, 3},
//                                          .expected_trainable_weights = 2,
//                                          .supports_masking = true});
//
// The first argument is the layer's Options struct (every layer has `using Options = ...`); the
// second says how to call it and what to expect. Each stage uses fresh layers, as Keras does:
//   1. construction: built() (true only for layers Keras builds in __init__), supports_masking;
//   2. configs of the unbuilt layer: get_config() keys start name/trainable/dtype,
//      get_config() -> from_config() -> get_config() is identical, and
//      serialize -> JSON text -> parse -> md::deserialize -> serialize is identical;
//   3. explicit build(input_shape): built(), weight counts, count_params(), build_config, and
//      the configs of the built layer round-trip the same way (weights keep their shapes);
//   4. compute_output_shape(input_shape) equals the expected shape;
//   5. a symbolic call on md::Input tensors: symbolic output of the expected shape, equal to
//      compute_output_shape, with a graph node; again with an unknown (None) batch axis;
//   6. an eager call on random (or given) data: shape, values when given;
//   7. a GradientTape gradient of sum(output * R) to every input and trainable weight: defined
//      (undefined for integer inputs), the right shape, finite; then finite differences:
//      md::testing::gradcheck for the inputs and a five-point stencil for every weight;
//   8. masks: when input_masks or an expected_output_mask is given, the output mask of an
//      eager call (masks passed explicitly, then attached to the inputs) and of a symbolic
//      call is what Keras's compute_mask gives;
//   9. get_weights()/set_weights() round trip, and set_weights errors with Keras's texts.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

namespace md = minidl;

namespace lt {

struct LayerTestSpec {
  // ---- how to call the layer -------------------------------------------------------------
  md::Shape input_shape{};                // one input (batch axis included) ...
  std::vector<md::Shape> input_shapes{};  // ... or a list of inputs (merging layers)
  md::DType input_dtype = md::DType::float32;
  int64_t int_input_high = 8;             // int32 inputs are drawn from [0, int_input_high)
  std::vector<md::Tensor> input_data{};   // explicit inputs instead of random ones
  std::optional<bool> training{};         // passed to every call
  std::vector<md::Tensor> input_masks{};  // one per input (undefined = none); given to mask checks and gradients

  // ---- what to expect ----------------------------------------------------------------------
  md::Shape expected_output_shape{};      // md::None matches any size
  std::vector<float> expected_output{};   // values of the eager call on input_data
  double output_tolerance = 1e-5;
  size_t expected_trainable_weights = 0;
  size_t expected_non_trainable_weights = 0;
  bool supports_masking = false;
  bool built_after_construction = false;  // Keras's assert_built_after_instantiation
  // The build_config of the built layer when it is not {"input_shape": <the build shape>}
  // (MultiHeadAttention's {"shapes_dict": ...}).
  std::optional<md::json> expected_build_config{};
  // The output mask of a call (with input_masks when given); an undefined tensor means none.
  std::optional<md::Tensor> expected_output_mask{};

  // ---- gradients ---------------------------------------------------------------------------
  bool input_differentiable = true;       // false for integer inputs (Embedding)
  bool gradcheck = true;                  // finite differences; only where the layer is smooth
  double gradcheck_tolerance = 1e-2;
  int64_t gradcheck_max_elements = 48;    // per tensor
  bool check_unknown_batch = true;        // the symbolic call with a None batch axis
  uint64_t seed = 20240601;
};

// ---- small helpers -----------------------------------------------------------------------

template <class L>
std::shared_ptr<L> make_layer(const typename L::Options& options) {
  if constexpr (std::is_same_v<L, md::layers::InputLayer>) {
    return md::layers::InputLayer::create(options);
  } else {
    return std::make_shared<L>(options);
  }
}

template <class T>
struct is_shared_ptr : std::false_type {};
template <class T>
struct is_shared_ptr<std::shared_ptr<T>> : std::true_type {};

// from_config returns the layer by value (InputLayer: a shared_ptr); either way, a shared_ptr.
template <class T>
auto to_shared(T&& layer) {
  using U = std::decay_t<T>;
  if constexpr (is_shared_ptr<U>::value) {
    return U(std::forward<T>(layer));
  } else {
    return std::make_shared<U>(std::forward<T>(layer));
  }
}

// A mask or condition tensor from 0/1 values.
inline md::Tensor bools(const std::vector<float>& v, const md::Shape& s) {
  return md::Tensor::from_vector(v, s, md::DType::bool_);
}

inline bool list_input(const LayerTestSpec& spec) { return !spec.input_shapes.empty(); }

inline std::vector<md::Shape> shapes_of(const LayerTestSpec& spec) {
  if (!spec.input_data.empty()) {
    std::vector<md::Shape> out;
    for (const md::Tensor& t : spec.input_data) out.push_back(t.shape());
    return out;
  }
  return list_input(spec) ? spec.input_shapes : std::vector<md::Shape>{spec.input_shape};
}

inline md::ShapeSpec build_shape_of(const LayerTestSpec& spec) {
  const auto shapes = shapes_of(spec);
  return list_input(spec) ? md::ShapeSpec::list(shapes) : md::ShapeSpec(shapes.at(0));
}

inline std::string str(const md::Shape& s) { return md::shape_to_string(s); }

inline bool shape_matches(const md::Shape& actual, const md::Shape& expected) {
  if (actual.size() != expected.size()) return false;
  for (size_t i = 0; i < actual.size(); ++i) {
    if (expected[i] != md::None && expected[i] != actual[i]) return false;
  }
  return true;
}

inline bool all_finite(const md::Tensor& t) {
  for (float v : t.to_vector()) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

inline void check_values(const md::Tensor& actual, const std::vector<float>& expected, double tolerance,
                         const std::string& what) {
  INFO(what);
  REQUIRE(actual.is_concrete());
  const std::vector<float> a = actual.to_vector();
  REQUIRE(a.size() == expected.size());
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("element " << i << ": got " << a[i] << ", expected " << expected[i]);
    CHECK(std::fabs(static_cast<double>(a[i]) - expected[i]) <= tolerance * (1.0 + std::fabs(expected[i])));
  }
}

// Truth values (non-zero = keep) of two masks, or both none.
inline void check_mask(const md::Tensor& actual, const md::Tensor& expected, const std::string& what) {
  INFO(what);
  if (!expected.defined()) {
    CHECK_FALSE(actual.defined());
    return;
  }
  REQUIRE(actual.defined());
  REQUIRE(actual.shape() == expected.shape());
  if (actual.is_symbolic()) return;
  const auto a = actual.to_vector();
  const auto e = expected.to_vector();
  for (size_t i = 0; i < a.size(); ++i) {
    INFO("mask element " << i);
    CHECK((a[i] != 0.0f) == (e[i] != 0.0f));
  }
}

inline md::Tensor random_input(const md::Shape& shape, const LayerTestSpec& spec, uint64_t seed) {
  if (spec.input_dtype == md::DType::int32) {
    std::vector<float> v = md::random::uniform(shape, 0.0f, static_cast<float>(spec.int_input_high), seed).to_vector();
    for (float& x : v) x = std::floor(x);
    return md::Tensor::from_vector(v, shape, md::DType::int32);
  }
  return md::random::uniform(shape, -1.0f, 1.0f, seed);
}

inline std::vector<md::Tensor> make_inputs(const LayerTestSpec& spec) {
  if (!spec.input_data.empty()) {
    std::vector<md::Tensor> out;
    for (const md::Tensor& t : spec.input_data) out.push_back(t.clone());
    return out;
  }
  std::vector<md::Tensor> out;
  uint64_t seed = spec.seed;
  for (const md::Shape& s : shapes_of(spec)) out.push_back(random_input(s, spec, seed++));
  return out;
}

inline std::vector<md::Tensor> symbolic_inputs(const LayerTestSpec& spec, bool unknown_batch) {
  std::vector<md::Tensor> out;
  const md::DType dtype = spec.input_data.empty() ? spec.input_dtype : spec.input_data[0].dtype();
  for (md::Shape s : shapes_of(spec)) {
    if (unknown_batch && !s.empty()) s[0] = md::None;
    out.push_back(md::Input(md::layers::InputLayerOptions{.batch_shape = s, .dtype = md::dtype_name(dtype)}));
  }
  return out;
}

inline md::Tensor call(md::Layer& layer, const std::vector<md::Tensor>& inputs, const LayerTestSpec& spec,
                       std::vector<md::Tensor> masks = {}) {
  const md::CallOptions options{.mask = std::move(masks), .training = spec.training};
  return list_input(spec) ? layer(inputs, options) : layer(inputs.at(0), options);
}

// Keras 3's serialized dtype policy, as every layer config holds it.
inline md::json dtype_policy(const std::string& name = "float32") {
  return {{"module", "keras"}, {"class_name", "DTypePolicy"}, {"config", {{"name", name}}}, {"registered_name", nullptr}};
}

// ---- the stages --------------------------------------------------------------------------

// get_config -> from_config -> get_config, and serialize -> text -> parse -> deserialize ->
// serialize, both identical.
template <class L>
void check_config_round_trip(L& layer, const std::string& stage) {
  INFO("config round trip (" << stage << ") of layer '" << layer.name() << "'");
  const md::json config = layer.get_config();
  REQUIRE(config.is_object());
  CHECK(config["name"] == layer.name());
  if constexpr (!std::is_same_v<L, md::layers::InputLayer> && !std::is_same_v<L, md::layers::SpatialDropout1D> &&
                !std::is_same_v<L, md::layers::SpatialDropout2D>) {
    // Keras's Layer.get_config keys come first (InputLayer writes its own set, and Keras's
    // SpatialDropout its own: rate, seed, name, dtype).
    REQUIRE(config.size() >= 3);
    auto it = config.begin();
    CHECK(it.key() == "name");
    CHECK((++it).key() == "trainable");
    CHECK((++it).key() == "dtype");
    CHECK(config["trainable"] == layer.trainable());
  }

  auto again = to_shared(L::from_config(config));
  CHECK(again->get_config() == config);
  CHECK(again->name() == layer.name());

  const md::json object = md::serialize(layer);
  CHECK(object["class_name"] == layer.class_name());
  CHECK(object["config"] == config);
  const std::string text = object.dump();
  const md::json parsed = md::json::parse(text);
  CHECK(parsed == object);
  std::shared_ptr<md::Layer> restored = md::deserialize(parsed);
  REQUIRE(restored);
  CHECK(dynamic_cast<L*>(restored.get()) != nullptr);
  CHECK(md::serialize(*restored) == object);
  CHECK(restored->built() == layer.built());
  const auto w0 = layer.weights();
  const auto w1 = restored->weights();
  REQUIRE(w1.size() == w0.size());
  for (size_t i = 0; i < w0.size(); ++i) {
    CHECK(w1[i].shape() == w0[i].shape());
    CHECK(w1[i].name() == w0[i].name());
  }
}

inline void check_weight_counts(const md::Layer& layer, const LayerTestSpec& spec, const std::string& stage) {
  INFO(stage << ": weights of layer '" << layer.name() << "'");
  CHECK(layer.built());
  CHECK(layer.trainable_weights().size() == spec.expected_trainable_weights);
  CHECK(layer.non_trainable_weights().size() == spec.expected_non_trainable_weights);
  CHECK(layer.weights().size() == spec.expected_trainable_weights + spec.expected_non_trainable_weights);
}

template <class L>
void check_build(const typename L::Options& options, const LayerTestSpec& spec) {
  auto layer = make_layer<L>(options);
  INFO("build of layer '" << layer->name() << "'");
  CHECK(layer->built() == spec.built_after_construction);
  CHECK(layer->supports_masking() == spec.supports_masking);
  CHECK_FALSE(md::serialize(*layer).contains("build_config"));
  check_config_round_trip(*layer, "unbuilt");

  const md::ShapeSpec shape = build_shape_of(spec);
  layer->build(shape);
  check_weight_counts(*layer, spec, "explicit build");
  int64_t params = 0;
  for (const md::Variable& v : layer->weights()) params += v.value().size();
  CHECK(layer->count_params() == params);
  const md::json object = md::serialize(*layer);
  if (spec.built_after_construction) {
    CHECK_FALSE(object.contains("build_config"));
  } else {
    REQUIRE(object.contains("build_config"));
    CHECK(object["build_config"] == spec.expected_build_config.value_or(md::json{{"input_shape", shape.to_json()}}));
  }
  check_config_round_trip(*layer, "built");
  // Building again is a no-op.
  const auto weights = layer->weights();
  layer->build(shape);
  CHECK(layer->weights().size() == weights.size());

  auto fresh = make_layer<L>(options);
  const md::ShapeSpec out = fresh->compute_output_shape(shape);
  INFO("compute_output_shape" << shape.to_string() << " = " << out.to_string() << ", expected "
                               << str(spec.expected_output_shape));
  CHECK(shape_matches(out.shape(), spec.expected_output_shape));
}

template <class L>
void check_symbolic_call(const typename L::Options& options, const LayerTestSpec& spec, bool unknown_batch) {
  auto layer = make_layer<L>(options);
  const std::vector<md::Tensor> inputs = symbolic_inputs(spec, unknown_batch);
  INFO("symbolic call of layer '" << layer->name() << "'" << (unknown_batch ? " with a None batch axis" : ""));
  const md::Tensor out = call(*layer, inputs, spec);
  REQUIRE(out.is_symbolic());
  md::Shape expected = spec.expected_output_shape;
  if (unknown_batch && !expected.empty()) expected[0] = md::None;
  INFO("output shape " << str(out.shape()) << ", expected " << str(expected));
  if (unknown_batch) {
    CHECK(out.shape() == expected);
  } else {
    CHECK(shape_matches(out.shape(), expected));
  }
  std::vector<md::Shape> in_shapes;
  for (const md::Tensor& t : inputs) in_shapes.push_back(t.shape());
  const md::ShapeSpec in_spec = list_input(spec) ? md::ShapeSpec::list(in_shapes) : md::ShapeSpec(in_shapes[0]);
  CHECK(layer->compute_output_shape(in_spec).shape() == out.shape());
  check_weight_counts(*layer, spec, "symbolic call");
  // The call is a graph node of this layer.
  if constexpr (!std::is_same_v<L, md::layers::InputLayer>) {
    CHECK(layer->inbound_nodes().size() == 1);
  }
  REQUIRE(out.impl()->history);
  CHECK(out.impl()->history->operation->name() == layer->name());
}

template <class L>
md::Tensor check_eager_call(const typename L::Options& options, const LayerTestSpec& spec) {
  auto layer = make_layer<L>(options);
  const std::vector<md::Tensor> inputs = make_inputs(spec);
  INFO("eager call of layer '" << layer->name() << "'");
  const md::Tensor out = call(*layer, inputs, spec);
  REQUIRE(out.is_concrete());
  INFO("output shape " << str(out.shape()) << ", expected " << str(spec.expected_output_shape));
  CHECK(shape_matches(out.shape(), spec.expected_output_shape));
  CHECK(all_finite(out));
  if (!spec.expected_output.empty()) check_values(out, spec.expected_output, spec.output_tolerance, "eager output");
  check_weight_counts(*layer, spec, "eager call");
  return out;
}

// sum(f(inputs) * R) in double, with no tape.
inline double projected(const md::Tensor& y, const md::Tensor& r) {
  const auto a = y.to_vector();
  const auto b = r.to_vector();
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

template <class L>
void check_gradients(const typename L::Options& options, const LayerTestSpec& spec) {
  // Unseeded initializers would draw from the system's entropy, and finite differences near
  // float32 noise then pass or fail by the draw (CI once read 0.0304 against MHA's 0.03): the
  // weights come from the spec's seed, so a failure reproduces.
  md::random::set_global_seed(spec.seed);
  auto layer = make_layer<L>(options);
  const std::vector<md::Tensor> inputs = make_inputs(spec);
  INFO("gradients through layer '" << layer->name() << "'");
  layer->build(build_shape_of(spec));
  const std::vector<md::Variable> weights = layer->trainable_weights();
  md::Tensor r;
  std::vector<md::Tensor> grads;
  {
    md::GradientTape tape;
    for (const md::Tensor& x : inputs) tape.watch(x);
    const md::Tensor y = call(*layer, inputs, spec, spec.input_masks);
    r = md::random::uniform(y.shape(), -1.0f, 1.0f, spec.seed + 101);
    const md::Tensor loss = md::ops::sum(md::ops::multiply(y, r));
    std::vector<md::GradSource> sources(inputs.begin(), inputs.end());
    sources.insert(sources.end(), weights.begin(), weights.end());
    grads = tape.gradient(loss, sources);
  }
  REQUIRE(grads.size() == inputs.size() + weights.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    INFO("gradient to input " << i);
    if (!spec.input_differentiable) {
      CHECK_FALSE(grads[i].defined());
      continue;
    }
    REQUIRE(grads[i].defined());
    CHECK(grads[i].shape() == inputs[i].shape());
    CHECK(all_finite(grads[i]));
  }
  for (size_t k = 0; k < weights.size(); ++k) {
    const md::Tensor& g = grads[inputs.size() + k];
    INFO("gradient to weight '" << weights[k].path() << "'");
    REQUIRE(g.defined());
    CHECK(g.shape() == weights[k].shape());
    CHECK(all_finite(g));
  }
  if (!spec.gradcheck) return;

  // Inputs: md::testing::gradcheck (tape against finite differences).
  if (spec.input_differentiable) {
    const auto fn = [&](const std::vector<md::Tensor>& in) { return call(*layer, in, spec, spec.input_masks); };
    const md::testing::GradcheckResult result =
        md::testing::gradcheck(fn, inputs, {.max_elements = spec.gradcheck_max_elements});
    INFO("gradcheck of the inputs: " << result.describe());
    CHECK(result.checked_elements > 0);
    CHECK(result.max_relative_error < spec.gradcheck_tolerance);
  }
  // Weights: the same five-point stencil, perturbing each variable in place.
  const double h = 1e-2;
  for (size_t k = 0; k < weights.size(); ++k) {
    const md::Tensor& analytic = grads[inputs.size() + k];
    float* p = weights[k].value().mutable_data();
    const int64_t n = weights[k].value().size();
    const int64_t stride = std::max<int64_t>(1, n / spec.gradcheck_max_elements);
    double worst = 0.0;
    for (int64_t e = 0; e < n; e += stride) {
      const float original = p[e];
      auto at = [&](double offset) {
        p[e] = static_cast<float>(original + offset);
        const double v = projected(call(*layer, inputs, spec, spec.input_masks), r);
        p[e] = original;
        return v;
      };
      const double numeric = (8.0 * (at(h) - at(-h)) - (at(2 * h) - at(-2 * h))) / (12.0 * h);
      const double a = analytic.data()[e];
      worst = std::max(worst, std::fabs(a - numeric) / std::max({std::fabs(a), std::fabs(numeric), 1e-3}));
    }
    INFO("finite differences of weight '" << weights[k].path() << "': max relative error " << worst);
    CHECK(worst < spec.gradcheck_tolerance);
  }
}

template <class L>
void check_masks(const typename L::Options& options, const LayerTestSpec& spec) {
  if (!spec.expected_output_mask) {
    REQUIRE(spec.input_masks.empty());  // masks without an expectation would test nothing
    return;
  }
  const md::Tensor expected = *spec.expected_output_mask;
  auto layer = make_layer<L>(options);
  INFO("masks of layer '" << layer->name() << "'");
  // Masks passed to the call.
  const std::vector<md::Tensor> inputs = make_inputs(spec);
  const md::Tensor out = call(*layer, inputs, spec, spec.input_masks);
  check_mask(out.keras_mask(), expected, "output mask, masks passed to the call");
  // The same masks attached to the inputs (Keras's _keras_mask), as an earlier layer leaves them.
  if (!spec.input_masks.empty()) {
    std::vector<md::Tensor> masked = make_inputs(spec);
    for (size_t i = 0; i < masked.size(); ++i) {
      if (i < spec.input_masks.size() && spec.input_masks[i].defined()) masked[i].set_keras_mask(spec.input_masks[i]);
    }
    const md::Tensor out2 = call(*layer, masked, spec);
    check_mask(out2.keras_mask(), expected, "output mask, masks attached to the inputs");
    check_values(out2, out.to_vector(), 0.0, "the output does not depend on how the masks arrive");
  }
  // A symbolic call gives a symbolic mask of the same shape, or none.
  std::vector<md::Tensor> symbolic_masks;
  for (const md::Tensor& m : spec.input_masks) {
    symbolic_masks.push_back(m.defined() ? md::Tensor::symbolic(m.shape(), md::DType::bool_) : md::Tensor());
  }
  auto layer2 = make_layer<L>(options);
  const md::Tensor sym = call(*layer2, symbolic_inputs(spec, false), spec, symbolic_masks);
  const md::Tensor sym_mask = sym.keras_mask();
  INFO("symbolic output mask");
  if (expected.defined()) {
    REQUIRE(sym_mask.defined());
    CHECK(sym_mask.is_symbolic());
    CHECK(sym_mask.shape() == expected.shape());
  } else {
    CHECK_FALSE(sym_mask.defined());
  }
}

template <class L>
void check_weights_round_trip(const typename L::Options& options, const LayerTestSpec& spec) {
  auto layer = make_layer<L>(options);
  layer->build(build_shape_of(spec));
  const std::vector<md::Variable> vars = layer->weights();
  if (vars.empty()) {
    CHECK(layer->get_weights().empty());
    CHECK_NOTHROW(layer->set_weights({}));
    return;
  }
  INFO("get_weights/set_weights of layer '" << layer->name() << "'");
  LayerTestSpec inference = spec;
  inference.training = false;
  const std::vector<md::Tensor> inputs = make_inputs(spec);
  const std::vector<md::Tensor> original = layer->get_weights();
  const md::Tensor y0 = call(*layer, inputs, inference);
  REQUIRE(original.size() == vars.size());
  std::vector<md::Tensor> fresh;
  for (size_t i = 0; i < vars.size(); ++i) {
    CHECK(original[i].shape() == vars[i].shape());
    fresh.push_back(md::random::uniform(vars[i].shape(), -0.5f, 0.5f, spec.seed + 1000 + i));
  }
  layer->set_weights(fresh);
  const std::vector<md::Tensor> got = layer->get_weights();
  for (size_t i = 0; i < vars.size(); ++i) check_values(got[i], fresh[i].to_vector(), 0.0, "weight after set_weights");
  // get_weights returns copies.
  got[0].mutable_data()[0] += 100.0f;
  CHECK(layer->get_weights()[0].to_vector() == fresh[0].to_vector());
  CHECK(call(*layer, inputs, inference).to_vector() != y0.to_vector());
  layer->set_weights(original);
  check_values(call(*layer, inputs, inference), y0.to_vector(), 0.0, "output after restoring the weights");
  // Keras's errors.
  std::vector<md::Tensor> short_list(original.begin(), original.end() - 1);
  CHECK_THROWS_WITH(layer->set_weights(short_list),
                    "You called `set_weights(weights)` on layer '" + layer->name() + "' with a weight list of length " +
                        std::to_string(short_list.size()) + ", but the layer was expecting " +
                        std::to_string(vars.size()) + " weights.");
  std::vector<md::Tensor> wrong = original;
  md::Shape bad = wrong[0].shape();
  bad.push_back(2);
  wrong[0] = md::Tensor::zeros(bad);
  CHECK_THROWS_WITH(layer->set_weights(wrong), "Layer " + layer->name() + " weight '" + vars[0].path() +
                                                   "' (index 0) shape " + str(vars[0].shape()) +
                                                   " is not compatible with provided weight shape " + str(bad) + ".");
}

// ---- the one call ------------------------------------------------------------------------

template <class L>
void run_layer_test(const typename L::Options& options, const LayerTestSpec& spec) {
  REQUIRE((!spec.input_shape.empty() || !spec.input_shapes.empty() || !spec.input_data.empty()));
  REQUIRE(!spec.expected_output_shape.empty());
  REQUIRE(spec.input_masks.size() <= shapes_of(spec).size());
  check_build<L>(options, spec);
  check_symbolic_call<L>(options, spec, /*unknown_batch=*/false);
  if (spec.check_unknown_batch) check_symbolic_call<L>(options, spec, /*unknown_batch=*/true);
  check_eager_call<L>(options, spec);
  check_gradients<L>(options, spec);
  check_masks<L>(options, spec);
  check_weights_round_trip<L>(options, spec);
}

}  // namespace lt
