// InputLayer and md::Input: run_layer_test, the symbolic tensor they make, Keras's config.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::InputLayer;

TEST_CASE("InputLayer passes run_layer_test", "[layers][input_layer]") {
  // Built when made (no build_config, as Keras); calling it passes the data through.
  lt::run_layer_test<InputLayer>({.batch_shape = md::Shape{2, 3}}, {.input_shape = {2, 3},
                                                                   .expected_output_shape = {2, 3},
                                                                   .built_after_construction = true});
  lt::run_layer_test<InputLayer>({.shape = {4, 2}}, {.input_shape = {3, 4, 2},
                                                     .expected_output_shape = {3, 4, 2},
                                                     .built_after_construction = true});
}

TEST_CASE("md::Input makes a symbolic tensor with an InputLayer history", "[layers][input_layer][symbolic]") {
  md::clear_session();
  const md::Tensor q = md::Input({8, 16}, "query");
  CHECK(q.is_symbolic());
  CHECK(q.shape() == md::Shape{md::None, 8, 16});
  CHECK(q.dtype() == md::DType::float32);
  REQUIRE(q.impl()->history);
  const auto& op = q.impl()->history->operation;
  CHECK(op->class_name() == "InputLayer");
  CHECK(op->name() == "query");
  CHECK(q.impl()->history->node_index == 0);
  CHECK(q.impl()->history->tensor_index == 0);
  // Auto names: input_layer, input_layer_1, ...
  CHECK(md::Input({3}).impl()->history->operation->name() == "input_layer");
  CHECK(md::Input({3}).impl()->history->operation->name() == "input_layer_1");
  // batch_size and dtype.
  const md::Tensor ids = md::Input(md::layers::InputLayerOptions{.shape = {5}, .batch_size = 4, .dtype = "int32"});
  CHECK(ids.shape() == md::Shape{4, 5});
  CHECK(ids.dtype() == md::DType::int32);
}

TEST_CASE("InputLayer writes Keras's config", "[layers][input_layer][config]") {
  md::clear_session();
  auto layer = InputLayer::create({.shape = {8, 16}});
  // keras.layers.InputLayer(shape=(8, 16)).get_config() in Keras 3.16.
  const md::json expected = {{"batch_shape", {nullptr, 8, 16}}, {"dtype", "float32"}, {"sparse", false},
                             {"ragged", false},                  {"name", "input_layer"}, {"optional", false}};
  CHECK(layer->get_config() == expected);
  const md::json object = md::serialize(*layer);
  CHECK(object == md::json{{"module", "keras.layers"},
                           {"class_name", "InputLayer"},
                           {"config", expected},
                           {"registered_name", nullptr}});
  // Keras 2's batch_input_shape loads too.
  auto old = InputLayer::from_config({{"batch_input_shape", {nullptr, 3}}, {"dtype", "float32"}, {"name", "old"}});
  CHECK(old->batch_shape() == md::Shape{md::None, 3});
  CHECK(old->output().shape() == md::Shape{md::None, 3});
}

TEST_CASE("InputLayer argument errors", "[layers][input_layer][errors]") {
  CHECK_THROWS_WITH(InputLayer::create({.shape = {3}, .batch_shape = md::Shape{2, 3}}),
                    "You cannot pass both `shape` and `batch_shape` at the same time.");
  CHECK_THROWS_WITH(InputLayer::create({.batch_size = 2, .batch_shape = md::Shape{2, 3}}),
                    "You cannot pass both `batch_size` and `batch_shape` at the same time.");
  CHECK_THROWS_AS(InputLayer::create({.shape = {3}, .dtype = "complex64"}), md::ValueError);
}
