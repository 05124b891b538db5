// Reshape: Keras's run_layer_test cases, -1 inference, unknown batch and dims, config, errors.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Reshape;

TEST_CASE("Reshape passes run_layer_test", "[layers][reshape]") {
  // Keras's test_reshape: (target_shape, input_shape, expected_output_shape).
  struct Case {
    md::Shape target, input, output;
  };
  const std::vector<Case> cases = {
      {{8, 1}, {3, 2, 4}, {3, 8, 1}},  {{8}, {3, 2, 4}, {3, 8}},     {{2, 4}, {3, 8}, {3, 2, 4}},
      {{-1, 1}, {3, 2, 4}, {3, 8, 1}}, {{1, -1}, {3, 2, 4}, {3, 1, 8}}, {{-1}, {3, 2, 4}, {3, 8}},
      {{2, -1}, {3, 2, 4}, {3, 2, 4}},
  };
  for (const Case& c : cases) {
    INFO("target_shape " << md::shape_to_string(c.target) << " on " << md::shape_to_string(c.input));
    lt::run_layer_test<Reshape>({.target_shape = c.target}, {.input_shape = c.input,
                                                             .expected_output_shape = c.output,
                                                             .built_after_construction = true});
  }
}

TEST_CASE("Reshape on symbolic inputs keeps the batch axis", "[layers][reshape][symbolic]") {
  // Keras's test_reshape_with_dynamic_batch_size.
  CHECK(Reshape({.target_shape = {8}})(md::Input({2, 4})).shape() == md::Shape{md::None, 8});
  // test_reshape_with_dynamic_batch_size_and_minus_one: KerasTensor((None, 6, 4)), (-1, 8).
  CHECK(Reshape({.target_shape = {-1, 8}})(md::Tensor::symbolic({md::None, 6, 4})).shape() ==
        md::Shape{md::None, 3, 8});
  // test_reshape_with_dynamic_dim_and_minus_one: KerasTensor((4, 6, None, 3)), (-1, 3).
  CHECK(Reshape({.target_shape = {-1, 3}})(md::Tensor::symbolic({4, 6, md::None, 3})).shape() ==
        md::Shape{4, md::None, 3});
  // test_reshape_sets_static_shape: Input(batch_shape=(2, None)), (3, 5).
  CHECK(Reshape({.target_shape = {3, 5}})(md::Input(md::layers::InputLayerOptions{.batch_shape = md::Shape{2, md::None}})).shape() ==
        md::Shape{2, 3, 5});
}

TEST_CASE("Reshape infers -1 for each input size", "[layers][reshape]") {
  // Keras's test_reshape_layer_with_varying_input_size_and_minus_one.
  Reshape layer({.target_shape = {-1, 8}});
  CHECK(layer(md::Tensor::ones({1, 6, 4})).shape() == md::Shape{1, 3, 8});
  CHECK(layer(md::Tensor::ones({1, 10, 4})).shape() == md::Shape{1, 5, 8});
  const md::Tensor x = md::Tensor::arange(32).reshape({2, 4, 4});
  CHECK(layer(x).shape() == md::Shape{2, 2, 8});
  CHECK(layer(x).to_vector() == x.to_vector());  // row-major order is kept
}

TEST_CASE("Reshape writes Keras's config", "[layers][reshape][config]") {
  md::clear_session();
  const Reshape layer({.target_shape = {-1, 8}});
  const md::json expected = {
      {"name", "reshape"}, {"trainable", true}, {"dtype", lt::dtype_policy()}, {"target_shape", {-1, 8}}};
  CHECK(layer.get_config() == expected);
  CHECK(layer.built());  // Keras sets built = True in the constructor
  md::json bad = expected;
  bad["target_shape"] = {2, "x"};
  CHECK_THROWS_WITH(Reshape::from_config(bad),
                    "Reshape config key 'target_shape' must be a list of integers; received [2,\"x\"].");
  bad["target_shape"] = 4;
  CHECK_THROWS_WITH(Reshape::from_config(bad), "Reshape config key 'target_shape' must be a list; received 4.");
}

TEST_CASE("Reshape errors use Keras's texts", "[layers][reshape][errors]") {
  // Keras's test_reshape_rejects_invalid_target_shape.
  CHECK_THROWS_WITH(Reshape({.target_shape = {-2, 5}}),
                    "Each dimension in `target_shape` must be a non-negative integer, or `-1` for a single unknown "
                    "dimension. Received: target_shape=(-2, 5).");
  CHECK_THROWS_WITH(Reshape({.target_shape = {-1, -1, 5}}),
                    "There must be at most one unknown dimension (-1) in `target_shape`. Received: "
                    "target_shape=(-1, -1, 5).");
  // operation_utils.compute_reshape_output_shape.
  CHECK_THROWS_WITH(Reshape({.target_shape = {5}})(md::Tensor::ones({3, 8})),
                    "The total size of the tensor must be unchanged. Received: input_shape=(8,), target_shape=(5,)");
  CHECK_THROWS_WITH(Reshape({.target_shape = {-1, 3}})(md::Tensor::ones({2, 8})),
                    "The total size of the tensor must be unchanged, however, the input size cannot by divided by the "
                    "specified dimensions in target_shape. Received: input_shape=(8,), target_shape=(-1, 3)");
  CHECK_THROWS_AS(Reshape({.target_shape = {5}})(md::Input({8})), md::ValueError);
}
