// MaxPooling1D/2D, AveragePooling1D/2D, GlobalAveragePooling2D, GlobalMaxPooling1D/2D:
// run_layer_test, Keras's documented values, configs and errors with Keras's texts.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using namespace md::layers;

TEST_CASE("pooling layers pass run_layer_test", "[layers][pooling]") {
  SECTION("MaxPooling2D default 2x2") {
    lt::run_layer_test<MaxPooling2D>({}, {.input_shape = {2, 6, 4, 3}, .expected_output_shape = {2, 3, 2, 3},
                                          .built_after_construction = true});
  }
  SECTION("MaxPooling2D same, strides 1, channels_first") {
    lt::run_layer_test<MaxPooling2D>({.pool_size = {3, 2}, .strides = {1}, .padding = "same",
                                      .data_format = "channels_first"},
                                     // Random inputs put near-ties in overlapping windows, where finite
                                     // differences cross the arg-max; the op's gradcheck uses distinct values.
                                     {.input_shape = {2, 3, 5, 4}, .expected_output_shape = {2, 3, 5, 4},
                                      .built_after_construction = true, .gradcheck = false});
  }
  SECTION("MaxPooling1D") {
    lt::run_layer_test<MaxPooling1D>({.strides = {1}}, {.input_shape = {2, 5, 3}, .expected_output_shape = {2, 4, 3},
                                                        .built_after_construction = true});
  }
  SECTION("AveragePooling1D same") {
    lt::run_layer_test<AveragePooling1D>({.pool_size = {3}, .strides = {2}, .padding = "same"},
                                         {.input_shape = {2, 7, 2}, .expected_output_shape = {2, 4, 2},
                                          .built_after_construction = true});
  }
  SECTION("AveragePooling2D valid, strides != pool_size") {
    lt::run_layer_test<AveragePooling2D>({.pool_size = {2, 3}, .strides = {1, 2}},
                                         {.input_shape = {2, 4, 7, 3}, .expected_output_shape = {2, 3, 3, 3},
                                          .built_after_construction = true});
  }
  SECTION("GlobalAveragePooling2D") {
    lt::run_layer_test<GlobalAveragePooling2D>({}, {.input_shape = {2, 3, 4, 5}, .expected_output_shape = {2, 5},
                                                    .built_after_construction = true});
  }
  SECTION("GlobalMaxPooling2D keepdims channels_first") {
    lt::run_layer_test<GlobalMaxPooling2D>({.data_format = "channels_first", .keepdims = true},
                                           {.input_shape = {2, 3, 4, 5}, .expected_output_shape = {2, 3, 1, 1},
                                            .built_after_construction = true,
                                            .gradcheck = false});  // the max of 20 random values: near-ties
  }
  SECTION("GlobalMaxPooling1D keepdims") {
    lt::run_layer_test<GlobalMaxPooling1D>({.keepdims = true}, {.input_shape = {2, 4, 3},
                                                                .expected_output_shape = {2, 1, 3},
                                                                .built_after_construction = true});
  }
}

TEST_CASE("pooling layers give Keras's values", "[layers][pooling][parity]") {
  // Keras's max_pooling_test / average_pooling_test style inputs: arange values.
  const md::Tensor x = md::Tensor::arange(16).reshape({1, 4, 4, 1});
  CHECK(MaxPooling2D()(x).to_vector() == std::vector<float>{5, 7, 13, 15});
  CHECK(AveragePooling2D({.pool_size = {2}})(x).to_vector() == std::vector<float>{2.5f, 4.5f, 10.5f, 12.5f});
  // 'same' with a 3x3 window and stride 2 on 4x4: the border windows average their real entries.
  const std::vector<float> same = AveragePooling2D({.pool_size = {3}, .strides = {2}, .padding = "same"})(x).to_vector();
  CHECK(same == std::vector<float>{5, 6.5f, 11, 12.5f});
  CHECK(GlobalMaxPooling2D()(x).to_vector() == std::vector<float>{15});
  CHECK(GlobalAveragePooling2D({.keepdims = true})(x).shape() == md::Shape{1, 1, 1, 1});
  const md::Tensor steps = md::Tensor::arange(12).reshape({2, 3, 2});
  CHECK(GlobalMaxPooling1D({.data_format = "channels_first"})(steps).to_vector() == std::vector<float>{1, 3, 5, 7, 9, 11});
}

TEST_CASE("pooling layer configs are Keras's", "[layers][pooling][config]") {
  md::clear_session();
  const md::json expected = {{"name", "max_pooling2d"},  {"trainable", true},     {"dtype", lt::dtype_policy()},
                             {"pool_size", {2, 2}},      {"padding", "valid"},    {"strides", {2, 2}},
                             {"data_format", "channels_last"}};
  CHECK(MaxPooling2D().get_config() == expected);
  // Keras accepts one int for pool_size and strides, and null strides.
  const MaxPooling1D one = MaxPooling1D::from_config(
      {{"name", "p"}, {"pool_size", 3}, {"strides", nullptr}, {"padding", "same"}, {"data_format", nullptr}});
  CHECK(one.pool_size() == std::vector<int64_t>{3});
  CHECK(one.strides() == std::vector<int64_t>{3});
  CHECK(GlobalMaxPooling1D().get_config()["keepdims"] == false);
}

TEST_CASE("pooling layers reject bad arguments with Keras's texts", "[layers][pooling][errors]") {
  md::clear_session();
  CHECK_THROWS_WITH(AveragePooling2D({}), "AveragePooling2D.__init__() missing 1 required positional argument: 'pool_size'");
  CHECK_THROWS_WITH(MaxPooling2D({.pool_size = {2, 2, 2}}),
                    "The `pool_size` argument must be a tuple of 2 integers. Received pool_size=(2, 2, 2)");
  CHECK_THROWS_WITH(MaxPooling2D({.pool_size = {0, 2}}),
                    "The `pool_size` argument must be a tuple of 2 integers. Received pool_size=(0, 2), including "
                    "values {0} that do not satisfy `value > 0`");
  CHECK_THROWS_WITH(MaxPooling1D({.strides = {-1}}),
                    "The `strides` argument must be a tuple of 1 integers. Received strides=-1, including values {-1} "
                    "that do not satisfy `value >= 0`");
  CHECK_THROWS_WITH(MaxPooling2D({.padding = "full"}),
                    "Argument `padding` must be either 'valid' or 'same'. Received: padding=full");
  CHECK_THROWS_WITH(GlobalMaxPooling2D({.data_format = "nhwc"}),
                    "The `data_format` argument must be one of {'channels_first', 'channels_last'}. Received: "
                    "data_format=nhwc");
  MaxPooling2D pool({.pool_size = {4, 4}});
  // (minidl wraps the error of a symbolic call in its "Could not automatically infer" message.)
  CHECK_THROWS_WITH(pool(md::Input({3, 3, 1})), Catch::Contains(
                    "Computed output size would be zero or negative. Received: `inputs.shape=[None 3 3 1]`, "
                    "`pool_size=[4 4]`, `strides=(4, 4)`, `padding=valid`."));
  CHECK_THROWS_WITH(MaxPooling2D({.name = "p2"})(md::Tensor::ones({2, 4, 4})),
                    "Input 0 of layer 'p2' is incompatible with the layer: expected ndim=4, found ndim=3. "
                    "Full shape received: (2, 4, 4)");
}
