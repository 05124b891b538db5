// MultiHeadAttention: the layer harness (list form), Keras's shapes, weights, configs and error
// texts, the mask combinations and their effect on fully masked rows, causal masking, dropout,
// symbolic calls and functional models, and finite-difference gradients through the layer.
#include <minidl/minidl.h>
#include <minidl/models/weights_h5.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <random>

#include "../autograd/autograd_helpers.h"
#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::MultiHeadAttention;

namespace {

md::Tensor normal(const md::Shape& shape, uint64_t seed) { return md::random::normal(shape, 0.0f, 1.0f, seed); }

md::Tensor bools(const std::vector<float>& values, const md::Shape& shape) {
  return md::Tensor::from_vector(values, shape, md::DType::bool_);
}

}  // namespace

// The key bias has an exactly zero gradient (softmax ignores a per-row constant), so its finite
// differences are float32 noise: the tolerance allows 3% rather than 1%.
TEST_CASE("MultiHeadAttention passes run_layer_test (Keras's multi_head_attention_test basics)",
          "[layers][mha]") {
  SECTION("key_dim 2, self-attention shapes") {
    lt::run_layer_test<MultiHeadAttention>({.num_heads = 2, .key_dim = 2},
                                           {.input_shapes = {{2, 8, 16}, {2, 8, 16}},
                                            .expected_output_shape = {2, 8, 16},
                                            .expected_trainable_weights = 8,
                                            .supports_masking = true,
                                            .expected_build_config = md::json::parse(
                                                R"({"shapes_dict": {"query_shape": [2, 8, 16],
                                                                    "value_shape": [2, 8, 16]}})"),
                                            .gradcheck_tolerance = 3e-2,
                                            .gradcheck_max_elements = 24});
  }
  SECTION("key != value, value_dim, output_shape, no bias") {
    lt::run_layer_test<MultiHeadAttention>(
        {.num_heads = 2, .key_dim = 2, .value_dim = 3, .use_bias = false, .output_shape = {5}},
        {.input_shapes = {{2, 4, 6}, {2, 3, 4}, {2, 3, 5}},
         .expected_output_shape = {2, 4, 5},
         .expected_trainable_weights = 4,
         .supports_masking = true,
         .expected_build_config = md::json::parse(R"({"shapes_dict": {"query_shape": [2, 4, 6],
                                                      "value_shape": [2, 3, 4], "key_shape": [2, 3, 5]}})"),
         .gradcheck_tolerance = 3e-2,
                                            .gradcheck_max_elements = 24});
  }
  SECTION("rank 4, attention over axis 2") {
    lt::run_layer_test<MultiHeadAttention>({.num_heads = 2, .key_dim = 2, .attention_axes = std::vector<int64_t>{2}},
                                           {.input_shapes = {{2, 3, 4, 5}, {2, 3, 4, 5}},
                                            .expected_output_shape = {2, 3, 4, 5},
                                            .expected_trainable_weights = 8,
                                            .supports_masking = true,
                                            .expected_build_config = md::json::parse(
                                                R"({"shapes_dict": {"query_shape": [2, 3, 4, 5],
                                                                    "value_shape": [2, 3, 4, 5]}})"),
                                            .gradcheck_tolerance = 3e-2,
                                            .gradcheck_max_elements = 16});
  }
}

TEST_CASE("MultiHeadAttention: Keras's weight shapes, names and build config", "[layers][mha]") {
  MultiHeadAttention mha({.num_heads = 3, .key_dim = 4, .value_dim = 5, .output_shape = {7}, .name = "mha"});
  const md::Tensor q = normal({2, 6, 8}, 1), v = normal({2, 9, 10}, 2), k = normal({2, 9, 11}, 3);
  const md::Tensor y = mha(q, v, {.key = k});
  CHECK(y.shape() == md::Shape{2, 6, 7});
  const std::vector<md::Variable> w = mha.weights();
  REQUIRE(w.size() == 8);
  const std::vector<md::Shape> shapes = {{8, 3, 4}, {3, 4}, {11, 3, 4}, {3, 4}, {10, 3, 5}, {3, 5}, {3, 5, 7}, {7}};
  const std::vector<std::string> paths = {"mha/query/kernel", "mha/query/bias", "mha/key/kernel",
                                          "mha/key/bias", "mha/value/kernel", "mha/value/bias",
                                          "mha/attention_output/kernel", "mha/attention_output/bias"};
  for (size_t i = 0; i < w.size(); ++i) {
    CHECK(w[i].shape() == shapes[i]);
    CHECK(w[i].path() == paths[i]);
  }
  CHECK(mha.query_dense().options().equation == "abc,cde->abde");
  CHECK(mha.output_dense().options().equation == "abcd,cde->abe");
  CHECK(mha.get_build_config() ==
        md::json::parse(R"({"shapes_dict": {"query_shape": [2, 6, 8], "value_shape": [2, 9, 10],
                                            "key_shape": [2, 9, 11]}})"));
  const md::json config = mha.get_config();
  CHECK(config["attention_axes"] == md::json::array({1}));
  CHECK(config["value_dim"] == 5);
  CHECK(config["output_shape"] == md::json::array({7}));

  // The build config rebuilds an equal layer, whose weights then take the first one's.
  auto copy = std::dynamic_pointer_cast<MultiHeadAttention>(md::deserialize(md::serialize(mha)));
  REQUIRE(copy);
  CHECK(copy->built());
  copy->set_weights(mha.get_weights());
  const std::vector<float> a = y.to_vector(), b = (*copy)(q, v, {.key = k}).to_vector();
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).margin(1e-6));
}

TEST_CASE("MultiHeadAttention: Keras's argument errors", "[layers][mha]") {
  CHECK_THROWS_WITH(MultiHeadAttention({.num_heads = 0, .key_dim = 2}),
                    "Received an invalid value for argument `num_heads`, expected a positive integer. Received: "
                    "num_heads=0");
  CHECK_THROWS_WITH(MultiHeadAttention({.num_heads = 2, .key_dim = -1}),
                    "Received an invalid value for argument `key_dim`, expected a positive integer. Received: "
                    "key_dim=-1");
  CHECK_THROWS_WITH(MultiHeadAttention({.num_heads = 2, .key_dim = 2, .value_dim = 0}),
                    "Received an invalid value for argument `value_dim`, expected a positive integer or `None`. "
                    "Received: value_dim=0");
  MultiHeadAttention mha({.num_heads = 2, .key_dim = 2});
  CHECK_THROWS_WITH(mha(normal({2, 3, 4}, 1), normal({2, 5, 4}, 2), {.key = normal({2, 6, 4}, 3)}),
                    "All dimensions of `value` and `key`, except the last one, must be equal. Received: "
                    "value_shape=(2, 5, 4) and key_shape=(2, 6, 4)");
  CHECK_THROWS_AS(MultiHeadAttention::from_config(md::json::parse(
                      R"({"name": "m", "num_heads": 2, "key_dim": 2, "use_gate": true})")),
                  md::NotImplementedError);
}

TEST_CASE("MultiHeadAttention: masks combine as Keras's, and fully masked rows", "[layers][mha]") {
  MultiHeadAttention mha({.num_heads = 2, .key_dim = 3});
  const md::Tensor q = normal({1, 3, 4}, 11), v = normal({1, 4, 4}, 12);
  const md::Tensor value_mask = bools({1, 1, 0, 0}, {1, 4});
  const md::Tensor attention_mask = bools({1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, {1, 3, 4});

  SECTION("the value mask and the attention mask are and-ed; masked keys get no weight") {
    md::Tensor masked_v = v.reshape(v.shape());
    masked_v.set_keras_mask(value_mask);
    auto [out, scores] = mha.call_with_scores(q, masked_v, {.attention_mask = attention_mask});
    REQUIRE(scores.shape() == md::Shape{1, 2, 3, 4});
    const std::vector<float> s = scores.to_vector();
    // keep = value_mask & attention_mask: row 0 only key 0, row 1 nothing, row 2 keys 0 and 1.
    const std::vector<float> keep = {1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0};
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 12; ++i) {
        if (keep[i] == 0) CHECK(s[h * 12 + i] == 0.0f);  // the Softmax layer zeroes masked weights
      }
      CHECK(s[h * 12 + 0] == Approx(1.0f));
      CHECK(s[h * 12 + 8] + s[h * 12 + 9] == Approx(1.0f));
    }
    // The scores carry the mask Keras's Softmax layer had (heads axis added).
    CHECK(scores.keras_mask().shape() == md::Shape{1, 1, 3, 4});
  }
  SECTION("a fully masked row: zeros on the scores path, uniform on Keras's fused path") {
    const md::Tensor none = bools({0, 0, 0, 0}, {1, 4});
    auto [with_scores, scores] = mha.call_with_scores(q, v, {.value_mask = none});
    for (float s : scores.to_vector()) CHECK(s == 0.0f);
    // Zero weights: every output row is the output projection's bias (zeros at initialisation).
    for (float o : with_scores.to_vector()) CHECK(o == 0.0f);
    // Keras's fused dot_product_attention keeps the row uniform: the mean of the values.
    const md::Tensor fused = mha(q, v, {.value_mask = none});
    const md::Tensor unmasked_uniform = mha(q, v, {.attention_mask = bools(std::vector<float>(12, 1.0f), {1, 3, 4})});
    const std::vector<float> f = fused.to_vector();
    CHECK(std::abs(f[0]) > 0.0f);
    CHECK(f[0] == Approx(f[4]).margin(1e-6));  // every query row gives the same mean
    CHECK(unmasked_uniform.shape() == fused.shape());
  }
  SECTION("the query mask zeroes no score of its own row set but rides on the output") {
    md::Tensor masked_q = q.reshape(q.shape());
    masked_q.set_keras_mask(bools({1, 1, 0}, {1, 3}));
    const md::Tensor out = mha(masked_q, v);
    REQUIRE(out.keras_mask().defined());
    CHECK(out.keras_mask().to_vector() == std::vector<float>{1, 1, 0});
  }
  SECTION("causal: each query attends to keys up to its own position (top-left anchored)") {
    auto [out, scores] = mha.call_with_scores(q, v, {.use_causal_mask = true});
    const std::vector<float> s = scores.to_vector();
    for (int h = 0; h < 2; ++h) {
      for (int i = 0; i < 3; ++i) {
        for (int j = 0; j < 4; ++j) {
          if (j > i) CHECK(s[h * 12 + i * 4 + j] == 0.0f);
        }
      }
    }
  }
}

TEST_CASE("MultiHeadAttention: dropout acts in training only", "[layers][mha]") {
  MultiHeadAttention mha({.num_heads = 2, .key_dim = 3, .dropout = 0.5, .seed = 7});
  const md::Tensor x = normal({2, 5, 4}, 21);
  const std::vector<float> a = mha(x, x).to_vector(), b = mha(x, x, {.training = false}).to_vector();
  CHECK(a == b);
  const std::vector<float> t = mha(x, x, {.training = true}).to_vector();
  CHECK(t != a);
  // The returned scores are the weights before dropout: rows still sum to 1.
  auto [out, scores] = mha.call_with_scores(x, x, {.training = true});
  const md::Tensor sums = md::ops::sum(scores, {-1});
  for (float s : sums.to_vector()) CHECK(s == Approx(1.0f));
}

TEST_CASE("MultiHeadAttention: symbolic calls, functional models and their configs", "[layers][mha]") {
  const md::Tensor q = md::Input({6, 8}, "q"), v = md::Input({md::None, 8}, "v");
  MultiHeadAttention mha({.num_heads = 2, .key_dim = 4, .name = "attn"});
  auto [out, scores] = mha.call_with_scores(q, v);
  CHECK(out.shape() == md::Shape{md::None, 6, 8});
  CHECK(scores.shape() == md::Shape{md::None, 2, 6, md::None});
  md::Model model({q, v}, {out}, "m");
  CHECK(model.count_params() == 4 * (8 * 8 + 8));
  const md::Model again = md::Model::from_config(model.get_config());
  md::Model copy = again;
  copy.set_weights(model.get_weights());
  const md::Tensor xq = normal({2, 6, 8}, 31), xv = normal({2, 5, 8}, 32);
  const std::vector<float> a = model.call_all({xq, xv}).at(0).to_vector();
  const std::vector<float> b = copy.call_all({xq, xv}).at(0).to_vector();
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).margin(1e-6));
}

TEST_CASE("gradcheck: MultiHeadAttention's inputs through masks and the causal mask", "[autograd][gradcheck][mha]") {
  std::mt19937 rng(1402);
  MultiHeadAttention mha({.num_heads = 2, .key_dim = 2, .value_dim = 3});
  const md::Tensor mask = bools({1, 1, 0, 1, 0, 1, 1, 1}, {2, 4});
  const md::Tensor q = agt::uniform(rng, {2, 3, 4}, -1.0f, 1.0f), v = agt::uniform(rng, {2, 4, 4}, -1.0f, 1.0f);
  mha(q, v);  // build
  agt::check_gradients(
      "mha(q, v, value_mask, causal)",
      [&](const agt::Inputs& in) { return mha(in[0], in[1], {.value_mask = mask, .use_causal_mask = true}); },
      {q, v}, /*second_order=*/false);
  agt::check_gradients(
      "mha scores", [&](const agt::Inputs& in) { return mha.call_with_scores(in[0], in[1]).second; }, {q, v},
      /*second_order=*/false);
}

TEST_CASE("MultiHeadAttention: weights files group the projections as Keras's (query_dense, ...)",
          "[layers][mha][weights_h5]") {
  const md::Tensor x = md::Input({4, 5}, "x");
  md::layers::MultiHeadAttention mha({.num_heads = 2, .key_dim = 3, .name = "mha"});
  md::Model model(x, mha(x, x), "m");
  const std::string path = (std::filesystem::temp_directory_path() / "minidl_mha_test.weights.h5").string();
  md::save_weights(model, path);
  std::vector<std::string> lines;
  for (const auto& item : md::list_weights_file(path)) {
    lines.push_back(item.path + (item.kind == md::WeightsFileItem::Kind::dataset ? " " + md::shape_to_string(item.shape)
                                                                                 : " " + item.name));
  }
  // As keras.Model.save_weights writes it (checked with Keras 3.15): the projections under the
  // attribute names, their kernel and bias as datasets 0 and 1.
  for (const char* expected :
       {"layers/multi_head_attention/query_dense/vars query", "layers/multi_head_attention/query_dense/vars/0 (5, 2, 3)",
        "layers/multi_head_attention/key_dense/vars/1 (2, 3)", "layers/multi_head_attention/value_dense/vars value",
        "layers/multi_head_attention/output_dense/vars attention_output",
        "layers/multi_head_attention/output_dense/vars/0 (2, 3, 5)"}) {
    CHECK(std::find(lines.begin(), lines.end(), expected) != lines.end());
  }
  md::Model copy(x, md::layers::MultiHeadAttention({.num_heads = 2, .key_dim = 3})(x, x), "m2");
  md::load_weights(copy, path);
  const md::Tensor data = normal({2, 4, 5}, 41);
  CHECK(copy(data).to_vector() == model(data).to_vector());
  std::filesystem::remove(path);
}

namespace {

// Output, scores (when asked) and the gradients of sum(output * r) (+ sum(scores)) w.r.t. the
// query input, the value input (when it is another tensor) and every weight.
struct MhaRun {
  std::vector<md::Tensor> values;
  size_t records = 0;
};

MhaRun mha_run(MultiHeadAttention& mha, const md::Tensor& query, const md::Tensor& value,
               const md::layers::MultiHeadAttentionCallOptions& options, bool scores, const md::Tensor& r) {
  md::GradientTape tape;
  tape.watch(query);
  tape.watch(value);
  md::Tensor out, weights;
  if (scores) {
    std::tie(out, weights) = mha.call_with_scores(query, value, options);
  } else {
    out = mha(query, value, options);
  }
  const size_t records = tape.num_records();
  md::Tensor loss = md::ops::sum(md::ops::multiply(out, r));
  if (scores) loss = md::ops::add(loss, md::ops::sum(md::ops::multiply(weights, weights)));
  std::vector<md::GradSource> sources = {query};
  if (value.id() != query.id()) sources.emplace_back(value);
  for (const md::Variable& w : mha.trainable_weights()) sources.emplace_back(w);
  std::vector<md::Tensor> grads = tape.gradient(loss, sources);
  if (value.id() != query.id()) {
    // The value is the query's copy: the input's gradient is the sum of both.
    grads[0] = md::ops::add(grads[0], grads[1]);
    grads.erase(grads.begin() + 1);
  }
  grads.insert(grads.begin(), out);
  if (scores) grads.insert(grads.begin() + 1, weights);
  return {grads, records};
}

}  // namespace

TEST_CASE("MultiHeadAttention: self-attention's packed projection equals three projections", "[layers][mha]") {
  // mha(x, x) projects x once with the three kernels side by side; mha(x, copy of x) runs the
  // three EinsumDense layers. Same layer weights and dropout seed: the same numbers and gradients.
  struct Case {
    MultiHeadAttention::Options options;
    bool masked, causal, scores, training;
  };
  const std::vector<Case> cases = {
      {{.num_heads = 2, .key_dim = 3}, false, false, false, false},
      {{.num_heads = 3, .key_dim = 2, .value_dim = 4, .use_bias = false, .output_shape = {5}}, false, false, false,
       false},
      {{.num_heads = 2, .key_dim = 3}, true, true, true, false},
      {{.num_heads = 2, .key_dim = 3, .dropout = 0.3, .seed = 5}, true, false, true, true},
      {{.num_heads = 4, .key_dim = 8, .dropout = 0.2, .seed = 9}, false, true, false, true},
  };
  int index = 0;
  for (const Case& c : cases) {
    INFO("case " << index++);
    md::Tensor x = normal({3, 6, 7}, 40 + static_cast<uint64_t>(index));
    if (c.masked) x.set_keras_mask(bools({1, 1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0}, {3, 6}));
    md::Tensor copy = x.clone();
    if (c.masked) copy.set_keras_mask(x.keras_mask());
    REQUIRE(copy.id() != x.id());
    MultiHeadAttention packed(c.options), separate(c.options);
    packed(x, x);
    separate(x, copy);
    separate.set_weights(packed.get_weights());
    const md::Tensor r = normal(packed(x, x).shape(), 77);
    const md::layers::MultiHeadAttentionCallOptions call{.use_causal_mask = c.causal, .training = c.training};
    const MhaRun a = mha_run(packed, x, x, call, c.scores, r);
    const MhaRun b = mha_run(separate, x, copy, call, c.scores, r);
    REQUIRE(a.values.size() == b.values.size());
    for (size_t i = 0; i < a.values.size(); ++i) {
      INFO("item " << i << " (output, [scores,] d input, then the weights in order)");
      CHECK(a.values[i].shape() == b.values[i].shape());
      const std::vector<float> u = a.values[i].to_vector(), v = b.values[i].to_vector();
      REQUIRE(u.size() == v.size());
      for (size_t j = 0; j < u.size(); ++j) CHECK(u[j] == Approx(v[j]).margin(2e-6).epsilon(1e-5));
    }
    // The packed path records fewer ops: one projection op instead of three EinsumDense calls.
    CHECK(a.records < b.records);
  }
}

TEST_CASE("MultiHeadAttention: query != value, or a separate key, takes the three projections", "[layers][mha]") {
  MultiHeadAttention mha({.num_heads = 2, .key_dim = 3});
  const md::Tensor x = normal({2, 5, 4}, 51), other = normal({2, 5, 4}, 52);
  mha(x, x);
  const md::Tensor r = normal({2, 5, 4}, 53);
  const size_t self = mha_run(mha, x, x, {}, false, r).records;
  const size_t cross = mha_run(mha, x, other, {}, false, r).records;
  const size_t copy = mha_run(mha, x, x.clone(), {}, false, r).records;
  md::GradientTape tape;
  tape.watch(x);
  tape.watch(other);
  mha(x, x, {.key = other});
  const size_t separate_key = tape.num_records();
  CHECK(self < cross);
  CHECK(copy == cross);
  CHECK(separate_key == cross);
  // And the cross-attention numbers are the three projections' (the composition by hand).
  md::layers::EinsumDense query = mha.query_dense(), key = mha.key_dense(), value = mha.value_dense(),
                          output = mha.output_dense();
  const md::Tensor q = query(x), k = key(other), v = value(other);
  const md::Tensor attended = md::ops::dot_product_attention_reference(q, k, v).first;
  const std::vector<float> expected = output(attended).to_vector();
  const std::vector<float> got = mha(x, other).to_vector();
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(expected[i]).margin(1e-6));
}

TEST_CASE("gradcheck: MultiHeadAttention self-attention (packed path), masked and causal",
          "[autograd][gradcheck][mha]") {
  std::mt19937 rng(1412);
  MultiHeadAttention mha({.num_heads = 2, .key_dim = 2, .value_dim = 3});
  md::Tensor x = agt::uniform(rng, {2, 4, 4}, -1.0f, 1.0f);
  mha(x, x);  // build
  const md::Tensor mask = bools({1, 1, 0, 1, 0, 1, 1, 1}, {2, 4});
  agt::check_gradients(
      "mha(x, x, causal, query/value mask)",
      [&](const agt::Inputs& in) {
        return mha(in[0], in[0], {.query_mask = mask, .value_mask = mask, .use_causal_mask = true});
      },
      {x}, /*second_order=*/false);
}
