// EinsumDense and the einsum it computes with (minidl/layers/einsum.h): the layer harness over
// Keras's equation forms, Keras's shapes and error texts, and finite-difference gradients of
// einsum at first and second order for every way its operands are laid out.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <random>

#include "../autograd/autograd_helpers.h"
#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::EinsumDense;

TEST_CASE("EinsumDense passes run_layer_test (Keras's einsum_dense_test grid)", "[layers][einsum_dense]") {
  SECTION("ab,bc->ac") {
    lt::run_layer_test<EinsumDense>({.equation = "ab,bc->ac", .output_shape = {4}, .bias_axes = "c"},
                                    {.input_shape = {2, 3}, .expected_output_shape = {2, 4},
                                     .expected_trainable_weights = 2});
  }
  SECTION("abc,cde->abde") {
    lt::run_layer_test<EinsumDense>(
        {.equation = "abc,cde->abde", .output_shape = {md::None, 2, 3}, .bias_axes = "de"},
        // Keras's output shape: the axes output_shape leaves as None stay None, even from the input.
        {.input_shape = {2, 4, 5}, .expected_output_shape = {2, md::None, 2, 3}, .expected_trainable_weights = 2});
  }
  SECTION("abcd,cde->abe, no bias") {
    lt::run_layer_test<EinsumDense>({.equation = "abcd,cde->abe", .output_shape = {md::None, 3}},
                                    {.input_shape = {2, 4, 2, 3}, .expected_output_shape = {2, md::None, 3},
                                     .expected_trainable_weights = 1});
  }
  SECTION("...b,bc->...c with a tanh") {
    lt::run_layer_test<EinsumDense>(
        {.equation = "...b,bc->...c", .output_shape = {4}, .activation = "tanh", .bias_axes = "c"},
        {.input_shape = {2, 3, 5}, .expected_output_shape = {2, 3, 4}, .expected_trainable_weights = 2});
  }
  SECTION("ab...,bc->ac...") {
    lt::run_layer_test<EinsumDense>({.equation = "ab...,bc->ac...", .output_shape = {4}, .bias_axes = "c"},
                                    {.input_shape = {2, 5, 3}, .expected_output_shape = {2, 4, 3},
                                     .expected_trainable_weights = 2});
  }
}

TEST_CASE("EinsumDense: Keras's kernel and bias shapes", "[layers][einsum_dense]") {
  struct Case {
    std::string equation;
    std::vector<int64_t> output_shape;
    std::optional<std::string> bias_axes;
    md::Shape input, kernel, bias, output;
  };
  const std::vector<Case> cases = {
      {"ab,bc->ac", {4}, "c", {2, 3}, {3, 4}, {4}, {2, 4}},
      {"abc,cde->abde", {md::None, 2, 3}, "de", {2, 4, 5}, {5, 2, 3}, {2, 3}, {2, 4, 2, 3}},
      {"abc,cde->abde", {md::None, 2, 3}, "d", {2, 4, 5}, {5, 2, 3}, {2, 1}, {2, 4, 2, 3}},
      {"abcd,cde->abe", {md::None, 5}, "e", {2, 4, 2, 3}, {2, 3, 5}, {5}, {2, 4, 5}},
      {"abc,bd->acd", {5, 3}, "cd", {2, 4, 5}, {4, 3}, {5, 3}, {2, 5, 3}},
      {"ab...,bc->ac...", {4}, "c", {2, 5, 3}, {5, 4}, {4, 1}, {2, 4, 3}},
  };
  for (const Case& c : cases) {
    INFO(c.equation << " bias " << c.bias_axes.value_or("None"));
    EinsumDense layer({.equation = c.equation, .output_shape = c.output_shape, .bias_axes = c.bias_axes});
    const md::Tensor y = layer(md::random::normal(c.input, 0.0f, 1.0f, 1));
    CHECK(layer.kernel().shape() == c.kernel);
    CHECK(layer.bias().shape() == c.bias);
    CHECK(y.shape() == c.output);
  }
}

TEST_CASE("EinsumDense: the product is a matmul with the kernel, the bias broadcasts", "[layers][einsum_dense]") {
  EinsumDense layer({.equation = "abc,cde->abde", .output_shape = {md::None, 2, 3}, .bias_axes = "de"});
  const md::Tensor x = md::random::normal({2, 4, 5}, 0.0f, 1.0f, 2);
  const md::Tensor y = layer(x);
  layer.bias().assign(md::random::normal({2, 3}, 0.0f, 1.0f, 3));
  const md::Tensor expected = md::ops::add(
      md::ops::reshape(md::ops::matmul(x, md::ops::reshape(layer.kernel().value(), {5, 6})), {2, 4, 2, 3}),
      layer.bias().value());
  const std::vector<float> got = layer(x).to_vector(), want = expected.to_vector();
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == Approx(want[i]).margin(1e-5));
  CHECK(y.shape() == md::Shape{2, 4, 2, 3});
}

TEST_CASE("EinsumDense: the biased-product path (ops::matmul_bias) equals einsum + bias, gradients included",
          "[layers][einsum_dense]") {
  // The first four take the fused path ("P C, C Y -> P Y" with the bias over exactly Y); the others
  // (a bias over part of Y, a transposing equation, "..." on the right) the composed one.
  struct Case {
    std::string equation;
    std::vector<int64_t> output_shape;
    std::string bias_axes;
    md::Shape input;
  };
  const std::vector<Case> cases = {{"abc,cde->abde", {md::None, 2, 3}, "de", {2, 4, 5}},
                                   {"abcd,cde->abe", {md::None, 4}, "e", {2, 3, 2, 5}},
                                   {"...b,bc->...c", {4}, "c", {2, 3, 5}},
                                   {"ab,bc->ac", {4}, "c", {3, 5}},
                                   {"abc,cde->abde", {md::None, 2, 3}, "d", {2, 4, 5}},
                                   {"abc,cd->adb", {4, md::None}, "d", {2, 3, 5}},
                                   {"ab...,bc->ac...", {4, 3}, "c", {2, 5, 3}}};
  for (const Case& c : cases) {
    INFO(c.equation << " bias " << c.bias_axes);
    EinsumDense layer({.equation = c.equation, .output_shape = c.output_shape, .bias_axes = c.bias_axes});
    const md::Tensor x = md::random::normal(c.input, 0.0f, 1.0f, 7);
    layer(x);
    layer.bias().assign(md::random::normal(layer.bias().shape(), 0.0f, 1.0f, 8));
    auto run = [&](bool fused) {
      md::GradientTape tape;
      tape.watch(x);
      md::Tensor y =
          fused ? layer(x)
                : md::ops::add(md::layers::einsum(c.equation, x, layer.kernel().value()), layer.bias().value());
      const md::Tensor r = md::random::normal(y.shape(), 0.0f, 1.0f, 9);
      std::vector<md::Tensor> out = tape.gradient(md::ops::sum(md::ops::multiply(y, r)),
                                                  std::vector<md::GradSource>{x, layer.kernel(), layer.bias()});
      out.insert(out.begin(), y);
      return out;
    };
    const std::vector<md::Tensor> got = run(true), want = run(false);
    for (size_t i = 0; i < got.size(); ++i) {
      INFO("output " << i << " (y, dx, dkernel, dbias)");
      REQUIRE(got[i].shape() == want[i].shape());
      const std::vector<float> g = got[i].to_vector(), w = want[i].to_vector();
      for (size_t j = 0; j < g.size(); ++j) CHECK(g[j] == Approx(w[j]).margin(1e-5));
    }
  }
}

TEST_CASE("EinsumDense: Keras's errors", "[layers][einsum_dense]") {
  const md::Tensor x = md::random::normal({2, 4, 5}, 0.0f, 1.0f, 4);
  CHECK_THROWS_WITH(EinsumDense({.equation = "abc->abd", .output_shape = {3}})(x),
                    "Invalid einsum equation 'abc->abd'. Equations must be in the form [X],[Y]->[Z], "
                    "...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....");
  // Keras's three forms only: the ellipsis on the same side of input and output, letters else,
  // and at least two letters before a trailing ellipsis.
  for (const std::string bad : {"...bc,cd->bd...", "a...,ab->b...", "abc,c.d->abd", "ab1,cd->abd", "abc,cd->abd->a",
                                "abc,cd,de->abe", "...,cd->...d"}) {
    CAPTURE(bad);
    CHECK_THROWS_WITH(EinsumDense({.equation = bad, .output_shape = {3}})(x),
                      Catch::Matchers::StartsWith("Invalid einsum equation '" + bad + "'."));
  }
  CHECK_NOTHROW(EinsumDense({.equation = "...c,cd->...d", .output_shape = {6}})(x));
  CHECK_NOTHROW(EinsumDense({.equation = "ab...,bd->ad...", .output_shape = {6, 5}})(x));
  CHECK_THROWS_WITH(EinsumDense({.equation = "abc,cd->abd", .output_shape = {3, 6}})(x),
                    "Input shape and output shape do not match at shared dimension 'b'. Input shape is 4, and "
                    "output shape is 3.");
  CHECK_THROWS_WITH(EinsumDense({.equation = "abc,cd->abde", .output_shape = {md::None, 6, 2}})(x),
                    "Dimension 'e' was specified in the output 'abde' but has no corresponding dim in the input spec "
                    "'abc' or weight spec 'abde'");
  CHECK_THROWS_WITH(EinsumDense({.equation = "abc,cdf->abd", .output_shape = {md::None, 6}})(x),
                    "Weight dimension 'f' did not have a match in either the input spec 'abc' or the output spec "
                    "'abd'. For this layer, the weight must be fully specified.");
  CHECK_THROWS_WITH(EinsumDense({.equation = "abc,cd->abd", .output_shape = {md::None, 6}, .bias_axes = "x"})(x),
                    "Bias dimension 'x' was requested, but is not part of the output spec 'abd'");
}

TEST_CASE("einsum: unsupported forms fail naming the equation", "[layers][einsum]") {
  const md::Tensor a = md::random::normal({3, 3}, 0.0f, 1.0f, 5);
  CHECK_THROWS_WITH(md::layers::einsum("aa,ab->b", a, a),
                    "Unsupported einsum equation 'aa,ab->b': the letter 'a' repeats within 'aa' (diagonals are not "
                    "supported).");
  CHECK_THROWS_WITH(md::layers::einsum("ab,bc", a, a),
                    "Unsupported einsum equation 'ab,bc': an explicit output ('->') is required.");
  CHECK_THROWS_WITH(md::layers::einsum("ab,bc->ad", a, a),
                    "Unsupported einsum equation 'ab,bc->ad': the output letter 'd' is in neither operand.");
  CHECK_THROWS_WITH(md::layers::einsum("ab,b...->a", a, a),
                    "Unsupported einsum equation 'ab,b...->a': '...' is supported in the first operand and the "
                    "output only.");
  CHECK_THROWS_AS(md::layers::einsum("ab,bc->ac", a, md::random::normal({4, 2}, 0.0f, 1.0f, 6)), md::ShapeError);
}

TEST_CASE("gradcheck: einsum in every operand layout", "[autograd][gradcheck][einsum]") {
  std::mt19937 rng(1401);
  struct Case {
    const char* equation;
    agt::Dims a, b;
  };
  const std::vector<Case> cases = {
      {"ab,bc->ac", {2, 3}, {3, 4}},             // a plain matmul
      {"ab,cb->ac", {2, 3}, {4, 3}},             // the kernel read transposed
      {"ba,bc->ac", {3, 2}, {3, 4}},             // the input read transposed
      {"abc,cde->abde", {2, 3, 4}, {4, 2, 3}},   // MultiHeadAttention's projection
      {"abcd,cde->abe", {2, 3, 2, 2}, {2, 2, 3}},  // its output projection
      {"aecd,abcd->acbe", {2, 3, 2, 2}, {2, 4, 2, 2}},  // its query-key product
      {"acbe,aecd->abcd", {2, 2, 4, 3}, {2, 3, 2, 2}},  // its weights-value combination
      {"abc,acd->abd", {2, 3, 4}, {2, 4, 2}},    // a batched product
      {"abc,bd->acd", {2, 3, 4}, {3, 2}},        // output reordered
      {"abc,cd->ad", {2, 3, 4}, {4, 2}},         // b summed out
      {"...b,bc->...c", {2, 3, 4}, {4, 2}},      // ellipsis
      {"ab,cd->abcd", {2, 3}, {2, 2}},           // an outer product
  };
  for (const Case& c : cases) {
    const std::string equation = c.equation;
    agt::check_gradients(
        equation, [equation](const agt::Inputs& in) { return md::layers::einsum(equation, in[0], in[1]); },
        {agt::uniform(rng, c.a), agt::uniform(rng, c.b)});
  }
}
