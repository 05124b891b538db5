// Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D and SeparableConv2D: run_layer_test over every
// padding, strides, dilation, groups and data format (output shapes as Keras computes them),
// Keras's weight layouts, and bad arguments with Keras's error texts.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Conv1D;
using md::layers::Conv2D;
using md::layers::Conv2DTranspose;
using md::layers::DepthwiseConv2D;
using md::layers::SeparableConv2D;

TEST_CASE("Conv1D passes run_layer_test for valid, same, causal, strides, dilation, groups", "[layers][conv]") {
  struct Case {
    Conv1D::Options options;
    md::Shape input, output;
  };
  const std::vector<Case> cases = {
      {{.filters = 4, .kernel_size = {3}}, {2, 7, 3}, {2, 5, 4}},
      {{.filters = 3, .kernel_size = {4}, .strides = {2}, .padding = "same"}, {2, 9, 2}, {2, 5, 3}},
      {{.filters = 3, .kernel_size = {3}, .padding = "causal", .dilation_rate = {2}}, {2, 8, 2}, {2, 8, 3}},
      {{.filters = 4, .kernel_size = {2}, .groups = 2, .use_bias = false}, {2, 6, 4}, {2, 5, 4}},
      {{.filters = 2, .kernel_size = {3}, .strides = {3}}, {1, 10, 2}, {1, 3, 2}},
      {{.filters = 3, .kernel_size = {3}, .padding = "same", .data_format = "channels_first"}, {2, 2, 7}, {2, 3, 7}},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.options.padding << " " << md::shape_to_string(c.input) << " -> " << md::shape_to_string(c.output)) {
      lt::run_layer_test<Conv1D>(c.options, {.input_shape = c.input,
                                             .expected_output_shape = c.output,
                                             .expected_trainable_weights = c.options.use_bias ? 2u : 1u});
    }
  }
}

TEST_CASE("Conv2D passes run_layer_test for every padding, strides, dilation, groups", "[layers][conv]") {
  struct Case {
    Conv2D::Options options;
    md::Shape input, output;
  };
  const std::vector<Case> cases = {
      {{.filters = 4, .kernel_size = {3}}, {2, 6, 5, 3}, {2, 4, 3, 4}},
      {{.filters = 3, .kernel_size = {3, 3}, .padding = "same", .activation = "tanh"}, {2, 5, 5, 2}, {2, 5, 5, 3}},
      {{.filters = 3, .kernel_size = {3, 2}, .strides = {2, 1}, .padding = "same"}, {1, 7, 6, 2}, {1, 4, 6, 3}},
      {{.filters = 3, .kernel_size = {3}, .strides = {2}}, {1, 7, 8, 2}, {1, 3, 3, 3}},
      {{.filters = 2, .kernel_size = {3}, .dilation_rate = {2}}, {1, 8, 7, 2}, {1, 4, 3, 2}},
      {{.filters = 2, .kernel_size = {2}, .padding = "same", .dilation_rate = {2, 3}}, {1, 6, 7, 2}, {1, 6, 7, 2}},
      {{.filters = 6, .kernel_size = {3}, .padding = "same", .groups = 3}, {1, 5, 5, 3}, {1, 5, 5, 6}},
      {{.filters = 4, .kernel_size = {3}, .strides = {2}, .groups = 2}, {2, 7, 7, 4}, {2, 3, 3, 4}},
      {{.filters = 3, .kernel_size = {3}, .strides = {2}, .padding = "same", .data_format = "channels_first"},
       {2, 2, 6, 5},
       {2, 3, 3, 3}},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.options.padding << " " << md::shape_to_string(c.input) << " -> " << md::shape_to_string(c.output)) {
      lt::run_layer_test<Conv2D>(c.options, {.input_shape = c.input,
                                             .expected_output_shape = c.output,
                                             .expected_trainable_weights = 2});
    }
  }
}

TEST_CASE("Conv2DTranspose passes run_layer_test with strides, dilation and output_padding", "[layers][conv]") {
  struct Case {
    Conv2DTranspose::Options options;
    md::Shape input, output;
  };
  const std::vector<Case> cases = {
      {{.filters = 3, .kernel_size = {3}}, {2, 4, 3, 2}, {2, 6, 5, 3}},
      {{.filters = 2, .kernel_size = {3}, .strides = {2}, .padding = "same"}, {1, 3, 4, 2}, {1, 6, 8, 2}},
      {{.filters = 2, .kernel_size = {3}, .strides = {2}, .output_padding = std::vector<int64_t>{1}},
       {1, 3, 3, 2},
       {1, 8, 8, 2}},
      {{.filters = 2, .kernel_size = {3, 2}, .strides = {2, 3}, .padding = "same",
        .output_padding = std::vector<int64_t>{1, 2}},
       {1, 3, 3, 2},
       {1, 6, 8, 2}},
      {{.filters = 2, .kernel_size = {2}, .strides = {3}}, {1, 3, 2, 2}, {1, 9, 6, 2}},
      {{.filters = 2, .kernel_size = {3}, .padding = "same", .dilation_rate = {2}}, {1, 4, 4, 3}, {1, 4, 4, 2}},
      {{.filters = 3, .kernel_size = {3}, .strides = {2}, .data_format = "channels_first"}, {1, 2, 3, 4},
       {1, 3, 7, 9}},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.options.padding << " " << md::shape_to_string(c.input) << " -> " << md::shape_to_string(c.output)) {
      lt::run_layer_test<Conv2DTranspose>(c.options, {.input_shape = c.input,
                                                      .expected_output_shape = c.output,
                                                      .expected_trainable_weights = 2});
    }
  }
}

TEST_CASE("DepthwiseConv2D and SeparableConv2D pass run_layer_test", "[layers][conv]") {
  lt::run_layer_test<DepthwiseConv2D>({.kernel_size = {3}},
                                      {.input_shape = {2, 5, 5, 3}, .expected_output_shape = {2, 3, 3, 3},
                                       .expected_trainable_weights = 2});
  lt::run_layer_test<DepthwiseConv2D>({.kernel_size = {3, 2}, .padding = "same", .depth_multiplier = 2},
                                      {.input_shape = {1, 5, 4, 3}, .expected_output_shape = {1, 5, 4, 6},
                                       .expected_trainable_weights = 2});
  lt::run_layer_test<DepthwiseConv2D>({.kernel_size = {3}, .strides = {2}, .use_bias = false},
                                      {.input_shape = {1, 7, 6, 2}, .expected_output_shape = {1, 3, 2, 2},
                                       .expected_trainable_weights = 1});
  lt::run_layer_test<DepthwiseConv2D>(
      {.kernel_size = {2}, .depth_multiplier = 3, .data_format = "channels_first", .dilation_rate = {2}},
      {.input_shape = {1, 2, 6, 5}, .expected_output_shape = {1, 6, 4, 3}, .expected_trainable_weights = 2});
  lt::run_layer_test<SeparableConv2D>({.filters = 4, .kernel_size = {3}},
                                      {.input_shape = {2, 5, 5, 2}, .expected_output_shape = {2, 3, 3, 4},
                                       .expected_trainable_weights = 3});
  lt::run_layer_test<SeparableConv2D>(
      {.filters = 3, .kernel_size = {3}, .strides = {2}, .padding = "same", .depth_multiplier = 2},
      {.input_shape = {1, 6, 5, 3}, .expected_output_shape = {1, 3, 3, 3}, .expected_trainable_weights = 3});
}

TEST_CASE("convolution weights have Keras's layouts", "[layers][conv]") {
  const md::Tensor x = md::Tensor::zeros({1, 6, 6, 4});
  Conv2D conv({.filters = 6, .kernel_size = {3, 2}, .groups = 2});
  conv(x);
  CHECK(conv.kernel().value().shape() == md::Shape{3, 2, 2, 6});
  CHECK(conv.bias().value().shape() == md::Shape{6});
  Conv2DTranspose transpose({.filters = 5, .kernel_size = {3}});
  transpose(x);
  CHECK(transpose.kernel().value().shape() == md::Shape{3, 3, 5, 4});
  DepthwiseConv2D depthwise({.kernel_size = {3}, .depth_multiplier = 2});
  depthwise(x);
  CHECK(depthwise.kernel().value().shape() == md::Shape{3, 3, 4, 2});
  CHECK(depthwise.bias().value().shape() == md::Shape{8});
  SeparableConv2D separable({.filters = 7, .kernel_size = {3}, .depth_multiplier = 2});
  separable(x);
  CHECK(separable.depthwise_kernel().value().shape() == md::Shape{3, 3, 4, 2});
  CHECK(separable.pointwise_kernel().value().shape() == md::Shape{1, 1, 8, 7});
  CHECK(separable.weights()[0].path() == separable.name() + "/depthwise_kernel");
}

TEST_CASE("convolution layers reject bad arguments with Keras's messages", "[layers][conv]") {
  using Catch::Contains;
  CHECK_THROWS_WITH(Conv2D({.filters = 5, .kernel_size = {3}, .groups = 2}),
                    "The number of filters must be evenly divisible by the number of groups. Received: groups=2, "
                    "filters=5.");
  CHECK_THROWS_WITH(Conv2D({.filters = 4, .kernel_size = {3}, .padding = "full"}),
                    Contains("The `padding` argument must be a list/tuple or one of") && Contains("Received: full"));
  CHECK_THROWS_WITH(Conv2D({.filters = 4, .kernel_size = {3}, .padding = "causal"}),
                    Contains("Received: causal"));
  CHECK_THROWS_WITH(Conv2D({.filters = 0, .kernel_size = {3}}),
                    "Invalid value for argument `filters`. Expected a strictly positive value. Received filters=0.");
  CHECK_THROWS_WITH(Conv2D({.filters = 2, .kernel_size = {3}, .groups = 0}),
                    "The number of groups must be a positive integer. Received: groups=0.");
  CHECK_THROWS_WITH(Conv2D({.filters = 2, .kernel_size = {3, 3, 3}}),
                    "The `kernel_size` argument must be a tuple of 2 integers. Received kernel_size=[3, 3, 3]");
  CHECK_THROWS_WITH(Conv2D({.filters = 2, .kernel_size = {3, 0}}),
                    "The `kernel_size` argument must be a tuple of 2 integers. Received kernel_size=[3, 0], including "
                    "values {0} that do not satisfy `value > 0`");
  CHECK_THROWS_WITH(Conv2D({.filters = 2, .kernel_size = {3}, .strides = {2}, .dilation_rate = {2}}),
                    "`strides > 1` not supported in conjunction with `dilation_rate > 1`. Received: strides=(2, 2) "
                    "and dilation_rate=(2, 2)");
  CHECK_THROWS_WITH(Conv1D({.filters = 2, .kernel_size = {3}, .data_format = "nhwc"}),
                    Contains("Received: data_format=nhwc"));
  CHECK_THROWS_WITH(Conv2DTranspose({.filters = 2, .kernel_size = {3}, .strides = {2},
                                     .output_padding = std::vector<int64_t>{2}}),
                    Contains("`output_padding` must be strictly less than `strides` for all dimensions. At dimension "
                             "0, `output_padding` is 2 but `strides` is 2."));
  CHECK_THROWS_WITH(DepthwiseConv2D({.kernel_size = {3}, .depth_multiplier = 0}),
                    "Invalid value for argument `depth_multiplier`. Expected a strictly positive value. Received "
                    "depth_multiplier=0.");
  Conv2D grouped({.filters = 4, .kernel_size = {3}, .groups = 2});
  CHECK_THROWS_WITH(grouped(md::Tensor::zeros({1, 5, 5, 3})),
                    "The number of input channels must be evenly divisible by the number of groups. Received "
                    "groups=2, but the input has 3 channels (full input shape is (1, 5, 5, 3)).");
  Conv2D small({.filters = 2, .kernel_size = {3}});
  CHECK_THROWS_WITH(small(md::Tensor::zeros({1, 2, 2, 1})), Contains("Computed output size would be zero or negative"));
  md::json config = Conv2D({.filters = 2, .kernel_size = {3}}).get_config();
  config["kernel_regularizer"] = "no_such_regularizer";
  CHECK_THROWS_WITH(Conv2D::from_config(config), Contains("kernel_regularizer"));
}

TEST_CASE("Convolution layers take Keras's regularizers and constraints", "[layers][conv][regularizers]") {
  using Catch::Contains;
  // Keras: Conv2D(2, 3, kernel_regularizer=L2(0.01), bias_constraint=NonNeg()); layer.losses holds
  // 0.01 * sum(kernel ** 2) once the layer is built.
  md::json config = Conv2D({.filters = 2, .kernel_size = {3}}).get_config();
  config["kernel_regularizer"] = {{"module", "keras.regularizers"}, {"class_name", "L2"},
                                  {"config", {{"l2", 0.01}}}, {"registered_name", nullptr}};
  config["bias_constraint"] = {{"module", "keras.constraints"}, {"class_name", "NonNeg"},
                               {"config", md::json::object()}, {"registered_name", nullptr}};
  Conv2D conv = Conv2D::from_config(config);
  CHECK(conv.get_config() == config);
  (void)conv(md::Tensor::ones({1, 5, 5, 1}));
  REQUIRE(conv.losses().size() == 1);
  const float expected = 0.01f * md::ops::sum(md::ops::square(conv.kernel().value())).item();
  CHECK(conv.losses()[0].item() == Approx(expected).epsilon(1e-6));
  CHECK(conv.bias().constraint() != nullptr);

  SeparableConv2D separable({.filters = 2, .kernel_size = {3}, .pointwise_regularizer = md::regularizers::L1(0.5)});
  (void)separable(md::Tensor::ones({1, 5, 5, 2}));
  REQUIRE(separable.losses().size() == 1);
  CHECK(separable.get_config().at("pointwise_regularizer").at("class_name") == "L1");
}
