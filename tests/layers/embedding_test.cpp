// Embedding: run_layer_test (integer inputs, mask_zero), lookups, gradients, config, errors.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Embedding;

TEST_CASE("Embedding passes run_layer_test", "[layers][embedding]") {
  SECTION("1-D indices (Keras's test_embedding_basics)") {
    lt::run_layer_test<Embedding>({.input_dim = 4, .output_dim = 3}, {.input_shape = {2},
                                                                      .input_dtype = md::DType::int32,
                                                                      .int_input_high = 4,
                                                                      .expected_output_shape = {2, 3},
                                                                      .expected_trainable_weights = 1,
                                                                      .input_differentiable = false});
  }
  SECTION("mask_zero: the mask is ids != 0") {
    const md::Tensor ids = md::Tensor::from_vector({1, 0, 3, 4, 0, 0}, {2, 3}, md::DType::int32);
    lt::run_layer_test<Embedding>(
        {.input_dim = 5, .output_dim = 4, .mask_zero = true},
        {.input_data = {ids},
         .expected_output_shape = {2, 3, 4},
         .expected_trainable_weights = 1,
         .supports_masking = true,
         .expected_output_mask = md::Tensor::from_vector({1, 0, 1, 1, 0, 0}, {2, 3}, md::DType::bool_),
         .input_differentiable = false});
  }
  SECTION("without mask_zero there is no mask") {
    lt::run_layer_test<Embedding>({.input_dim = 5, .output_dim = 2},
                                  {.input_data = {md::Tensor::from_vector({0, 2, 0, 1}, {2, 2}, md::DType::int32)},
                                   .expected_output_shape = {2, 2, 2},
                                   .expected_trainable_weights = 1,
                                   .expected_output_mask = md::Tensor(),
                                   .input_differentiable = false});
  }
}

TEST_CASE("Embedding looks rows up (Keras's test_correctness)", "[layers][embedding]") {
  Embedding layer({.input_dim = 3, .output_dim = 2});
  layer.build(md::Shape{3});
  layer.embeddings().assign(md::Tensor::from_vector({0, 0, 2, 2, 3, 3}, {3, 2}));
  const std::vector<float> expected = {3, 3, 2, 2, 0, 0};
  CHECK(layer(md::Tensor::from_vector({2, 1, 0}, {3}, md::DType::int32)).to_vector() == expected);
  // Integer values in a float32 tensor work too (Keras casts them to int32, truncating).
  CHECK(layer(md::Tensor::from_vector({2, 1, 0}, {3})).to_vector() == expected);
  CHECK(layer(md::Tensor::from_vector({2.7f, 1.2f, 0.9f}, {3})).to_vector() == expected);
}

TEST_CASE("Embedding's default initializer is RandomUniform(-0.05, 0.05)", "[layers][embedding][initializers]") {
  Embedding layer({.input_dim = 50, .output_dim = 8});
  layer.build(md::Shape{md::None});
  const std::vector<float> w = layer.embeddings().value().to_vector();
  float lo = 1, hi = -1;
  for (float v : w) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  CHECK(lo >= -0.05f);
  CHECK(hi < 0.05f);
  CHECK(hi - lo > 0.08f);  // it does fill the range
}

TEST_CASE("Embedding gradients scatter-add into the looked-up rows", "[layers][embedding][gradient]") {
  Embedding layer({.input_dim = 4, .output_dim = 2});
  const md::Tensor ids = md::Tensor::from_vector({1, 1, 3}, {3}, md::DType::int32);
  md::GradientTape tape;
  const md::Tensor y = layer(ids);
  const md::Tensor g = tape.gradient(md::ops::sum(y), {layer.embeddings()})[0];
  CHECK(g.to_vector() == std::vector<float>{0, 0, 2, 2, 0, 0, 1, 1});
}

TEST_CASE("Embedding(mask_zero) attaches its mask to the output", "[layers][embedding][mask]") {
  Embedding layer({.input_dim = 10, .output_dim = 3, .mask_zero = true});
  const md::Tensor y = layer(md::Tensor::from_vector({5, 0, 7, 0}, {2, 2}, md::DType::int32));
  REQUIRE(y.keras_mask().defined());
  CHECK(y.keras_mask().dtype() == md::DType::bool_);
  CHECK(y.keras_mask().to_vector() == std::vector<float>{1, 0, 1, 0});
  // Symbolic: a symbolic bool mask of the input's shape.
  const md::Tensor s = layer(md::Input({6}, "ids", md::DType::int32));
  REQUIRE(s.keras_mask().defined());
  CHECK(s.keras_mask().shape() == md::Shape{md::None, 6});
  CHECK(s.shape() == md::Shape{md::None, 6, 3});
}

TEST_CASE("Embedding writes Keras's config", "[layers][embedding][config]") {
  md::clear_session();
  // keras.layers.Embedding(4, 3).get_config() in Keras 3.16 (embedding.py get_config).
  const md::json expected = {{"name", "embedding"},
                             {"trainable", true},
                             {"dtype", lt::dtype_policy()},
                             {"input_dim", 4},
                             {"output_dim", 3},
                             {"embeddings_initializer",
                              {{"module", "keras.initializers"},
                               {"class_name", "RandomUniform"},
                               {"config", {{"seed", nullptr}, {"minval", -0.05}, {"maxval", 0.05}}},
                               {"registered_name", nullptr}}},
                             {"embeddings_regularizer", nullptr},
                             {"activity_regularizer", nullptr},
                             {"embeddings_constraint", nullptr},
                             {"mask_zero", false},
                             {"quantization_config", nullptr}};
  CHECK(Embedding({.input_dim = 4, .output_dim = 3}).get_config() == expected);
  // Keras 2's input_length is accepted and dropped (Keras 3 warns and ignores it).
  md::json keras2 = expected;
  keras2["input_length"] = 10;
  CHECK(Embedding::from_config(keras2).get_config() == expected);
  md::json regularized = expected;
  regularized["embeddings_regularizer"] = {{"class_name", "L2"}, {"config", {{"l2", 0.01}}}};
  CHECK(Embedding::from_config(regularized).get_config()["embeddings_regularizer"]["config"] ==
        md::json{{"l2", 0.01}});
  md::json quantized = expected;
  quantized["quantization_config"] = {{"mode", "int8"}};
  CHECK_THROWS_AS(Embedding::from_config(quantized), md::NotImplementedError);
  md::json missing = expected;
  missing.erase("output_dim");
  CHECK_THROWS_WITH(Embedding::from_config(missing),
                    "Embedding config is missing the required key 'output_dim' (an integer).");
}

TEST_CASE("Embedding errors use Keras's texts", "[layers][embedding][errors]") {
  CHECK_THROWS_WITH(Embedding({.input_dim = 0, .output_dim = 3}),
                    "`input_dim` must be a positive integer. Received: input_dim=0 (of type int).");
  CHECK_THROWS_WITH(Embedding({.input_dim = 3, .output_dim = -1}),
                    "`output_dim` must be a positive integer. Received: output_dim=-1 (of type int).");
  Embedding layer({.input_dim = 3, .output_dim = 2});
  CHECK_THROWS_AS(layer.embeddings(), md::AttributeError);
  CHECK_THROWS_WITH(layer.embeddings(), "You must build the layer before accessing `embeddings`.");
  CHECK_THROWS_AS(layer(md::Tensor::from_vector({0, 3}, {2}, md::DType::int32)), md::IndexError);
}
