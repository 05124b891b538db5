// The Layer base: names, weights shared between calls and copies, trainable, weight errors,
// InputSpec checks, the training flag, masks through a layer stack.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Dense;

namespace {

// Calls an inner Dropout without passing `training`: the flag must come from the outer call.
class Wrapper : public md::LayerOf<Wrapper> {
 public:
  explicit Wrapper(std::string name = {}) : LayerOf("Wrapper", std::move(name)) { track(dropout_); }
  md::layers::Dropout dropout_{{.rate = 0.5, .seed = 1}};

 protected:
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
    return {dropout_(args.input())};
  }
};

// Tries to create a weight after it is built.
class LateWeight : public md::LayerOf<LateWeight> {
 public:
  LateWeight() : LayerOf("LateWeight") {}
  void add_late_weight() { add_weight("late", {2}); }

 protected:
  void build_weights(const md::ShapeSpec&) override { add_weight("w", {2}); }
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override { return {args.input()}; }
};

// A user layer keeping its weight in shared state, as layer.h asks.
class Offset : public md::LayerOf<Offset> {
 public:
  explicit Offset(std::string name = {}) : LayerOf("Offset", std::move(name)) {}
  const md::Variable& offset() const { return state_->offset; }

 protected:
  void build_weights(const md::ShapeSpec& input_shape) override {
    state_->offset = add_weight("offset", {input_shape.shape().back()}, md::Initializer::constant(0.5));
  }
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
    return {args.input() + state_->offset.value()};
  }

 private:
  struct State {
    md::Variable offset;
  };
  md::Shared<State> state_;
};

// Derives from a concrete layer without LayerOf: a graph's copy of it would be a plain Dense.
class LoudDense : public Dense {
 public:
  using Dense::Dense;
};

}  // namespace

TEST_CASE("a layer object is a handle: a graph's copy is the same layer", "[layers][base][handle]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  SECTION("a user layer put in a model before it is built") {
    Offset offset;
    md::Sequential model({md::Input({3}), offset});  // the model holds a heap copy
    REQUIRE(offset.built());                          // built through the model's copy
    REQUIRE(offset.offset().defined());
    CHECK(model.weights().at(0) == offset.offset());
    // Training the model changes the stack object's weight, and calling the stack object
    // afterwards gives the model's result.
    offset.offset().assign(md::Tensor::from_vector({1, 2, 3}, {3}));
    CHECK(model.predict(x).to_vector() == std::vector<float>{2, 4, 6, 5, 7, 9});
    CHECK(offset(x).to_vector() == model.predict(x).to_vector());
  }
  SECTION("a layer whose state is set by build(), copied before the build") {
    md::layers::Attention attention({.use_scale = true, .score_mode = "concat"});
    md::layers::Attention copy = attention;
    const md::Tensor q = md::Tensor::ones({1, 2, 3});
    (void)copy({q, q});
    REQUIRE(attention.scale().defined());
    CHECK(attention.scale() == copy.scale());
    CHECK(attention.weights().size() == 2);
  }
  SECTION("a graph holds the same layer as a copy made after it") {
    Offset offset("shift");
    const md::Tensor input = md::Input({3});
    md::Model model(input, offset(input));
    Offset later = offset;
    CHECK(model.get_layer("shift")->weights().at(0) == later.offset());
  }
}

TEST_CASE("a subclass of a concrete layer without LayerOf cannot join a graph", "[layers][base][handle][errors]") {
  LoudDense eager({.units = 2});
  CHECK(eager(md::Tensor::ones({1, 3})).shape() == md::Shape{1, 2});  // eager calls are fine
  LoudDense layer({.units = 2});
  CHECK_THROWS_AS(layer(md::Input({3})), md::TypeError);
  LoudDense again({.units = 2});
  CHECK_THROWS_WITH(again(md::Input({3})),
                    Catch::Contains("derives from minidl::layers::Dense without LayerOf, so a graph cannot hold a copy "
                                    "of it (the copy would be a minidl::layers::Dense). Derive from md::LayerOf<") &&
                        Catch::Contains("LoudDense, minidl::layers::Dense> instead."));
}

TEST_CASE("layers get Keras's automatic names", "[layers][base][names]") {
  md::clear_session();
  CHECK(Dense({.units = 1}).name() == "dense");
  CHECK(Dense({.units = 1}).name() == "dense_1");
  // Explicit names are kept as given and do not advance the counter.
  CHECK(Dense({.units = 1, .name = "head"}).name() == "head");
  CHECK(Dense({.units = 1}).name() == "dense_2");
  // Each class has its own counter, from its snake_case name.
  CHECK(md::layers::LayerNormalization().name() == "layer_normalization");
  CHECK(md::layers::GlobalAveragePooling1D().name() == "global_average_pooling1d");
  CHECK(md::layers::Embedding({.input_dim = 2, .output_dim = 2}).name() == "embedding");
  md::clear_session();
  CHECK(Dense({.units = 1}).name() == "dense");
}

TEST_CASE("a name containing '/' is rejected with Keras's text", "[layers][base][names]") {
  CHECK_THROWS_AS(Dense({.units = 1, .name = "a/b"}), md::ValueError);
  CHECK_THROWS_WITH(Dense({.units = 1, .name = "a/b"}),
                    "Argument `name` must be a string and cannot contain character `/`. Received: name=a/b (of type "
                    "<class 'str'>)");
}

TEST_CASE("a layer called twice shares its weights", "[layers][base][weights]") {
  Dense dense({.units = 2});
  const md::Tensor a = md::random::uniform({3, 4}, -1, 1, 1);
  const md::Tensor b = md::random::uniform({5, 4}, -1, 1, 2);
  const md::Tensor ya = dense(a);
  const auto weights = dense.weights();
  const md::Tensor yb = dense(b);
  REQUIRE(dense.weights().size() == 2);
  CHECK(dense.weights()[0] == weights[0]);
  CHECK(dense.weights()[1] == weights[1]);
  // Both calls used the same kernel: the first rows of the outputs agree with a fresh matmul.
  const md::Tensor expected = md::ops::add(md::ops::matmul(b, dense.kernel().value()), dense.bias().value());
  CHECK(yb.to_vector() == expected.to_vector());
  CHECK(dense(a).to_vector() == ya.to_vector());
  // Symbolic and eager calls share them too.
  (void)dense(md::Input({4}));
  CHECK(dense.weights().size() == 2);
  CHECK(dense.weights()[0].path() == dense.name() + "/kernel");
  // A shape the built layer does not accept fails its InputSpec.
  CHECK_THROWS_WITH(dense(md::Tensor::ones({2, 5})),
                    "Input 0 of layer '" + dense.name() +
                        "' is incompatible with the layer: expected axis -1 of input shape to have value 4, but "
                        "received input with shape (2, 5)");
}

TEST_CASE("copies of a layer share its weights, even copies made before it builds", "[layers][base][weights]") {
  Dense original({.units = 3});
  Dense copy = original;  // not built yet
  const md::Tensor x = md::Tensor::ones({2, 4});
  const md::Tensor y = copy(x);
  CHECK(original.built());
  REQUIRE(original.kernel().defined());
  CHECK(original.kernel() == copy.kernel());
  CHECK(original(x).to_vector() == y.to_vector());
  // The same holds for layers with build-time state.
  md::layers::LayerNormalization ln;
  md::layers::LayerNormalization ln_copy = ln;
  (void)ln_copy(md::Tensor::ones({2, 5}));
  REQUIRE(ln.gamma().defined());
  CHECK(ln.gamma() == ln_copy.gamma());
  CHECK(ln.get_config()["axis"] == md::json::array({-1}));  // build's rewrite (-1 -> [-1]) reaches the original
  md::layers::Embedding emb({.input_dim = 4, .output_dim = 2});
  md::layers::Embedding emb_copy = emb;
  emb_copy.build(md::Shape{3});
  CHECK(emb.embeddings() == emb_copy.embeddings());
}

TEST_CASE("trainable=false freezes a layer", "[layers][base][trainable]") {
  Dense frozen({.units = 2, .trainable = false});
  const md::Tensor x = md::Tensor::ones({1, 3});
  md::GradientTape tape;
  const md::Tensor loss = md::ops::sum(frozen(x));
  CHECK(frozen.trainable_weights().empty());
  CHECK(frozen.non_trainable_weights().size() == 2);
  CHECK(frozen.weights().size() == 2);
  CHECK_FALSE(frozen.kernel().trainable());
  // The tape does not watch frozen weights: no records, no gradient.
  CHECK(tape.num_records() == 0);
  CHECK_FALSE(tape.gradient(loss, {frozen.kernel()})[0].defined());
  CHECK(frozen.get_config()["trainable"] == false);
  CHECK(md::layers::Dense::from_config(frozen.get_config()).trainable_weights().empty());

  // Freezing after the build, and unfreezing.
  Dense dense({.units = 2});
  (void)dense(x);
  dense.set_trainable(false);
  CHECK(dense.trainable_weights().empty());
  {
    md::GradientTape t;
    const md::Tensor l = md::ops::sum(dense(x));
    CHECK_FALSE(t.gradient(l, {dense.kernel()})[0].defined());
  }
  dense.set_trainable(true);
  CHECK(dense.trainable_weights().size() == 2);
  md::GradientTape t;
  const md::Tensor l = md::ops::sum(dense(x));
  CHECK(t.gradient(l, {dense.kernel()})[0].defined());
}

TEST_CASE("set_weights, count_params and add_weight errors use Keras's texts", "[layers][base][errors]") {
  md::clear_session();
  Dense dense({.units = 2});
  CHECK_THROWS_WITH(dense.count_params(),
                    "You tried to call `count_params` on layer 'dense', but the layer isn't built. You can build it "
                    "manually via: `layer.build(input_shape)`.");
  dense.build(md::Shape{md::None, 3});
  CHECK(dense.count_params() == 3 * 2 + 2);
  CHECK_THROWS_WITH(dense.set_weights({md::Tensor::zeros({3, 2})}),
                    "You called `set_weights(weights)` on layer 'dense' with a weight list of length 1, but the layer "
                    "was expecting 2 weights.");
  CHECK_THROWS_WITH(dense.set_weights({md::Tensor::zeros({2, 2}), md::Tensor::zeros({2})}),
                    "Layer dense weight 'dense/kernel' (index 0) shape (3, 2) is not compatible with provided weight "
                    "shape (2, 2).");
  dense.set_weights({md::Tensor::ones({3, 2}), md::Tensor::full({2}, 0.5f)});
  CHECK(dense(md::Tensor::ones({1, 3})).to_vector() == std::vector<float>{3.5f, 3.5f});

  LateWeight late;
  late.build(md::Shape{1});
  CHECK(late.weights().size() == 1);
  CHECK_THROWS_AS(late.add_late_weight(), md::ValueError);
  CHECK_THROWS_WITH(late.add_late_weight(),
                    Catch::StartsWith("You cannot add new elements of state (variables or sub-layers) to a layer that "
                                      "is already built."));
}

TEST_CASE("InputSpec errors use Keras's texts", "[layers][base][input_spec]") {
  md::clear_session();
  Dense dense({.units = 2});
  CHECK_THROWS_WITH(dense(md::Tensor::from_vector({1, 2, 3}, {3})),
                    "Input 0 of layer 'dense' is incompatible with the layer: expected min_ndim=2, found ndim=1. "
                    "Full shape received: (3,)");
  CHECK_FALSE(dense.built());  // the check runs before the build
  CHECK_THROWS_WITH(dense(md::Input(md::layers::InputLayerOptions{.batch_shape = md::Shape{4}})), Catch::Contains("expected min_ndim=2, found ndim=1"));
}

TEST_CASE("the training flag reaches inner layers", "[layers][base][training]") {
  Wrapper wrapper;
  const md::Tensor x = md::Tensor::ones({4, 50});
  // Inference by default and when asked: the identity.
  CHECK(wrapper(x).to_vector() == x.to_vector());
  CHECK(wrapper(x, {.training = false}).to_vector() == x.to_vector());
  // training=true on the outer call turns the inner Dropout on.
  const std::vector<float> y = wrapper(x, {.training = true}).to_vector();
  CHECK(std::count(y.begin(), y.end(), 0.0f) > 0);
  CHECK(std::count(y.begin(), y.end(), 2.0f) > 0);
  // ... and only for that call.
  CHECK(wrapper(x).to_vector() == x.to_vector());
  CHECK(md::current_training() == std::nullopt);
  // The wrapper tracks the dropout (no weights, but it is a sub-layer).
  CHECK(wrapper.sublayers().size() == 1);
}

TEST_CASE("masks flow from Embedding(mask_zero) through mask-aware layers", "[layers][base][mask]") {
  md::layers::Embedding emb({.input_dim = 20, .output_dim = 4, .mask_zero = true});
  md::layers::Dense dense({.units = 3});
  md::layers::LayerNormalization norm;
  md::layers::GlobalAveragePooling1D pool;
  const md::Tensor ids = md::Tensor::from_vector({4, 9, 0, 0, 7, 0}, {2, 3}, md::DType::int32);
  const md::Tensor e = emb(ids);
  REQUIRE(e.keras_mask().defined());
  CHECK(e.keras_mask().to_vector() == std::vector<float>{1, 1, 0, 0, 1, 0});
  const md::Tensor h = norm(dense(e));
  REQUIRE(h.keras_mask().defined());  // Dense and LayerNormalization pass the mask on
  CHECK(h.keras_mask().to_vector() == e.keras_mask().to_vector());
  const md::Tensor pooled = pool(h);
  CHECK_FALSE(pooled.keras_mask().defined());
  // The pooled rows average only the unmasked steps.
  const std::vector<float> hv = h.to_vector();
  const std::vector<float> pv = pooled.to_vector();
  for (int j = 0; j < 3; ++j) {
    CHECK(pv[j] == Approx((hv[0 * 3 + j] + hv[1 * 3 + j]) / 2));  // sample 0: steps 0, 1
    CHECK(pv[3 + j] == Approx(hv[(3 + 1) * 3 + j]));             // sample 1: step 1
  }
  // The same pipeline traced symbolically carries a symbolic mask.
  const md::Tensor s = norm(dense(emb(md::Input({3}, "ids", md::DType::int32))));
  REQUIRE(s.keras_mask().defined());
  CHECK(s.keras_mask().shape() == md::Shape{md::None, 3});
  CHECK(pool(s).shape() == md::Shape{md::None, 3});
}
