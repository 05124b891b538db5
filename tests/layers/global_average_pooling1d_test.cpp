// GlobalAveragePooling1D: run_layer_test, Keras's masked/unmasked values for both data
// formats, the Embedding(mask_zero) pipeline, config and errors.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::GlobalAveragePooling1D;

TEST_CASE("GlobalAveragePooling1D passes run_layer_test", "[layers][pooling]") {
  // Keras's test_global_average_pooling1d (basic): (data_format, keepdims, input, output).
  SECTION("channels_last") {
    lt::run_layer_test<GlobalAveragePooling1D>({}, {.input_shape = {3, 5, 4},
                                                    .expected_output_shape = {3, 4},
                                                    .supports_masking = true,
                                                    .built_after_construction = true});
  }
  SECTION("channels_last, keepdims") {
    lt::run_layer_test<GlobalAveragePooling1D>({.keepdims = true}, {.input_shape = {3, 5, 4},
                                                                    .expected_output_shape = {3, 1, 4},
                                                                    .supports_masking = true,
                                                                    .built_after_construction = true});
  }
  SECTION("channels_first") {
    lt::run_layer_test<GlobalAveragePooling1D>({.data_format = "channels_first"},
                                               {.input_shape = {3, 5, 4},
                                                .expected_output_shape = {3, 5},
                                                .supports_masking = true,
                                                .built_after_construction = true});
  }
  SECTION("masked: averages the kept steps; the output has no mask") {
    const md::Tensor mask = md::Tensor::from_vector({1, 1, 0, 1, 0, 1, 0, 0}, {2, 4}, md::DType::bool_);
    lt::run_layer_test<GlobalAveragePooling1D>({}, {.input_shape = {2, 4, 3},
                                                    .input_masks = {mask},
                                                    .expected_output_shape = {2, 3},
                                                    .supports_masking = true,
                                                    .built_after_construction = true,
                                                    .expected_output_mask = md::Tensor()});
  }
}

TEST_CASE("GlobalAveragePooling1D matches Keras's reference values", "[layers][pooling][parity]") {
  // Keras's GlobalAveragePoolingCorrectnessTest.test_global_average_pooling1d:
  // inputs = np.arange(24).reshape((2, 3, 4)); masks [[1, 1, 0], [0, 1, 0]] (channels_last)
  // and [[1, 1, 0, 0], [0, 1, 0, 1]] (channels_first); expected from its np_gap1d reference.
  const md::Tensor x = md::Tensor::arange(24).reshape({2, 3, 4});
  GlobalAveragePooling1D last;
  CHECK(last(x).to_vector() == std::vector<float>{4, 5, 6, 7, 16, 17, 18, 19});
  const md::Tensor mask_last = md::Tensor::from_vector({1, 1, 0, 0, 1, 0}, {2, 3}, md::DType::int32);
  CHECK(last(x, {.mask = {mask_last}}).to_vector() == std::vector<float>{2, 3, 4, 5, 16, 17, 18, 19});
  GlobalAveragePooling1D last_keep({.keepdims = true});
  CHECK(last_keep(x, {.mask = {mask_last}}).shape() == md::Shape{2, 1, 4});
  CHECK(last_keep(x, {.mask = {mask_last}}).to_vector() == std::vector<float>{2, 3, 4, 5, 16, 17, 18, 19});

  GlobalAveragePooling1D first({.data_format = "channels_first"});
  lt::check_values(first(x), {1.5f, 5.5f, 9.5f, 13.5f, 17.5f, 21.5f}, 0.0, "channels_first");
  const md::Tensor mask_first = md::Tensor::from_vector({1, 1, 0, 0, 0, 1, 0, 1}, {2, 4}, md::DType::int32);
  lt::check_values(first(x, {.mask = {mask_first}}), {0.5f, 4.5f, 8.5f, 14, 18, 22}, 0.0, "channels_first, masked");
  GlobalAveragePooling1D first_keep({.data_format = "channels_first", .keepdims = true});
  CHECK(first_keep(x, {.mask = {mask_first}}).shape() == md::Shape{2, 3, 1});
}

TEST_CASE("GlobalAveragePooling1D ignores the steps Embedding(mask_zero) masks", "[layers][pooling][mask]") {
  md::layers::Embedding emb({.input_dim = 10, .output_dim = 2, .mask_zero = true});
  emb.build(md::Shape{md::None, 3});
  // Row i of the embeddings is (i, 10 i).
  std::vector<float> rows;
  for (int i = 0; i < 10; ++i) rows.insert(rows.end(), {static_cast<float>(i), 10.0f * i});
  emb.embeddings().assign(md::Tensor::from_vector(rows, {10, 2}));
  GlobalAveragePooling1D pool;
  const md::Tensor ids = md::Tensor::from_vector({3, 5, 0, 0, 0, 6}, {2, 3}, md::DType::int32);
  const md::Tensor y = pool(emb(ids));
  // Sample 0 averages ids 3 and 5; sample 1 only id 6 (the padding rows of id 0 are ignored).
  CHECK(y.to_vector() == std::vector<float>{4, 40, 6, 60});
  CHECK_FALSE(y.keras_mask().defined());
  // Without the mask, the zeros of the padding rows would be averaged in.
  CHECK(pool(emb(ids), {.mask = {md::Tensor::ones({2, 3}, md::DType::bool_)}}).to_vector() ==
        std::vector<float>{8.0f / 3, 80.0f / 3, 2, 20});
}

TEST_CASE("GlobalAveragePooling1D writes Keras's config", "[layers][pooling][config]") {
  md::clear_session();
  const md::json expected = {{"name", "global_average_pooling1d"}, {"trainable", true},
                             {"dtype", lt::dtype_policy()},        {"data_format", "channels_last"},
                             {"keepdims", false}};
  CHECK(GlobalAveragePooling1D().get_config() == expected);
}

TEST_CASE("GlobalAveragePooling1D needs 3-D inputs", "[layers][pooling][errors]") {
  md::clear_session();
  GlobalAveragePooling1D pool;
  CHECK_THROWS_WITH(pool(md::Tensor::ones({2, 3})),
                    "Input 0 of layer 'global_average_pooling1d' is incompatible with the layer: expected ndim=3, "
                    "found ndim=2. Full shape received: (2, 3)");
  CHECK_THROWS_WITH(GlobalAveragePooling1D({.data_format = "NWC"}),
                    "The `data_format` argument must be one of {'channels_first', 'channels_last'}. Received: "
                    "data_format=nwc");
}
