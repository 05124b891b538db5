// The run_layer_test helpers themselves: shape matching, inputs, masks, build shapes.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;

TEST_CASE("harness: expected shapes treat None as a wildcard", "[layers][harness]") {
  CHECK(lt::shape_matches({2, 3}, {2, 3}));
  CHECK(lt::shape_matches({2, 3}, {md::None, 3}));
  CHECK(lt::shape_matches({md::None, 3}, {md::None, 3}));
  CHECK_FALSE(lt::shape_matches({2, 3}, {2, 4}));
  CHECK_FALSE(lt::shape_matches({2, 3}, {2, 3, 1}));
  CHECK_FALSE(lt::shape_matches({md::None, 3}, {2, 3}));  // an unknown dim does not match a known one
}

TEST_CASE("harness: inputs are seeded, typed and shaped by the spec", "[layers][harness]") {
  const lt::LayerTestSpec one{.input_shape = {2, 3}, .expected_output_shape = {2, 3}};
  const auto a = lt::make_inputs(one);
  const auto b = lt::make_inputs(one);
  REQUIRE(a.size() == 1);
  CHECK(a[0].shape() == md::Shape{2, 3});
  CHECK(a[0].to_vector() == b[0].to_vector());  // reproducible
  CHECK_FALSE(lt::list_input(one));
  CHECK(lt::build_shape_of(one) == md::ShapeSpec(md::Shape{2, 3}));

  const lt::LayerTestSpec list{.input_shapes = {{2, 3}, {2, 1}}, .expected_output_shape = {2, 3}};
  const auto l = lt::make_inputs(list);
  REQUIRE(l.size() == 2);
  CHECK(l[0].to_vector()[0] != l[1].to_vector()[0]);  // a seed per input
  CHECK(lt::list_input(list));
  CHECK(lt::build_shape_of(list) == md::ShapeSpec({{2, 3}, {2, 1}}));

  const lt::LayerTestSpec ints{.input_shape = {100},
                               .input_dtype = md::DType::int32,
                               .int_input_high = 5,
                               .expected_output_shape = {100}};
  const md::Tensor i = lt::make_inputs(ints)[0];
  CHECK(i.dtype() == md::DType::int32);
  for (float v : i.to_vector()) {
    CHECK(v == std::floor(v));
    CHECK(v >= 0);
    CHECK(v < 5);
  }
  // Explicit data wins, and is copied (the test's tensor is never modified).
  const md::Tensor data = md::Tensor::from_vector({1, 2}, {1, 2});
  const lt::LayerTestSpec given{.input_data = {data}, .expected_output_shape = {1, 2}};
  const auto g = lt::make_inputs(given);
  CHECK(g[0].to_vector() == data.to_vector());
  CHECK_FALSE(g[0].same_storage(data));
  CHECK(lt::shapes_of(given) == std::vector<md::Shape>{{1, 2}});
}

TEST_CASE("harness: symbolic inputs come from md::Input", "[layers][harness]") {
  const lt::LayerTestSpec spec{.input_shapes = {{2, 3}, {2, 4}}, .expected_output_shape = {2, 7}};
  const auto known = lt::symbolic_inputs(spec, false);
  const auto unknown = lt::symbolic_inputs(spec, true);
  REQUIRE(known.size() == 2);
  CHECK(known[0].is_symbolic());
  CHECK(known[1].shape() == md::Shape{2, 4});
  CHECK(unknown[1].shape() == md::Shape{md::None, 4});
  CHECK(known[0].impl()->history->operation->class_name() == "InputLayer");
}

TEST_CASE("harness: the dtype policy helper is Keras 3's", "[layers][harness]") {
  CHECK(lt::dtype_policy().dump() ==
        R"({"module":"keras","class_name":"DTypePolicy","config":{"name":"float32"},"registered_name":null})");
  CHECK(md::layers::Dense({.units = 1}).get_config()["dtype"] == lt::dtype_policy());
}

TEST_CASE("harness: masks compare by truth value", "[layers][harness]") {
  const md::Tensor a = md::Tensor::from_vector({1, 0, 1}, {3}, md::DType::bool_);
  const md::Tensor b = md::Tensor::from_vector({2, 0, -1}, {3});  // non-zero = keep
  lt::check_mask(a, b, "bool against float");
  lt::check_mask(md::Tensor(), md::Tensor(), "both none");
  CHECK(lt::all_finite(a));
  CHECK_FALSE(lt::all_finite(md::Tensor::from_vector({1, std::nanf("")}, {2})));
  CHECK(lt::projected(md::Tensor::from_vector({1, 2}, {2}), md::Tensor::from_vector({3, 4}, {2})) == 11.0);
}
