// Add (and the Merge base): run_layer_test, Keras's masked values, broadcasting of different
// ranks, Merge's shape rules and error texts.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Add;

namespace {
}  // namespace

TEST_CASE("Add passes run_layer_test", "[layers][merge][add]") {
  SECTION("Keras's test_basic: two (2, 4, 5) inputs") {
    lt::run_layer_test<Add>({}, {.input_shapes = {{2, 4, 5}, {2, 4, 5}},
                                 .expected_output_shape = {2, 4, 5},
                                 .supports_masking = true});
  }
  SECTION("three inputs, every one masked: the masks are ORed") {
    lt::run_layer_test<Add>({}, {.input_shapes = {{2, 3, 2}, {2, 3, 2}, {2, 3, 2}},
                                 .input_masks = {lt::bools({1, 0, 0, 0, 0, 0}, {2, 3}), lt::bools({0, 1, 0, 0, 0, 0}, {2, 3}),
                                                 lt::bools({0, 0, 0, 1, 0, 0}, {2, 3})},
                                 .expected_output_shape = {2, 3, 2},
                                 .supports_masking = true,
                                 .expected_output_mask = lt::bools({1, 1, 0, 1, 0, 0}, {2, 3})});
  }
  SECTION("one input unmasked: no output mask") {
    lt::run_layer_test<Add>({}, {.input_shapes = {{2, 3, 2}, {2, 3, 2}},
                                 .input_masks = {lt::bools({1, 0, 1, 0, 1, 0}, {2, 3}), md::Tensor()},
                                 .expected_output_shape = {2, 3, 2},
                                 .supports_masking = true,
                                 .expected_output_mask = md::Tensor()});
  }
  SECTION("inputs of different ranks are lined up after the batch axis") {
    lt::run_layer_test<Add>({}, {.input_shapes = {{2, 3}, {2, 4, 3}},
                                 .expected_output_shape = {2, 4, 3},
                                 .supports_masking = true});
  }
}

TEST_CASE("Add with masks (Keras's test_add_with_mask)", "[layers][merge][add][mask]") {
  // x1 is masked at steps 0 and 2 (Keras's Masking layer), x2 at steps 0 and 1 in the second
  // half; Add is a plain sum, and the output mask is the OR when both inputs have one.
  const md::Tensor x1 = md::Tensor::from_vector({0, 0, 1, 2, 0, 0, 3, 4}, {1, 4, 2});
  const md::Tensor x2 = md::Tensor::from_vector({0, 0, 0, 0, 1, 2, 3, 4}, {1, 4, 2});
  x1.set_keras_mask(lt::bools({0, 1, 0, 1}, {1, 4}));
  const md::Tensor out = Add()({x1, x2});
  CHECK(out.to_vector() == std::vector<float>{0, 0, 1, 2, 1, 2, 6, 8});
  CHECK_FALSE(out.keras_mask().defined());
  x2.set_keras_mask(lt::bools({0, 0, 1, 1}, {1, 4}));
  const md::Tensor out2 = Add()({x1, x2});
  CHECK(out2.to_vector() == std::vector<float>{0, 0, 1, 2, 1, 2, 6, 8});
  REQUIRE(out2.keras_mask().defined());
  CHECK(out2.keras_mask().to_vector() == std::vector<float>{0, 1, 1, 1});
}

TEST_CASE("Add broadcasts like Keras's Merge", "[layers][merge][add]") {
  const md::Tensor a = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const md::Tensor b = md::Tensor::ones({2, 2, 3});
  // (2, 3) becomes (2, 1, 3) and broadcasts over the second axis.
  CHECK(Add()({a, b}).to_vector() == std::vector<float>{2, 3, 4, 2, 3, 4, 5, 6, 7, 5, 6, 7});
  // Shapes: None wins, 1 broadcasts, the batch is the single known batch size.
  CHECK(Add().compute_output_shape({{md::None, 4, 1}, {3, md::None, 5}}).shape() == md::Shape{3, md::None, 5});
  CHECK(Add().compute_output_shape({{md::None, 3}, {md::None, 3}}).shape() == md::Shape{md::None, 3});
  const md::Tensor s = Add()({md::Input(md::Shape{md::None, 3}), md::Input({4, 3})});
  CHECK(s.shape() == md::Shape{md::None, md::None, 3});
  CHECK(Add()({md::Input(md::layers::InputLayerOptions{.batch_shape = md::Shape{2, 3}}), md::Input({3})}).shape() == md::Shape{2, 3});
}

TEST_CASE("Merge layers check their inputs with Keras's texts", "[layers][merge][errors]") {
  const md::Tensor x = md::Tensor::ones({2, 3});
  CHECK_THROWS_WITH(Add()(x), "A merge layer should be called on a list of inputs. Received: input_shape=(2, 3) (not a "
                              "list of shapes)");
  CHECK_THROWS_WITH(Add()({x, md::Tensor::ones({4, 3})}),
                    "Cannot merge tensors with different batch sizes. Received tensors with shapes [(2, 3), (4, 3)]");
  CHECK_THROWS_WITH(Add()({x, md::Tensor::ones({2, 4})}),
                    "Inputs have incompatible shapes. Received shapes (3,) and (4,)");
  CHECK_THROWS_WITH(Add()({md::Input({3}), md::Input({5})}),
                    "Inputs have incompatible shapes. Received shapes (3,) and (5,)");
  // compute_mask (Keras's test_errors): the masks must be a list as long as the inputs.
  Add add;
  CHECK_THROWS_WITH(add({x, x}, {.mask = {md::Tensor::ones({2}, md::DType::bool_)}}),
                    Catch::Contains(" should have the same length."));
  CHECK_THROWS_WITH(add.compute_mask(md::CallArgs::of(x), {md::Tensor(), md::Tensor()}),
                    Catch::StartsWith("`inputs` should be a list."));
  CHECK_FALSE(add.compute_mask(md::CallArgs::of(std::vector<md::Tensor>{x, x}), {md::Tensor(), md::Tensor()}).defined());
}

TEST_CASE("Add writes Keras's config", "[layers][merge][add][config]") {
  md::clear_session();
  const md::json expected = {{"name", "add"}, {"trainable", true}, {"dtype", lt::dtype_policy()}};
  CHECK(Add().get_config() == expected);
  CHECK(md::serialize(Add()).at("class_name") == "Add");
  // The bare class name means the layer, not the Add op.
  CHECK(md::deserialize({{"class_name", "Add"}, {"config", expected}})->class_name() == "Add");
}
