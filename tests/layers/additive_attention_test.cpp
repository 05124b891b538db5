// AdditiveAttention: Keras 3's additive_attention_test.py ported case by case (numbers from
// shared/reference/keras-tests-k3.md section 1), plus the config, masks, causal mask, N-D inputs
// and the functional round trip with the scores as a second output.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::AdditiveAttention;

TEST_CASE("AdditiveAttention passes run_layer_test (Keras test_attention_basics)", "[layers][attention]") {
  SECTION("use_scale=True, dropout=0.5") {
    lt::run_layer_test<AdditiveAttention>({.use_scale = true, .dropout = 0.5},
                                          {.input_shapes = {{2, 3, 4}, {2, 4, 4}},
                                           .expected_output_shape = {2, 3, 4},
                                           .expected_trainable_weights = 1,
                                           .supports_masking = true});
  }
  SECTION("use_scale=False, dropout=0.5") {
    lt::run_layer_test<AdditiveAttention>({.use_scale = false, .dropout = 0.5},
                                          {.input_shapes = {{2, 3, 4}, {2, 4, 4}},
                                           .expected_output_shape = {2, 3, 4},
                                           .expected_trainable_weights = 0,
                                           .supports_masking = true});
  }
  SECTION("key given, Tq != Tv, Dv != D, with masks (the output mask is the query mask)") {
    const md::Tensor qmask = lt::bools({1, 1, 0, 1, 0, 1}, {2, 3});
    const md::Tensor vmask = lt::bools({1, 0, 1, 1, 1, 1, 0, 1}, {2, 4});
    lt::run_layer_test<AdditiveAttention>({},
                                          {.input_shapes = {{2, 3, 5}, {2, 4, 2}, {2, 4, 5}},
                                           .input_masks = {qmask, vmask},
                                           .expected_output_shape = {2, 3, 2},
                                           .expected_trainable_weights = 1,
                                           .supports_masking = true,
                                           .expected_output_mask = qmask});
  }
}

TEST_CASE("AdditiveAttention's scale is (query_dim,), glorot-uniform and trainable", "[layers][attention]") {
  AdditiveAttention attn;
  attn.build({{2, 3, 4}, {2, 5, 4}});
  REQUIRE(attn.trainable_weights().size() == 1);
  const md::Variable& scale = attn.scale();
  CHECK(scale.shape() == md::Shape{4});
  CHECK(scale.trainable());
  // glorot_uniform on a (4,) weight: fan_in = fan_out = 4, limit = sqrt(6 / 8).
  for (float s : scale.value().to_vector()) CHECK(std::abs(s) <= std::sqrt(6.0 / 8.0));
}

TEST_CASE("AdditiveAttention computes Keras's numbers (test_attention_correctness)", "[layers][attention]") {
  // keras/src/layers/attention/additive_attention_test.py::test_attention_correctness; the
  // full-precision values are Keras's float32 results (keras-tests-k3.md 1.2), so the
  // tolerance is 1e-6 rather than the test's rounded 1e-3.
  const md::Tensor query = md::Tensor::from_vector({1, 0, 0, 1}, {1, 2, 2});
  const md::Tensor key = md::Tensor::from_vector({0, 1, 1, 0}, {1, 2, 2});
  const md::Tensor value = md::Tensor::from_vector({1, 2, 3, 4}, {1, 2, 2});
  AdditiveAttention layer({.use_scale = false});
  auto [output, scores] = layer.call_with_scores({query, value, key});
  lt::check_values(scores, {0.636258328f, 0.363741672f, 0.363741672f, 0.636258328f}, 1e-6, "values");
  lt::check_values(output, {1.72748334f, 2.72748334f, 2.27251666f, 3.27251666f}, 2e-6, "values");
}

TEST_CASE("AdditiveAttention applies query and value masks as Keras does (test_attention_with_mask)",
          "[layers][attention]") {
  // additive_attention_test.py::test_attention_with_mask (keras-tests-k3.md 1.3).
  AdditiveAttention layer({.use_scale = false});
  const md::Tensor query = md::Tensor::from_vector({1, 0, 0, 1}, {1, 2, 2});
  const md::Tensor value = md::Tensor::from_vector({1, 1, 1, 1}, {1, 2, 2});
  const md::Tensor query_mask = lt::bools({1, 0}, {1, 2});
  const md::Tensor value_mask = lt::bools({1, 0}, {1, 2});
  auto [output, scores] = layer.call_with_scores({query, value}, {.mask = {query_mask, value_mask}});
  lt::check_values(output, {1, 1, 0, 0}, 1e-6, "values");
  lt::check_values(scores, {1, 0, 1, 0}, 1e-6, "values");
}

TEST_CASE("AdditiveAttention input and mask errors carry Keras's texts (test_attention_errors)",
          "[layers][attention]") {
  // additive_attention_test.py::test_attention_errors: one layer reused for all four calls.
  AdditiveAttention layer;
  const md::Tensor tensor = md::Tensor::from_vector({1, 1, 1, 1}, {1, 2, 2});
  CHECK_THROWS_WITH(layer(tensor), "AdditiveAttention layer must be called on a list of inputs, namely [query, value] "
                                   "or [query, value, key]. Received: inputs=(1, 2, 2).");
  CHECK_THROWS_WITH(layer({tensor, tensor, tensor, tensor}),
                    "AdditiveAttention layer accepts inputs list of length 2 or 3, namely [query, value] or [query, "
                    "value, key]. Received length: 4.");
  {
    md::CallArgs args = md::CallArgs::of({tensor, tensor});
    args.set_kwarg("mask", args.ref(tensor));  // a single tensor, not a list
    CHECK_THROWS_WITH(layer.invoke(args),
                      Catch::Contains("AdditiveAttention layer mask must be a list, namely [query_mask, value_mask]. "
                                      "Received: mask=Tensor(shape=(1, 2, 2)"));
  }
  CHECK(layer.built());  // the build succeeded before the call failed, as in Keras
  CHECK(layer.scale().shape() == md::Shape{2});
  CHECK_THROWS_WITH(layer({tensor, tensor}, {.mask = {tensor}}),
                    Catch::StartsWith("AdditiveAttention layer accepts mask list of length 2 or 3. Received: inputs=["));
}

TEST_CASE("AdditiveAttention names both shapes when they cannot attend (Keras has no check)", "[layers][attention]") {
  AdditiveAttention layer;
  const md::Tensor q = md::Tensor::zeros({2, 3, 4});
  CHECK_THROWS_AS(layer({q, md::Tensor::zeros({2, 5, 4}), md::Tensor::zeros({2, 5, 3})}), md::ShapeError);
  CHECK_THROWS_WITH(layer({q, md::Tensor::zeros({2, 5, 4}), md::Tensor::zeros({2, 5, 3})}),
                    "AdditiveAttention layer: query shape (2, 3, 4) and key shape (2, 5, 3) must have the same last "
                    "dimension.");
  CHECK_THROWS_WITH(layer({q, md::Tensor::zeros({2, 5, 4}), md::Tensor::zeros({2, 6, 4})}),
                    "AdditiveAttention layer: key shape (2, 6, 4) and value shape (2, 5, 4) must have the same length "
                    "(axis -2).");
  const md::Tensor v = md::Tensor::zeros({2, 5, 4});
  CHECK_THROWS_WITH(layer({q, v}, {.mask = {md::Tensor(), lt::bools({1, 1, 1}, {1, 3})}}),
                    "AdditiveAttention layer: the value mask has shape (1, 3) but value shape (2, 5, 4) needs (2, 5).");
  CHECK_THROWS_WITH(layer({q, v}, {.mask = {lt::bools({1, 1}, {2, 1}), md::Tensor()}}),
                    "AdditiveAttention layer: the query mask has shape (2, 1) but query shape (2, 3, 4) needs (2, 3).");
}

TEST_CASE("AdditiveAttention's causal mask is top-left anchored and AND-ed with the value mask",
          "[layers][attention]") {
  AdditiveAttention layer({.use_scale = false});
  const md::Tensor q = md::random::normal({1, 3, 2}, 0.0, 1.0, 7);
  const md::Tensor v = md::random::normal({1, 4, 2}, 0.0, 1.0, 8);
  const md::Tensor vmask = lt::bools({1, 0, 1, 1}, {1, 4});
  auto [out, w] = layer.call_with_scores({q, v}, {.mask = {md::Tensor(), vmask}, .use_causal_mask = true});
  const std::vector<float> weights = w.to_vector();
  // keep = [[1,0,0,0],[1,0,0,0],[1,0,1,0]] (keras-tests-k3.md 2.10): query 0 and 1 see key 0 only.
  const std::vector<int> keep = {1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 1, 0};
  for (size_t i = 0; i < keep.size(); ++i) {
    INFO("weight " << i);
    if (!keep[i]) CHECK(weights[i] == 0.0f);
  }
  CHECK(weights[0] == Approx(1.0f));
  CHECK(weights[4] == Approx(1.0f));
  CHECK(weights[8] + weights[10] == Approx(1.0f));
}

TEST_CASE("AdditiveAttention: a fully masked row is uniform, as in Keras", "[layers][attention]") {
  AdditiveAttention layer;
  const md::Tensor q = md::random::normal({1, 2, 3}, 0.0, 1.0, 1);
  const md::Tensor v = md::random::normal({1, 4, 3}, 0.0, 1.0, 2);
  auto [out, w] = layer.call_with_scores({q, v}, {.mask = {md::Tensor(), lt::bools({0, 0, 0, 0}, {1, 4})}});
  for (float x : w.to_vector()) CHECK(x == Approx(0.25f));
}

TEST_CASE("AdditiveAttention dropout acts in training only and is reproducible from seed", "[layers][attention]") {
  const md::Tensor q = md::random::normal({2, 3, 4}, 0.0, 1.0, 3);
  const md::Tensor v = md::random::normal({2, 5, 4}, 0.0, 1.0, 4);
  AdditiveAttention a({.dropout = 0.4, .seed = 1337});
  AdditiveAttention b({.dropout = 0.4, .seed = 1337});
  a.build({{2, 3, 4}, {2, 5, 4}});
  b.build({{2, 3, 4}, {2, 5, 4}});
  b.set_weights(a.get_weights());
  auto [oa, wa] = a.call_with_scores({q, v}, {.training = true});
  auto [ob, wb] = b.call_with_scores({q, v}, {.training = true});
  CHECK(oa.to_vector() == ob.to_vector());
  auto [oi, wi] = a.call_with_scores({q, v});
  CHECK(wa.to_vector() != wi.to_vector());  // (test_attention_with_dropout: assertNotAllClose)
  // Kept weights are scaled by 1 / (1 - 0.4); dropped ones are 0.
  const auto dropped = wa.to_vector(), plain = wi.to_vector();
  for (size_t i = 0; i < dropped.size(); ++i) {
    if (dropped[i] != 0.0f) CHECK(dropped[i] == Approx(plain[i] / 0.6f).epsilon(1e-5));
  }
}

TEST_CASE("AdditiveAttention takes extra leading dims (Keras 3.15 test_attention_nd_inputs)", "[layers][attention]") {
  const md::Tensor q = md::random::normal({2, 8, 6, 4}, 0.0, 1.0, 5);
  const md::Tensor v = md::random::normal({2, 8, 6, 4}, 0.0, 1.0, 6);
  AdditiveAttention layer;
  CHECK(layer({q, v}).shape() == md::Shape{2, 8, 6, 4});
  auto [out, scores] = layer.call_with_scores({q, v});
  CHECK(scores.shape() == md::Shape{2, 8, 6, 6});
  // Each (b, h) slice is an independent 3-D problem.
  auto [slice_out, slice_scores] = layer.call_with_scores(
      {md::ops::reshape(q, {16, 6, 4}), md::ops::reshape(v, {16, 6, 4})});
  CHECK(slice_out.to_vector() == out.to_vector());
}

TEST_CASE("AdditiveAttention config: Keras's keys, order and envelope", "[layers][attention]") {
  md::clear_session();
  AdditiveAttention layer;
  const md::json config = layer.get_config();
  CHECK(config.dump() == md::json{{"name", "additive_attention"},
                                  {"trainable", true},
                                  {"dtype", lt::dtype_policy()},
                                  {"use_scale", true},
                                  {"dropout", 0.0},
                                  {"seed", nullptr}}
                             .dump());
  AdditiveAttention seeded({.use_scale = false, .dropout = 0.1, .seed = 1337});
  CHECK(seeded.get_config().at("dropout").dump() == "0.1");
  CHECK(AdditiveAttention::from_config(seeded.get_config()).get_config() == seeded.get_config());

  layer.build({{md::None, 3, 4}, {md::None, 4, 4}});
  const md::json s = md::serialize(layer);
  CHECK(s.at("module") == "keras.layers");
  CHECK(s.at("class_name") == "AdditiveAttention");
  CHECK(s.at("registered_name").is_null());
  CHECK(s.at("build_config").dump() == R"({"input_shape":[[null,3,4],[null,4,4]]})");
  auto again = md::deserialize(s);
  CHECK(again->get_config() == layer.get_config());
  CHECK(again->built());
}

TEST_CASE("AdditiveAttention reads a config Keras 3.3 wrote (no seed, dtype as a string)", "[layers][attention]") {
  const md::json keras33 = md::json::parse(
      R"({"name": "additive_attention", "trainable": true, "dtype": "float32", "use_scale": true, "dropout": 0.0})");
  const AdditiveAttention layer = AdditiveAttention::from_config(keras33);
  CHECK(layer.options().use_scale);
  CHECK(!layer.options().seed.has_value());
  CHECK_THROWS_WITH(AdditiveAttention::from_config(md::json{{"use_scale", "yes"}}),
                    Catch::Contains("use_scale"));
}

TEST_CASE("AdditiveAttention traces symbolically and a functional model can output the scores",
          "[layers][attention][models]") {
  md::clear_session();
  const md::Tensor q = md::Input({3, 4});
  const md::Tensor v = md::Input({5, 4});
  auto layer = std::make_shared<AdditiveAttention>();
  auto [out, scores] = layer->call_with_scores({q, v});
  CHECK(out.shape() == md::Shape{md::None, 3, 4});
  CHECK(scores.shape() == md::Shape{md::None, 3, 5});
  // A later call without the flag gives one output (3.15's test_symbolic_call_does_not_leak...).
  CHECK((*layer)({q, v}).shape() == md::Shape{md::None, 3, 4});

  md::Model model({q, v}, {out, scores});
  const md::Tensor xq = md::random::normal({2, 3, 4}, 0.0, 1.0, 11);
  const md::Tensor xv = md::random::normal({2, 5, 4}, 0.0, 1.0, 12);
  const std::vector<md::Tensor> y = model.call_all({xq, xv});
  REQUIRE(y.size() == 2);
  auto [eager_out, eager_scores] = layer->call_with_scores({xq, xv});
  CHECK(y[0].to_vector() == eager_out.to_vector());
  CHECK(y[1].to_vector() == eager_scores.to_vector());

  const md::json config = model.get_config();
  CHECK(config.at("output_layers").dump() ==
        R"([["additive_attention",0,0],["additive_attention",0,1]])");
  md::Model rebuilt = md::Model::from_config(config);
  CHECK(rebuilt.get_config() == config);
  rebuilt.set_weights(model.get_weights());
  const std::vector<md::Tensor> y2 = rebuilt.call_all({xq, xv});
  CHECK(y2[0].to_vector() == y[0].to_vector());
  CHECK(y2[1].to_vector() == y[1].to_vector());
}
