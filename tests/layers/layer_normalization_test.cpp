// LayerNormalization: run_layer_test (Keras's cases), Keras's documented values, axis
// handling, weight order, config and errors.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::LayerNormalization;

TEST_CASE("LayerNormalization passes run_layer_test", "[layers][layer_normalization]") {
  // Keras's test_ln_basics (shapes reduced where finite differences would be slow).
  SECTION("default: gamma and beta") {
    lt::run_layer_test<LayerNormalization>({}, {.input_shape = {3, 4, 2},
                                                .expected_output_shape = {3, 4, 2},
                                                .expected_trainable_weights = 2,
                                                .supports_masking = true});
  }
  SECTION("ones initializers") {
    lt::run_layer_test<LayerNormalization>({.beta_initializer = "ones", .gamma_initializer = "ones"},
                                           {.input_shape = {3, 4, 2},
                                            .expected_output_shape = {3, 4, 2},
                                            .expected_trainable_weights = 2,
                                            .supports_masking = true});
  }
  SECTION("no scale, no center: no weights") {
    lt::run_layer_test<LayerNormalization>({.center = false, .scale = false}, {.input_shape = {3, 3},
                                                                               .expected_output_shape = {3, 3},
                                                                               .supports_masking = true});
  }
  SECTION("rms_scaling: gamma only") {
    lt::run_layer_test<LayerNormalization>({.rms_scaling = true}, {.input_shape = {3, 3},
                                                                   .expected_output_shape = {3, 3},
                                                                   .expected_trainable_weights = 1,
                                                                   .supports_masking = true});
  }
  SECTION("several axes") {
    lt::run_layer_test<LayerNormalization>({.axis = {-3, -2, -1}}, {.input_shape = {2, 3, 2, 2},
                                                                    .expected_output_shape = {2, 3, 2, 2},
                                                                    .expected_trainable_weights = 2,
                                                                    .supports_masking = true});
  }
  SECTION("a masked input keeps its mask") {
    const md::Tensor mask = md::Tensor::from_vector({1, 1, 0, 0, 1, 1}, {2, 3}, md::DType::bool_);
    lt::run_layer_test<LayerNormalization>({}, {.input_shape = {2, 3, 4},
                                                .input_masks = {mask},
                                                .expected_output_shape = {2, 3, 4},
                                                .expected_trainable_weights = 2,
                                                .supports_masking = true,
                                                .expected_output_mask = mask});
  }
}

TEST_CASE("LayerNormalization matches Keras's documented outputs", "[layers][layer_normalization][parity]") {
  const md::Tensor x = md::Tensor::arange(5).reshape({1, 5});
  // keras/src/layers/normalization/layer_normalization_test.py, test_output:
  //   layer = layers.LayerNormalization(dtype="float32", beta_initializer="ones", gamma_initializer="ones")
  //   inputs = np.arange(5).astype("float32")[None, :]
  //   self.assertAllClose(out, [[-0.41386, 0.29307, 1.0, 1.70693, 2.41386]])
  LayerNormalization ln({.beta_initializer = "ones", .gamma_initializer = "ones"});
  lt::check_values(ln(x), {-0.41386f, 0.29307f, 1.0f, 1.70693f, 2.41386f}, 1e-5, "test_output");
  // test_output_with_rms_scaling:
  //   layer = layers.LayerNormalization(dtype="float32", rms_scaling=True, gamma_initializer="ones")
  //   self.assertAllClose(out, [[0.0, 0.70693, 1.41386, 2.12079, 2.82772]])
  LayerNormalization rms({.rms_scaling = true, .gamma_initializer = "ones"});
  lt::check_values(rms(x), {0.0f, 0.70693f, 1.41386f, 2.12079f, 2.82772f}, 1e-5, "test_output_with_rms_scaling");
}

TEST_CASE("LayerNormalization normalises to zero mean and unit variance", "[layers][layer_normalization]") {
  // Keras's test_correctness: normal(loc=5, scale=10) samples; (out - beta) / gamma has mean ~0
  // and std ~1 (atol 0.1). Here per sample, exactly up to epsilon.
  LayerNormalization ln;
  const md::Tensor x = md::random::normal({100, 16}, 5.0f, 10.0f, 3);
  const md::Tensor y = ln(x);
  const md::Tensor mean = md::ops::mean(y, {-1});
  const md::Tensor var = md::ops::mean(md::ops::square(y), {-1});
  for (float m : mean.to_vector()) CHECK(std::fabs(m) < 1e-4);
  for (float v : var.to_vector()) CHECK(v == Approx(1.0).epsilon(0.02));
}

TEST_CASE("LayerNormalization sorts its axes into a list when it builds", "[layers][layer_normalization]") {
  md::clear_session();
  // Keras 3.15's build: axis=-1 becomes [-1] (negative axes stay negative), in the config too
  // (tests/data/keras/layers.h5); a list is sorted as given, so [0, -1] becomes [-1, 0].
  LayerNormalization ln;
  CHECK(ln.get_config()["axis"] == -1);
  ln.build(md::Shape{2, 4});
  CHECK(ln.axis().axes == std::vector<int64_t>{-1});
  CHECK(ln.get_config()["axis"] == md::json::array({-1}));
  LayerNormalization mixed({.axis = {0, -1}});
  mixed.build(md::Shape{3, 2, 4});
  CHECK(mixed.get_config()["axis"] == md::json::array({-1, 0}));
  CHECK(mixed.gamma().shape() == md::Shape{4, 3});
  // test_unsorted_axis: [-2, -1] and [-1, -2] give the same output.
  const md::Tensor x = md::random::normal({2, 3, 4}, 0.0f, 1.0f, 9);
  const md::Tensor sorted = LayerNormalization({.axis = {-2, -1}})(x);
  const md::Tensor unsorted = LayerNormalization({.axis = {-1, -2}})(x);
  CHECK(sorted.shape() == md::Shape{2, 3, 4});
  lt::check_values(unsorted, sorted.to_vector(), 1e-6, "unsorted axes");
}

TEST_CASE("LayerNormalization creates gamma before beta", "[layers][layer_normalization]") {
  LayerNormalization ln;
  ln.build(md::Shape{2, 5});
  const auto w = ln.weights();
  REQUIRE(w.size() == 2);
  CHECK(w[0].name() == "gamma");
  CHECK(w[1].name() == "beta");
  CHECK(w[0].path() == ln.name() + "/gamma");
  CHECK(w[0].shape() == md::Shape{5});
  CHECK(ln.gamma() == w[0]);
  CHECK(ln.beta() == w[1]);
  CHECK(w[0].value().to_vector() == std::vector<float>(5, 1.0f));
  CHECK(w[1].value().to_vector() == std::vector<float>(5, 0.0f));
}

TEST_CASE("LayerNormalization writes Keras's config", "[layers][layer_normalization][config]") {
  md::clear_session();
  auto init = [](const char* cls) {
    return md::json{{"module", "keras.initializers"}, {"class_name", cls}, {"config", md::json::object()},
                    {"registered_name", nullptr}};
  };
  // keras.layers.LayerNormalization().get_config() in Keras 3.16.
  const md::json expected = {{"name", "layer_normalization"},
                             {"trainable", true},
                             {"dtype", lt::dtype_policy()},
                             {"axis", -1},
                             {"epsilon", 0.001},
                             {"center", true},
                             {"scale", true},
                             {"rms_scaling", false},
                             {"beta_initializer", init("Zeros")},
                             {"gamma_initializer", init("Ones")},
                             {"beta_regularizer", nullptr},
                             {"gamma_regularizer", nullptr},
                             {"beta_constraint", nullptr},
                             {"gamma_constraint", nullptr}};
  CHECK(LayerNormalization().get_config() == expected);
  CHECK(LayerNormalization({.axis = {-2, -1}}).get_config()["axis"] == md::json::array({-2, -1}));
  md::json bad = expected;
  bad["axis"] = "last";
  CHECK_THROWS_AS(LayerNormalization::from_config(bad), md::TypeError);
  CHECK_THROWS_WITH(LayerNormalization::from_config(bad),
                    "Expected an int or a list/tuple of ints for the argument 'axis', but received: \"last\"");
  // Regularizers and constraints are read (tests/layers/regularizers_test.cpp); unknown ones name the key.
  md::json constrained = expected;
  constrained["gamma_constraint"] = {{"class_name", "NonNeg"}, {"config", md::json::object()}};
  CHECK(LayerNormalization::from_config(constrained).get_config()["gamma_constraint"]["class_name"] == "NonNeg");
  bad = expected;
  bad["gamma_constraint"] = {{"class_name", "Positive"}, {"config", md::json::object()}};
  CHECK_THROWS_WITH(LayerNormalization::from_config(bad),
                    Catch::StartsWith("LayerNormalization config, key 'gamma_constraint': Could not locate class "
                                      "'Positive'"));
}

TEST_CASE("LayerNormalization axis errors use Keras's texts", "[layers][layer_normalization][errors]") {
  const md::Tensor x = md::Tensor::zeros({2, 4});
  // test_out_of_bounds_axis.
  for (int64_t axis : {2, 99, -3, -99}) {
    CHECK_THROWS_WITH(LayerNormalization({.axis = axis})(x),
                      "axis " + std::to_string(axis) + " is out of bounds for an array with dimension 2.");
  }
  CHECK_THROWS_WITH(LayerNormalization({.axis = {0, 99}})(x), Catch::Contains("is out of bounds"));
  CHECK_THROWS_WITH(LayerNormalization({.axis = 99}).compute_output_shape(md::Shape{2, 4}),
                    "axis 99 is out of bounds for an array with dimension 2.");
  // test_duplicate_axis.
  CHECK_THROWS_WITH(LayerNormalization({.axis = {-1, 1}})(x), "Duplicate axes are not allowed. Received: axis=[-1, 1]");
  CHECK_THROWS_WITH(LayerNormalization({.axis = {1, 1}})(x), "Duplicate axes are not allowed. Received: axis=[1, 1]");
  CHECK_THROWS_AS(LayerNormalization({.axis = std::initializer_list<int64_t>{}}), md::ValueError);
}
