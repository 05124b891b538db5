// Concatenate: run_layer_test, Keras's masked values on both axes, shape checks and texts.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Concatenate;

namespace {
}  // namespace

TEST_CASE("Concatenate passes run_layer_test", "[layers][merge][concatenate]") {
  SECTION("Keras's test_basic: axis -1") {
    lt::run_layer_test<Concatenate>({.axis = -1}, {.input_shapes = {{2, 4, 5}, {2, 4, 5}},
                                                   .expected_output_shape = {2, 4, 10},
                                                   .supports_masking = true});
  }
  SECTION("axis 1, different lengths, one input masked") {
    lt::run_layer_test<Concatenate>({.axis = 1},
                                    {.input_shapes = {{2, 2, 3}, {2, 3, 3}},
                                     .input_masks = {lt::bools({1, 0, 0, 1}, {2, 2}), md::Tensor()},
                                     .expected_output_shape = {2, 5, 3},
                                     .supports_masking = true,
                                     .expected_output_mask = lt::bools({1, 0, 1, 1, 1, 0, 1, 1, 1, 1}, {2, 5})});
  }
  SECTION("no masks: no output mask") {
    lt::run_layer_test<Concatenate>({}, {.input_shapes = {{3, 2}, {3, 4}, {3, 1}},
                                         .input_masks = {md::Tensor(), md::Tensor(), md::Tensor()},
                                         .expected_output_shape = {3, 7},
                                         .supports_masking = true,
                                         .expected_output_mask = md::Tensor()});
  }
}

TEST_CASE("Concatenate with masks (Keras's test_concatenate_with_mask)", "[layers][merge][concatenate][mask]") {
  const md::Tensor x1 = md::Tensor::from_vector({0, 0, 1, 2, 0, 0, 3, 4}, {1, 4, 2});
  const md::Tensor x2 = md::Tensor::from_vector({0, 0, 0, 0, 1, 2, 3, 4}, {1, 4, 2});
  x1.set_keras_mask(lt::bools({0, 1, 0, 1}, {1, 4}));
  const md::Tensor out1 = Concatenate({.axis = 1})({x1, x2});
  CHECK(out1.to_vector() == std::vector<float>{0, 0, 1, 2, 0, 0, 3, 4, 0, 0, 0, 0, 1, 2, 3, 4});
  REQUIRE(out1.keras_mask().defined());
  CHECK(out1.keras_mask().to_vector() == std::vector<float>{0, 1, 0, 1, 1, 1, 1, 1});
  const md::Tensor out2 = Concatenate({.axis = 2})({x1, x2});
  CHECK(out2.to_vector() == std::vector<float>{0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 1, 2, 3, 4, 3, 4});
  REQUIRE(out2.keras_mask().defined());
  CHECK(out2.keras_mask().to_vector() == std::vector<float>{1, 1, 1, 1});
  // test_concatenate_with_mask_symbolic: the mask of a symbolic call is symbolic, (None, 8).
  const md::Tensor in1 = md::Input({4, 2});
  const md::Tensor in2 = md::Input({4, 2});
  const md::Tensor s = Concatenate({.axis = 1})({in1, in2}, {.mask = {md::Tensor::symbolic({md::None, 4}, md::DType::bool_), md::Tensor()}});
  CHECK(s.shape() == md::Shape{md::None, 8, 2});
  REQUIRE(s.keras_mask().defined());
  CHECK(s.keras_mask().shape() == md::Shape{md::None, 8});
}

TEST_CASE("Concatenate checks shapes like Keras (test_concatenate_errors)", "[layers][merge][concatenate][errors]") {
  CHECK(Concatenate({.axis = -1})({md::Tensor::ones({1, 1, 1, 1, 5}), md::Tensor::ones({1, 1, 1, 1, 4})}).shape() ==
        md::Shape{1, 1, 1, 1, 9});
  CHECK_THROWS_WITH(Concatenate({.axis = -1})({md::Tensor::ones({1, 2, 1, 1, 5}), md::Tensor::ones({1, 1, 1, 1, 4})}),
                    "A `Concatenate` layer requires inputs with matching shapes except for the concatenation axis. "
                    "Received: input_shape=[(1, 2, 1, 1, 5), (1, 1, 1, 1, 4)]");
  CHECK_THROWS_WITH(Concatenate({.axis = 1})({md::Tensor::ones({1, 2, 1, 2, 1}), md::Tensor::ones({1, 1, 1, 3, 1})}),
                    Catch::StartsWith("A `Concatenate` layer requires inputs with matching shapes except for the "
                                      "concatenation axis."));
  CHECK_THROWS_WITH(Concatenate()(md::Tensor::ones({2, 3})),
                    "A `Concatenate` layer should be called on a list of at least 1 input. Received: "
                    "input_shape=(2, 3)");
  // None matches any size; the concatenated size is None when any part is unknown.
  CHECK(Concatenate()({md::Input(md::Shape{md::None, 3}), md::Input({4, 2})}).shape() == md::Shape{md::None, md::None, 5});
  CHECK(Concatenate({.axis = 1})({md::Input(md::Shape{md::None, 3}), md::Input({4, 3})}).shape() ==
        md::Shape{md::None, md::None, 3});
}

TEST_CASE("Concatenate writes Keras's config", "[layers][merge][concatenate][config]") {
  md::clear_session();
  const md::json expected = {{"name", "concatenate"}, {"trainable", true}, {"dtype", lt::dtype_policy()}, {"axis", -1}};
  CHECK(Concatenate().get_config() == expected);
  CHECK(Concatenate::from_config({{"name", "c"}, {"axis", 1}}).options().axis == 1);
  CHECK_THROWS_WITH(Concatenate::from_config({{"axis", "last"}}),
                    "Concatenate config key 'axis' must be an integer; received \"last\".");
}
