// The functional Model: a two-input graph with a shared layer (outputs, operation order,
// weights, gradients, config round trip through files), Keras's construction and call errors,
// and masks, training and several outputs flowing through a model.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "model_test_helpers.h"

namespace md = minidl;

namespace {

// Two inputs through one shared Dense (two nodes of the same layer), concatenated, then a Dense
// head. With clear_session() first, the auto names are "concatenate" and "dense".
struct TwoTowers {
  md::Tensor a = md::Input({4}, "a");
  md::Tensor b = md::Input({4}, "b");
  md::layers::Dense shared{{.units = 3, .activation = "tanh", .name = "shared"}};
  md::Tensor out;
  md::Model model;

  TwoTowers() : model(build()) {}

 private:
  md::Model build() {
    const md::Tensor merged = md::layers::Concatenate()({shared(a), shared(b)});
    out = md::layers::Dense({.units = 2})(merged);
    return md::Model({a, b}, {out}, "two_towers");
  }
};

// Deterministic weights for TwoTowers: shared kernel (4, 3), bias (3), head kernel (6, 2), bias (2).
std::vector<md::Tensor> fixed_weights() {
  std::vector<float> k1(12), k2(12);
  for (int i = 0; i < 12; ++i) k1[i] = 0.1f * static_cast<float>(i % 5) - 0.2f;
  for (int i = 0; i < 12; ++i) k2[i] = 0.05f * static_cast<float>(i) - 0.3f;
  return {md::Tensor::from_vector(k1, {4, 3}), md::Tensor::from_vector({0.1f, -0.1f, 0.2f}, {3}),
          md::Tensor::from_vector(k2, {6, 2}), md::Tensor::from_vector({0.5f, -0.25f}, {2})};
}

// The same computation written out with loops, in double.
std::vector<double> reference_two_towers(const std::vector<md::Tensor>& w, const md::Tensor& xa, const md::Tensor& xb) {
  const auto k1 = w[0].to_vector(), b1 = w[1].to_vector(), k2 = w[2].to_vector(), b2 = w[3].to_vector();
  const auto a = xa.to_vector(), b = xb.to_vector();
  const int64_t batch = xa.shape()[0];
  std::vector<double> out;
  for (int64_t n = 0; n < batch; ++n) {
    std::vector<double> merged;
    for (const auto* x : {&a, &b}) {
      for (int j = 0; j < 3; ++j) {
        double s = b1[j];
        for (int i = 0; i < 4; ++i) s += (*x)[n * 4 + i] * k1[i * 3 + j];
        merged.push_back(std::tanh(s));
      }
    }
    for (int j = 0; j < 2; ++j) {
      double s = b2[j];
      for (int i = 0; i < 6; ++i) s += merged[i] * k2[i * 2 + j];
      out.push_back(s);
    }
  }
  return out;
}

void check_close(const std::vector<float>& actual, const std::vector<double>& expected, double tol) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO("element " << i);
    CHECK(actual[i] == Approx(expected[i]).margin(tol));
  }
}

}  // namespace

TEST_CASE("functional model: two inputs and a shared layer compute the traced graph", "[models][functional]") {
  md::clear_session();
  TwoTowers t;
  md::Model& model = t.model;
  CHECK(model.name() == "two_towers");
  CHECK(model.class_name() == "Functional");
  CHECK(model.built());

  // Keras's model.operations: the inputs first (deepest), then by decreasing depth.
  CHECK(mt::names_of(model.operations()) == std::vector<std::string>{"a", "b", "shared", "concatenate", "dense"});
  CHECK(mt::names_of(model.layers()) == std::vector<std::string>{"a", "b", "shared", "concatenate", "dense"});
  CHECK(model.get_layer("shared")->name() == "shared");
  CHECK(model.get_layer("dense")->class_name() == "Dense");
  // The shared layer has one node per input.
  CHECK(model.get_layer("shared")->inbound_nodes().size() == 2);
  CHECK(model.graph_inputs().size() == 2);
  CHECK(model.graph_outputs().size() == 1);
  CHECK(model.graph_outputs()[0].shape() == md::Shape{md::None, 2});

  // Weights in layer order, each layer's kernel before its bias; the shared layer counts once.
  // Keras's variable names are the bare weight names ("kernel"), the layer is in the path.
  CHECK(mt::names_of(model.weights()) == std::vector<std::string>{"kernel", "bias", "kernel", "bias"});
  const std::vector<md::Variable> w = model.weights();
  std::vector<std::string> paths;
  for (const md::Variable& v : w) paths.push_back(v.path());
  CHECK(paths == std::vector<std::string>{"shared/kernel", "shared/bias", "dense/kernel", "dense/bias"});
  CHECK(w[0].value().shape() == md::Shape{4, 3});
  CHECK(w[1].value().shape() == md::Shape{3});
  CHECK(w[2].value().shape() == md::Shape{6, 2});
  CHECK(w[3].value().shape() == md::Shape{2});
  const std::vector<md::Variable> shared_weights = t.shared.weights();
  CHECK(w[0].value().impl() == shared_weights[0].value().impl());
  CHECK(model.trainable_weights().size() == 4);
  CHECK(model.non_trainable_weights().empty());
  CHECK(model.count_params() == (4 * 3 + 3) + (6 * 2 + 2));
  const std::vector<md::Tensor> weights = model.get_weights();
  REQUIRE(weights.size() == 4);
  CHECK(weights[0].shape() == md::Shape{4, 3});
  CHECK(weights[2].shape() == md::Shape{6, 2});

  // Outputs on concrete data match the loops.
  model.set_weights(fixed_weights());
  const md::Tensor xa = md::random::normal({5, 4}, 0.0f, 1.0f, 11);
  const md::Tensor xb = md::random::normal({5, 4}, 0.0f, 1.0f, 12);
  const md::Tensor y = model({xa, xb});
  CHECK_FALSE(y.is_symbolic());
  CHECK(y.shape() == md::Shape{5, 2});
  check_close(y.to_vector(), reference_two_towers(fixed_weights(), xa, xb), 1e-5);
  // A model call on other batch sizes works (the batch axis is None).
  CHECK(model({md::Tensor::ones({1, 4}), md::Tensor::zeros({1, 4})}).shape() == md::Shape{1, 2});
  // The swapped inputs give the swapped tower order, so a different answer.
  CHECK_FALSE(mt::same_bits(model({xb, xa}), y));
}

TEST_CASE("functional model: tape gradients reach every trainable weight", "[models][functional][gradients]") {
  md::clear_session();
  TwoTowers t;
  md::Model& model = t.model;
  model.set_weights(fixed_weights());
  const md::Tensor xa = md::random::normal({3, 4}, 0.0f, 1.0f, 21);
  const md::Tensor xb = md::random::normal({3, 4}, 0.0f, 1.0f, 22);

  md::GradientTape tape;
  const md::Tensor y = model({xa, xb});
  const md::Tensor loss = md::ops::mean(md::ops::square(y));
  const std::vector<md::Variable> sources = model.trainable_weights();
  const std::vector<md::Tensor> grads = tape.gradient(loss, sources);
  REQUIRE(grads.size() == 4);
  for (size_t i = 0; i < grads.size(); ++i) {
    INFO("gradient " << i << " (" << sources[i].name() << ")");
    REQUIRE(grads[i].defined());
    CHECK(grads[i].shape() == sources[i].value().shape());
  }

  // The head's bias: d mean(y^2) / d b2[j] = sum_n 2 y[n, j] / y.size().
  const std::vector<float> yv = y.to_vector();
  const std::vector<float> gb2 = grads[3].to_vector();
  for (int j = 0; j < 2; ++j) {
    double expected = 0.0;
    for (int n = 0; n < 3; ++n) expected += 2.0 * yv[n * 2 + j] / 6.0;
    CHECK(gb2[j] == Approx(expected).margin(1e-6));
  }

  // The shared kernel gets both towers' contributions: compare with central differences.
  const std::vector<md::Tensor> base = fixed_weights();
  const std::vector<float> gk1 = grads[0].to_vector();
  auto loss_at = [&](const std::vector<md::Tensor>& w) {
    const auto out = reference_two_towers(w, xa, xb);
    double s = 0.0;
    for (double v : out) s += v * v;
    return s / static_cast<double>(out.size());
  };
  for (int i = 0; i < 12; ++i) {
    std::vector<float> plus = base[0].to_vector(), minus = base[0].to_vector();
    plus[i] += 1e-3f;
    minus[i] -= 1e-3f;
    std::vector<md::Tensor> wp = base, wm = base;
    wp[0] = md::Tensor::from_vector(plus, {4, 3});
    wm[0] = md::Tensor::from_vector(minus, {4, 3});
    const double numeric = (loss_at(wp) - loss_at(wm)) / (static_cast<double>(plus[i]) - minus[i]);
    INFO("shared kernel element " << i);
    CHECK(gk1[i] == Approx(numeric).margin(1e-4));
  }
}

TEST_CASE("functional model: save_config/load_config round trip keeps the config and the outputs",
          "[models][functional][config]") {
  md::clear_session();
  TwoTowers t;
  md::Model& model = t.model;
  mt::TempDir dir;
  const std::string path = dir.file("two_towers.json");
  md::save_config(model, path);
  REQUIRE(std::filesystem::exists(path));
  // No temporary files left behind by the atomic write.
  size_t files = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++files;
  CHECK(files == 1);

  md::Model again = md::load_config(path);
  CHECK(again.name() == "two_towers");
  CHECK(again.get_config().dump() == model.get_config().dump());
  CHECK(md::serialize(again).dump() == md::serialize(model).dump());
  CHECK(mt::names_of(again.operations()) == mt::names_of(model.operations()));
  CHECK(again.get_layer("shared")->inbound_nodes().size() == 2);
  CHECK(again.count_params() == model.count_params());
  // The reloaded layers are new objects with new weights ...
  CHECK(again.get_layer("shared").get() != model.get_layer("shared").get());
  // ... and after copying the weights the two models agree bit for bit.
  again.set_weights(model.get_weights());
  const md::Tensor xa = md::random::normal({4, 4}, 0.0f, 1.0f, 31);
  const md::Tensor xb = md::random::normal({4, 4}, 0.0f, 1.0f, 32);
  CHECK(mt::same_bits(again({xa, xb}), model({xa, xb})));
  // Changing the copy leaves the original alone.
  std::vector<md::Tensor> zeros;
  for (const md::Tensor& w : model.get_weights()) zeros.push_back(md::Tensor::zeros(w.shape()));
  again.set_weights(zeros);
  CHECK(again({xa, xb}).to_vector() == std::vector<float>(8, 0.0f));
  CHECK_FALSE(model({xa, xb}).to_vector() == std::vector<float>(8, 0.0f));
}

// ---- errors ----------------------------------------------------------------------------------

TEST_CASE("functional model: Keras's graph errors", "[models][functional][errors]") {
  md::clear_session();
  const md::Tensor a = md::Input({4}, "a");
  const md::Tensor b = md::Input({4}, "b");

  SECTION("an output that needs an input the model does not list: Graph disconnected") {
    const md::Tensor sum = md::layers::Add()({a, b});
    const std::string message = mt::error_message([&] { md::Model(a, sum); });
    // keras/src/ops/function.py map_graph; minidl names the operation rather than printing its repr.
    CHECK(message ==
          "Graph disconnected: cannot find parent for tensor <KerasTensor shape=(None, 4), dtype=float32, name=b> at "
          "operation 'add'. The following previous operations were accessed without issue: ['add']");
    CHECK_THROWS_AS(md::Model(a, sum), md::ValueError);
    // With both inputs listed the same graph is fine.
    CHECK(md::Model({a, b}, {sum}).layers().size() == 3);
  }

  SECTION("a longer chain reports the operations it could compute") {
    const md::Tensor h = md::layers::Dense({.units = 4, .name = "first"})(a);
    const md::Tensor sum = md::layers::Add({.name = "merge"})({h, b});
    CHECK(mt::error_message([&] { md::Model(a, md::layers::Dense({.units = 1, .name = "last"})(sum)); }) ==
          "Graph disconnected: cannot find parent for tensor <KerasTensor shape=(None, 4), dtype=float32, name=b> at "
          "operation 'merge'. The following previous operations were accessed without issue: ['first', 'merge']");
  }

  SECTION("unused inputs and inputs passed straight through are allowed (Keras 3.16)") {
    // keras/src/ops/function.py: an unused input gets depth 0 and traversal index -1.
    const md::Tensor y = md::layers::Dense({.units = 2, .name = "head"})(a);
    md::Model unused({a, b}, {y}, "unused");
    CHECK(mt::names_of(unused.operations()) == std::vector<std::string>{"a", "b", "head"});
    const md::Tensor x = md::Tensor::ones({3, 4});
    CHECK(unused({x, x}).shape() == md::Shape{3, 2});
    md::Model passthrough({a, b}, {y, b}, "passthrough");
    const auto outs = passthrough.call_all({x, md::Tensor::full({3, 4}, 7.0f)});
    REQUIRE(outs.size() == 2);
    CHECK(outs[1].to_vector() == std::vector<float>(12, 7.0f));
    // Both reload from their configs.
    CHECK(md::Model::from_config(unused.get_config()).get_config() == unused.get_config());
    CHECK(md::Model::from_config(passthrough.get_config()).get_config() == passthrough.get_config());
  }

  SECTION("two operations with the same name") {
    const md::Tensor h = md::layers::Dense({.units = 3, .name = "x"})(a);
    const md::Tensor y = md::layers::Dense({.units = 2, .name = "x"})(h);
    CHECK(mt::error_message([&] { md::Model(a, y); }) ==
          "The name \"x\" is used 2 times in the model. All operation names should be unique.");
    CHECK_THROWS_AS(md::Model(a, y), md::ValueError);
  }

  SECTION("inputs that are not md::Input tensors") {
    const md::Tensor y = md::layers::Dense({.units = 2, .name = "head"})(a);
    // A concrete tensor.
    const std::string concrete = mt::error_message([&] { md::Model(md::Tensor::ones({2, 4}), y); });
    CHECK_THAT(concrete, Catch::Matchers::StartsWith("All `inputs` values must be symbolic tensors"));
    CHECK_THROWS_AS(md::Model(md::Tensor::ones({2, 4}), y), md::ValueError);
    // An undefined tensor, and a concrete output.
    CHECK_THROWS_AS(md::Model(md::Tensor(), y), md::ValueError);
    CHECK_THAT(mt::error_message([&] {
                 md::Model(a, md::Tensor::ones({2, 2}));
               }),
               Catch::Matchers::StartsWith("All `outputs` values must be symbolic tensors"));
    // An intermediate tensor (Keras clones the graph for these; minidl asks for the md::Input).
    const md::Tensor h = md::layers::Dense({.units = 4, .name = "hidden"})(a);
    const md::Tensor z = md::layers::Dense({.units = 2, .name = "top"})(h);
    const std::string intermediate = mt::error_message([&] { md::Model(h, z); });
    CHECK_THAT(intermediate, Catch::Matchers::StartsWith("Model inputs must come from md::Input"));
    CHECK_THAT(intermediate, Catch::Matchers::Contains("'hidden'"));
    // No inputs or no outputs.
    CHECK_THROWS_AS(md::Model(std::vector<md::Tensor>{}, std::vector<md::Tensor>{y}), md::ValueError);
    CHECK_THROWS_AS(md::Model(std::vector<md::Tensor>{a}, std::vector<md::Tensor>{}), md::ValueError);
  }

  SECTION("calling with the wrong number of inputs") {
    const md::Tensor sum = md::layers::Add()({a, b});
    md::Model model({a, b}, {sum}, "pair");
    const md::Tensor x = md::Tensor::ones({2, 4});
    // Keras's input_spec check (keras/src/layers/input_spec.py), without the dict suggestion.
    CHECK(mt::error_message([&] { model(x); }) ==
          "Layer \"pair\" expects 2 input(s), but it received 1 input tensors. Inputs received: "
          "[<Tensor shape=(2, 4), dtype=float32>]");
    CHECK_THROWS_AS(model({x, x, x}), md::ValueError);
    CHECK(model({x, x}).to_vector() == std::vector<float>(8, 2.0f));
  }

  SECTION("get_layer of a missing name") {
    const md::Tensor y = md::layers::Dense({.units = 2, .name = "head"})(a);
    md::Model model(a, y);
    // keras/src/models/model.py get_layer.
    CHECK(mt::error_message([&] { (void)model.get_layer("nope"); }) ==
          "No such layer: nope. Existing layers are: ['a', 'head'].");
    CHECK_THROWS_AS(model.get_layer("nope"), md::ValueError);
  }
}

// ---- masks, training, several outputs --------------------------------------------------------

TEST_CASE("functional model: an Embedding mask reaches GlobalAveragePooling1D", "[models][functional][masks]") {
  md::clear_session();
  const md::Tensor ids = md::Input({5}, "ids", md::DType::int32);
  md::layers::Embedding embedding({.input_dim = 10, .output_dim = 3, .mask_zero = true});
  const md::Tensor pooled = md::layers::GlobalAveragePooling1D()(embedding(ids));
  md::Model model(ids, pooled, "masked_mean");
  CHECK(pooled.shape() == md::Shape{md::None, 3});

  // Two sequences padded with 0 at the end.
  const md::Tensor x = md::Tensor::from_vector({4, 2, 7, 0, 0, 1, 9, 3, 5, 0}, {2, 5}, md::DType::int32);
  const md::Tensor y = model(x);
  REQUIRE(y.shape() == md::Shape{2, 3});
  const std::vector<float> table = embedding.get_weights()[0].to_vector();  // (10, 3)
  const std::vector<std::vector<int>> rows = {{4, 2, 7}, {1, 9, 3, 5}};
  const std::vector<float> out = y.to_vector();
  for (size_t n = 0; n < rows.size(); ++n) {
    for (int d = 0; d < 3; ++d) {
      double mean = 0.0;
      for (int id : rows[n]) mean += table[id * 3 + d];
      mean /= static_cast<double>(rows[n].size());
      INFO("row " << n << " dim " << d);
      CHECK(out[n * 3 + d] == Approx(mean).margin(1e-6));
    }
  }
  // Without mask_zero the padding counts (a different answer unless row 0 of the table is the mean).
  md::clear_session();
  const md::Tensor ids2 = md::Input({5}, "ids", md::DType::int32);
  md::layers::Embedding plain({.input_dim = 10, .output_dim = 3});
  md::Model unmasked(ids2, md::layers::GlobalAveragePooling1D()(plain(ids2)));
  unmasked.set_weights(model.get_weights());
  const std::vector<float> plain_out = unmasked(x).to_vector();
  double expected = 0.0;
  for (int id : {4, 2, 7, 0, 0}) expected += table[id * 3];
  CHECK(plain_out[0] == Approx(expected / 5.0).margin(1e-6));
}

TEST_CASE("functional model: Dropout is active only when the model is called with training=true",
          "[models][functional][training]") {
  md::clear_session();
  const md::Tensor x = md::Input({64}, "x");
  const md::Tensor y =
      md::layers::Dropout({.rate = 0.5, .seed = 3})(md::layers::Dense({.units = 64, .kernel_initializer = "ones"})(x));
  md::Model model(x, y);
  const md::Tensor data = md::Tensor::ones({4, 64});
  // Inference (the default, and explicit training=false): the identity.
  const md::Tensor inference = model(data);
  CHECK(inference.to_vector() == std::vector<float>(4 * 64, 64.0f));
  CHECK(model(data, {.training = false}).to_vector() == inference.to_vector());
  // Training: about half the units are dropped, the rest scaled by 1 / (1 - rate).
  const std::vector<float> train = model(data, {.training = true}).to_vector();
  size_t zeros = 0, scaled = 0;
  for (float v : train) {
    if (v == 0.0f) ++zeros;
    if (v == 128.0f) ++scaled;
  }
  CHECK(zeros + scaled == train.size());
  CHECK(zeros > train.size() / 4);
  CHECK(scaled > train.size() / 4);
  // The training flag does not stick: the next call is inference again.
  CHECK(model(data).to_vector() == inference.to_vector());
}

TEST_CASE("functional model: several outputs through call_all", "[models][functional][outputs]") {
  md::clear_session();
  const md::Tensor x = md::Input({3}, "x");
  const md::Tensor h = md::layers::Dense({.units = 4, .activation = "relu", .name = "trunk"})(x);
  const md::Tensor first = md::layers::Dense({.units = 2, .name = "first"})(h);
  const md::Tensor second = md::layers::Dense({.units = 5, .name = "second"})(h);
  md::Model model({x}, {first, second, h}, "three_heads");
  CHECK(mt::names_of(model.operations()) == std::vector<std::string>{"x", "trunk", "first", "second"});

  const md::Tensor data = md::random::normal({6, 3}, 0.0f, 1.0f, 41);
  const std::vector<md::Tensor> outs = model.call_all(data);
  REQUIRE(outs.size() == 3);
  CHECK(outs[0].shape() == md::Shape{6, 2});
  CHECK(outs[1].shape() == md::Shape{6, 5});
  CHECK(outs[2].shape() == md::Shape{6, 4});
  // Each output is what its layer gives on the trunk's output.
  const md::Tensor trunk = (*model.get_layer("trunk"))(data);
  CHECK(mt::same_bits(outs[2], trunk));
  CHECK(mt::same_bits(outs[0], (*model.get_layer("first"))(trunk)));
  CHECK(mt::same_bits(outs[1], (*model.get_layer("second"))(trunk)));
  // operator() returns one tensor, so it refuses a model with several outputs.
  CHECK(mt::error_message([&] { model(data); }) ==
        "Layer 'three_heads' returned 3 outputs; use call_all() to get them.");

  // The config lists three output triples and reloads with the same outputs.
  const md::json config = model.get_config();
  CHECK(config["output_layers"] == md::json::parse(R"([["first", 0, 0], ["second", 0, 0], ["trunk", 0, 0]])"));
  CHECK(config["input_layers"] == md::json::parse(R"([["x", 0, 0]])"));
  md::Model again = md::Model::from_config(md::json::parse(config.dump()));
  again.set_weights(model.get_weights());
  const std::vector<md::Tensor> outs2 = again.call_all(data);
  REQUIRE(outs2.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(mt::same_bits(outs2[i], outs[i]));
}

TEST_CASE("functional model: inputs are checked against the Input shapes, None dims stay free",
          "[models][functional][errors]") {
  const md::Tensor tokens = md::Input({12}, "tokens");
  md::Model model(tokens, md::layers::Dense({.units = 2})(tokens), "functional");
  CHECK(model(md::Tensor::zeros({2, 12})).shape() == md::Shape{2, 2});
  CHECK(model(md::Tensor::zeros({5, 12})).shape() == md::Shape{5, 2});  // the batch dim is None
  // Keras's input_spec error, naming the input and the model.
  CHECK_THROWS_WITH(model(md::Tensor::zeros({2, 10})),
                    "Input 0 with name 'tokens' of layer 'functional' is incompatible with the layer: expected "
                    "shape=(None, 12), found shape=(2, 10)");
  CHECK_THROWS_WITH(model.predict(md::Tensor::zeros({3, 40})),
                    Catch::Contains("expected shape=(None, 12), found shape=(3, 40)"));
  model.compile({.optimizer = "sgd", .loss = "mse"});
  CHECK_THROWS_WITH(model.fit(md::Tensor::zeros({4, 10}), md::Tensor::zeros({4, 2}), {.verbose = 0}),
                    Catch::Contains("found shape=(4, 10)"));
  // Symbolic calls are checked too.
  CHECK_THROWS_WITH(model(md::Input({11})), Catch::Contains("found shape=(None, 11)"));
  CHECK(model(md::Input({12})).shape() == md::Shape{md::None, 2});
  // A rank that cannot be adjusted (Keras's _adjust_input_rank).
  CHECK_THROWS_WITH(model(md::Tensor::zeros({2, 12, 3})),
                    "Invalid input shape for input 0 with name 'tokens'. Expected shape (None, 12), but input has "
                    "incompatible shape (2, 12, 3)");

  // None dims inside the shape stay free; a trailing axis of size 1 is added or dropped.
  const md::Tensor seq = md::Input({md::None, 1}, "sequence");
  md::Model pooled(seq, md::layers::GlobalAveragePooling1D()(seq));
  CHECK(pooled(md::Tensor::ones({2, 7, 1})).shape() == md::Shape{2, 1});
  CHECK(pooled(md::Tensor::ones({2, 9})).shape() == md::Shape{2, 1});  // (2, 9) -> (2, 9, 1)
  const md::Tensor flat = md::Input({4}, "flat");
  md::Model squeezed(flat, md::layers::Dense({.units = 1})(flat));
  CHECK(squeezed(md::Tensor::ones({3, 4, 1})).shape() == md::Shape{3, 1});  // (3, 4, 1) -> (3, 4)
}

TEST_CASE("functional model: a mask passed explicitly is a graph tensor like any other", "[models][functional][masks]") {
  md::clear_session();
  const md::Tensor ids = md::Input({6}, "ids", md::DType::int32);
  md::layers::Embedding embedding({.input_dim = 10, .output_dim = 4, .mask_zero = true});
  md::layers::AdditiveAttention attention;
  const md::Tensor h = embedding(ids);
  const md::Tensor mask = h.keras_mask();
  REQUIRE(mask.is_symbolic());
  // Explicit masks, and the same masks taken implicitly from h: one graph each, shared layers.
  const md::Tensor explicit_out = attention({h, h}, {.mask = {mask, mask}});
  const md::Tensor implicit_out = attention({h, h});
  md::Model explicit_model(ids, md::layers::GlobalAveragePooling1D()(explicit_out), "explicit_masks");
  md::Model implicit_model(ids, md::layers::GlobalAveragePooling1D()(implicit_out), "implicit_masks");
  const md::Tensor x = md::Tensor::from_vector(std::vector<int>{1, 2, 3, 0, 0, 0, 4, 5, 0, 0, 0, 0}, {2, 6});
  const std::vector<float> a = explicit_model(x).to_vector(), b = implicit_model(x).to_vector();
  REQUIRE(a.size() == 8);
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).margin(1e-7));
  // The mask's own op is part of the graph, and the config round-trips with it.
  bool has_not_equal = false;
  for (const auto& op : explicit_model.operations()) has_not_equal |= op->class_name() == "NotEqual";
  CHECK(has_not_equal);
  md::Model again = md::Model::from_config(explicit_model.get_config());
  again.set_weights(explicit_model.get_weights());
  const std::vector<float> c = again(x).to_vector();
  for (size_t i = 0; i < a.size(); ++i) CHECK(c[i] == Approx(a[i]).margin(1e-7));
}

TEST_CASE("functional model: a stray symbolic argument is named as the cause", "[models][functional][errors]") {
  const md::Tensor q = md::Input({6, 4}, "q");
  // A symbolic tensor no layer produced, passed as a mask.
  const md::Tensor stray = md::Tensor::symbolic({md::None, 6}, md::DType::bool_);
  md::layers::AdditiveAttention attention({.name = "scored"});
  const md::Tensor out = attention({q, q}, {.mask = {stray, stray}});
  CHECK_THROWS_WITH(md::Model(q, out),
                    Catch::StartsWith("Operation 'scored' was called on a symbolic tensor that no md::Input, layer or "
                                      "op produced: Tensor(shape=(None, 6), dtype=bool, symbolic)."));
}
