// Attention (dot / concat): Keras 3's attention_test.py ported case by case (numbers from
// shared/reference/keras-tests-k3.md section 2).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Attention;

namespace {

// A subclass that exposes the protected score function (Keras's _calculate_scores test).
class ScoresProbe : public Attention {
 public:
  using Attention::Attention;
  md::Tensor scores(const md::Tensor& q, const md::Tensor& k) { return calculate_scores(q, k); }
};

}  // namespace

TEST_CASE("Attention passes run_layer_test (Keras test_attention_basics)", "[layers][attention]") {
  SECTION("score_mode=dot, dropout=0.5") {
    lt::run_layer_test<Attention>({.score_mode = "dot", .dropout = 0.5},
                                  {.input_shapes = {{2, 3, 4}, {2, 4, 4}},
                                   .expected_output_shape = {2, 3, 4},
                                   .expected_trainable_weights = 0,
                                   .supports_masking = true});
  }
  SECTION("use_scale=True, score_mode=concat, dropout=0.5") {
    lt::run_layer_test<Attention>({.use_scale = true, .score_mode = "concat", .dropout = 0.5},
                                  {.input_shapes = {{2, 3, 4}, {2, 4, 4}},
                                   .expected_output_shape = {2, 3, 4},
                                   .expected_trainable_weights = 2,
                                   .supports_masking = true});
  }
  SECTION("dot with use_scale, key given") {
    lt::run_layer_test<Attention>({.use_scale = true},
                                  {.input_shapes = {{2, 3, 4}, {2, 5, 3}, {2, 5, 4}},
                                   .expected_output_shape = {2, 3, 3},
                                   .expected_trainable_weights = 1,
                                   .supports_masking = true});
  }
}

TEST_CASE("Attention's weights are scalars initialised to 1", "[layers][attention]") {
  Attention attn({.use_scale = true, .score_mode = "concat"});
  attn.build({{2, 3, 4}, {2, 4, 4}});
  REQUIRE(attn.trainable_weights().size() == 2);
  for (const md::Variable& w : attn.trainable_weights()) {
    CHECK(w.shape() == md::Shape{});
    CHECK(w.value().item() == 1.0f);
  }
  CHECK(attn.trainable_weights()[0].name() == "scale");
  CHECK(attn.trainable_weights()[1].name() == "concat_score_weight");
}

TEST_CASE("Attention: seed is kept in the config (Keras 3.15 test_attention_seed_preserved_in_config)",
          "[layers][attention]") {
  Attention layer({.dropout = 0.5, .seed = 1337});
  const md::json config = layer.get_config();
  CHECK(config.at("seed") == 1337);
  CHECK(Attention::from_config(config).options().seed == 1337u);
}

TEST_CASE("Attention computes Keras's numbers (test_attention_correctness)", "[layers][attention]") {
  // attention_test.py::test_attention_correctness (keras-tests-k3.md 2.3), full precision.
  const md::Tensor query = md::Tensor::from_vector({1, 0, 0, 1}, {1, 2, 2});
  const md::Tensor key = md::Tensor::from_vector({0, 1, 1, 0}, {1, 2, 2});
  const md::Tensor value = md::Tensor::from_vector({1, 2, 3, 4}, {1, 2, 2});
  SECTION("dot") {
    Attention layer({.score_mode = "dot"});
    auto [output, scores] = layer.call_with_scores({query, value, key});
    lt::check_values(scores, {0.268941421f, 0.731058579f, 0.731058579f, 0.268941421f}, 1e-6, "values");
    lt::check_values(output, {2.46211716f, 3.46211716f, 1.53788284f, 2.53788284f}, 2e-6, "values");
  }
  SECTION("concat (equal to AdditiveAttention without scale)") {
    Attention layer({.score_mode = "concat"});
    auto [output, scores] = layer.call_with_scores({query, value, key});
    lt::check_values(scores, {0.636258328f, 0.363741672f, 0.363741672f, 0.636258328f}, 1e-6, "values");
    lt::check_values(output, {1.72748334f, 2.72748334f, 2.27251666f, 3.27251666f}, 2e-6, "values");
  }
  SECTION("concat with use_scale and trained weights: the fused path equals Keras's formula") {
    Attention layer({.use_scale = true, .score_mode = "concat"});
    layer.build({{1, 2, 2}, {1, 2, 2}});
    layer.set_weights({md::Tensor::scalar(0.7f), md::Tensor::scalar(-1.3f)});
    auto [output, scores] = layer.call_with_scores({query, value, key});
    // c * sum(tanh(s * (q + k))) per (i, j): q+k = [[1,1],[2,0]] / [[0,2],[1,1]].
    const double s = 0.7, c = -1.3;
    const double s00 = c * 2 * std::tanh(s), s01 = c * std::tanh(2 * s);
    const double w00 = 1.0 / (1.0 + std::exp(s01 - s00));
    lt::check_values(scores, {float(w00), float(1 - w00), float(1 - w00), float(w00)}, 1e-6, "values");
  }
}

TEST_CASE("Attention applies masks as Keras does (test_attention_with_mask)", "[layers][attention]") {
  Attention layer;
  const md::Tensor query = md::Tensor::from_vector({1, 0, 0, 1}, {1, 2, 2});
  const md::Tensor value = md::Tensor::from_vector({1, 1, 1, 1}, {1, 2, 2});
  auto [output, scores] =
      layer.call_with_scores({query, value}, {.mask = {lt::bools({1, 0}, {1, 2}), lt::bools({1, 0}, {1, 2})}});
  lt::check_values(output, {1, 1, 0, 0}, 1e-6, "values");
  lt::check_values(scores, {1, 0, 1, 0}, 1e-6, "values");
}

TEST_CASE("Attention applies a 2-D value mask per batch element (Keras 3.12 test_attention_2D_mask_shape_mismatch)",
          "[layers][attention]") {
  const md::Tensor query = md::random::normal({2, 3, 5}, 0.0f, 1.0f, 1);
  const md::Tensor value = md::random::normal({2, 4, 5}, 0.0f, 1.0f, 2);
  const md::Tensor qmask = lt::bools({1, 0, 1, 1, 0, 1}, {2, 3});
  const md::Tensor vmask = lt::bools({1, 0, 1, 1, 0, 1, 1, 1}, {2, 4});
  Attention dot;
  Attention concat({.score_mode = "concat"});
  for (Attention* layer : {&dot, &concat}) {
    auto [output, scores] = layer->call_with_scores({query, value}, {.mask = {qmask, vmask}});
    CHECK(output.shape() == md::Shape{2, 3, 5});
    CHECK(scores.shape() == md::Shape{2, 3, 4});
    const std::vector<float> w = scores.to_vector();
    for (int64_t b = 0; b < 2; ++b) {
      for (int64_t i = 0; i < 3; ++i) {
        for (int64_t j = 0; j < 4; ++j) {
          if (vmask.to_vector()[b * 4 + j] == 0.0f) CHECK(w[(b * 3 + i) * 4 + j] == 0.0f);
        }
      }
    }
  }
}

TEST_CASE("Attention input and mask errors carry Keras's texts (test_attention_errors)", "[layers][attention]") {
  Attention layer;
  const md::Tensor tensor = md::Tensor::from_vector({1, 1, 1, 1}, {1, 2, 2});
  CHECK_THROWS_WITH(layer(tensor), "Attention layer must be called on a list of inputs, namely [query, value] or "
                                   "[query, value, key]. Received: inputs=(1, 2, 2).");
  CHECK_THROWS_WITH(layer({tensor, tensor, tensor, tensor}),
                    "Attention layer accepts inputs list of length 2 or 3, namely [query, value] or [query, value, "
                    "key]. Received length: 4.");
  md::CallArgs args = md::CallArgs::of({tensor, tensor});
  args.set_kwarg("mask", args.ref(tensor));
  CHECK_THROWS_WITH(layer.invoke(args), Catch::StartsWith("Attention layer mask must be a list, namely [query_mask, "
                                                          "value_mask]. Received: mask="));
  CHECK(layer.weights().empty());
  CHECK_THROWS_WITH(layer({tensor, tensor}, {.mask = {tensor}}),
                    Catch::StartsWith("Attention layer accepts mask list of length 2 or 3. Received: inputs="));
}

TEST_CASE("Attention with dropout differs from without in training (test_attention_with_dropout)",
          "[layers][attention]") {
  const md::Tensor query = md::Tensor::from_vector({1, 0, 0, 1}, {1, 2, 2});
  const md::Tensor value = md::Tensor::from_vector({1, 1, 1, 1}, {1, 2, 2});
  Attention dropping({.dropout = 0.2});
  Attention plain;
  auto [o1, s1] = dropping.call_with_scores({query, value}, {.training = true});
  auto [o2, s2] = plain.call_with_scores({query, value}, {.training = true});
  lt::check_values(s2, {0.5, 0.5, 0.5, 0.5}, 1e-6, "values");
  lt::check_values(o2, {1, 1, 1, 1}, 1e-6, "values");
  CHECK(s1.to_vector() != s2.to_vector());
  CHECK(o1.to_vector() != o2.to_vector());
  for (float w : s1.to_vector()) CHECK((w == 0.0f || w == Approx(0.625f)));  // 0.5 / 0.8
}

TEST_CASE("Attention rejects an unknown score_mode (test_attention_invalid_score_mode)", "[layers][attention]") {
  CHECK_THROWS_WITH(Attention({.score_mode = "invalid_mode"}),
                    "Invalid value for argument score_mode. Expected one of {'dot', 'concat'}. Received: "
                    "score_mode=invalid_mode");
  CHECK_THROWS_AS(Attention({.score_mode = "invalid_mode"}), md::ValueError);
}

TEST_CASE("Attention dot scores with use_scale (test_attention_calculate_scores_with_scale)", "[layers][attention]") {
  ScoresProbe layer({.use_scale = true, .score_mode = "dot"});
  layer.build({{2, 3, 4}, {2, 4, 4}});
  const md::Tensor q = md::random::normal({2, 3, 4}, 0.0f, 1.0f, 3);
  const md::Tensor k = md::random::normal({2, 4, 4}, 0.0f, 1.0f, 4);
  const md::Tensor expected = md::ops::multiply(md::ops::matmul(q, md::ops::swapaxes(k, 1, 2)), layer.scale().value());
  lt::check_values(layer.scores(q, k), expected.to_vector(), 1e-6, "values");
}

TEST_CASE("score_keep_mask reproduces Keras's _calculate_score_mask", "[layers][attention]") {
  // attention_test.py's _calculate_score_mask tests (keras-tests-k3.md 2.10).
  CHECK(!md::ops::score_keep_mask({}, 3, 4).defined());
  const md::Tensor causal = md::ops::score_keep_mask({.causal = true}, 3, 4);
  CHECK(causal.shape() == md::Shape{1, 3, 4});
  CHECK(causal.to_vector() == std::vector<float>{1, 0, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0});
  const md::Tensor both = md::ops::score_keep_mask({.value_mask = lt::bools({1, 0, 1, 0}, {1, 4}), .causal = true}, 3, 4);
  CHECK(both.to_vector() == std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0});
}

TEST_CASE("Attention::compute_mask returns the query mask unchanged (Keras's compute_mask tests)",
          "[layers][attention]") {
  Attention layer;
  const md::Tensor x = md::Tensor::zeros({1, 3, 2});
  const md::CallArgs args = md::CallArgs::of({x, x});
  CHECK(!layer.compute_mask(args, {}).defined());
  CHECK(!layer.compute_mask(args, {md::Tensor(), lt::bools({1, 0, 1}, {3})}).defined());
  const md::Tensor m = lt::bools({1, 0, 1}, {3});
  CHECK(layer.compute_mask(args, {m, lt::bools({0, 1, 0}, {3})}).to_vector() == m.to_vector());
  const md::Tensor f = md::Tensor::from_vector({1.f, 0.f, 1.f}, {3});
  const md::Tensor fm = layer.compute_mask(args, {f, md::Tensor::from_vector({0.f, 1.f, 0.f}, {3})});
  CHECK(fm.dtype() == md::DType::float32);
  CHECK(fm.to_vector() == f.to_vector());
  CHECK(layer.compute_mask(args, {lt::bools({1}, {1}), lt::bools({0}, {1})}).shape() == md::Shape{1});
  for (const auto& v : {std::vector<float>{1, 1, 1}, {0, 0, 0}, {1, 0, 1}}) {
    const md::Tensor mm = lt::bools(v, {3});
    CHECK(layer.compute_mask(args, {mm, mm}).to_vector() == v);
  }
  // No shape validation against the inputs.
  const md::CallArgs odd = md::CallArgs::of({md::Tensor::zeros({2, 3, 4}), md::Tensor::zeros({3, 2, 5})});
  CHECK(layer.compute_mask(odd, {m, lt::bools({0, 1, 0}, {3})}).to_vector() == m.to_vector());
}

TEST_CASE("Attention output shape is the query shape with the value feature size (test_attention_compute_output_shape)",
          "[layers][attention]") {
  Attention layer;
  const md::Tensor q = md::random::normal({2, 3, 4}, 0.0f, 1.0f, 1);
  const md::Tensor v = md::random::normal({2, 3, 5}, 0.0f, 1.0f, 2);
  const md::Tensor k = md::random::normal({2, 3, 4}, 0.0f, 1.0f, 3);
  CHECK(layer({q, v, k}).shape() == md::Shape{2, 3, 5});
  CHECK(layer.compute_output_shape({{2, 3, 4}, {2, 3, 5}, {2, 3, 4}}).shape() == md::Shape{2, 3, 5});
}

TEST_CASE("Attention returns scores eagerly and symbolically (test_return_attention_scores_*)", "[layers][attention]") {
  Attention layer;
  auto [out, scores] = layer.call_with_scores(
      {md::random::normal({2, 8, 16}, 0.0f, 1.0f, 1), md::random::normal({2, 4, 16}, 0.0f, 1.0f, 2)});
  CHECK(out.shape() == md::Shape{2, 8, 16});
  CHECK(scores.shape() == md::Shape{2, 8, 4});
  const md::Tensor x = md::Input({3, 5});
  const md::Tensor y = md::Input({4, 5});
  auto [sym_out, sym_scores] = layer.call_with_scores({x, y});
  CHECK(sym_out.shape() == md::Shape{md::None, 3, 5});
  CHECK(sym_scores.shape() == md::Shape{md::None, 3, 4});
  CHECK(layer({x, y}).shape() == md::Shape{md::None, 3, 5});
  CHECK(layer.compute_output_shape({{md::None, 3, 5}, {md::None, 4, 5}}).shape() == md::Shape{md::None, 3, 5});
}

TEST_CASE("Attention config has Keras's keys and order", "[layers][attention]") {
  md::clear_session();
  Attention layer({.use_scale = true, .score_mode = "concat", .dropout = 0.5});
  CHECK(layer.get_config().dump() == md::json{{"name", "attention"},
                                              {"trainable", true},
                                              {"dtype", lt::dtype_policy()},
                                              {"use_scale", true},
                                              {"score_mode", "concat"},
                                              {"dropout", 0.5},
                                              {"seed", nullptr}}
                                         .dump());
}
