// ZeroPadding1D/2D, Cropping1D/2D, UpSampling1D/2D, SpatialDropout1D/2D: run_layer_test, values
// worked by hand, symbolic shapes, training behaviour of the spatial dropouts, and Keras's error
// texts. (Keras's numbers, configs and gradients: tests/keras/layers_reshaping_fixture_test.cpp.)
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <set>

#include "layer_test_harness.h"

namespace md = minidl;
using namespace md::layers;

namespace {
md::Tensor iota(const md::Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return md::Tensor::arange(n).reshape(shape);
}
md::Tensor symbolic(md::Shape shape) { return md::Input(InputLayerOptions{.batch_shape = std::move(shape)}); }
}  // namespace

TEST_CASE("Reshaping layers pass run_layer_test", "[layers][reshaping]") {
  SECTION("ZeroPadding1D") {
    lt::run_layer_test<ZeroPadding1D>({.padding = {1, 2}}, {.input_shape = {2, 3, 2}, .expected_output_shape = {2, 6, 2}});
    lt::run_layer_test<ZeroPadding1D>({.padding = 2, .data_format = "channels_first"},
                                      {.input_shape = {2, 3, 2}, .expected_output_shape = {2, 3, 6}});
  }
  SECTION("ZeroPadding2D") {
    lt::run_layer_test<ZeroPadding2D>({.padding = {{1, 0}, {2, 3}}},
                                      {.input_shape = {2, 3, 2, 2}, .expected_output_shape = {2, 4, 7, 2}});
    lt::run_layer_test<ZeroPadding2D>({.padding = {1, 2}, .data_format = "channels_first"},
                                      {.input_shape = {1, 2, 3, 3}, .expected_output_shape = {1, 2, 5, 7}});
  }
  SECTION("Cropping1D") {
    lt::run_layer_test<Cropping1D>({.cropping = {0, 2}}, {.input_shape = {2, 5, 2}, .expected_output_shape = {2, 3, 2}});
  }
  SECTION("Cropping2D") {
    lt::run_layer_test<Cropping2D>({.cropping = {{1, 0}, {2, 1}}},
                                   {.input_shape = {2, 4, 5, 2}, .expected_output_shape = {2, 3, 2, 2}});
    lt::run_layer_test<Cropping2D>({.cropping = 1, .data_format = "channels_first"},
                                   {.input_shape = {1, 2, 4, 5}, .expected_output_shape = {1, 2, 2, 3}});
  }
  SECTION("UpSampling1D") {
    lt::run_layer_test<UpSampling1D>({.size = 3}, {.input_shape = {2, 3, 2}, .expected_output_shape = {2, 9, 2}});
  }
  SECTION("UpSampling2D") {
    lt::run_layer_test<UpSampling2D>({.size = {2, 3}},
                                     {.input_shape = {2, 2, 3, 2}, .expected_output_shape = {2, 4, 9, 2}});
    lt::run_layer_test<UpSampling2D>({.size = 2, .data_format = "channels_first", .interpolation = "bilinear"},
                                     {.input_shape = {1, 2, 3, 2}, .expected_output_shape = {1, 2, 6, 4}});
  }
  SECTION("SpatialDropout1D / 2D (inference, and training with rate 0)") {
    lt::run_layer_test<SpatialDropout1D>({.rate = 0.5, .seed = 1},
                                         {.input_shape = {2, 3, 4}, .expected_output_shape = {2, 3, 4},
                                          .built_after_construction = true});
    lt::run_layer_test<SpatialDropout2D>({.rate = 0.0},
                                         {.input_shape = {2, 3, 3, 2}, .training = true,
                                          .expected_output_shape = {2, 3, 3, 2}, .built_after_construction = true});
  }
}

TEST_CASE("ZeroPadding and Cropping place the values by hand", "[layers][reshaping]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3}, {1, 3, 1});
  CHECK(ZeroPadding1D({.padding = {2, 1}})(x).to_vector() == std::vector<float>{0, 0, 1, 2, 3, 0});
  CHECK(Cropping1D({.cropping = {1, 0}})(x).to_vector() == std::vector<float>{2, 3});
  const md::Tensor img = iota({1, 2, 2, 1});  // [[0, 1], [2, 3]]
  CHECK(ZeroPadding2D({.padding = {{1, 0}, {0, 1}}})(img).to_vector() == std::vector<float>{0, 0, 0, 0, 1, 0, 2, 3, 0});
  const md::Tensor big = iota({1, 3, 4, 1});
  CHECK(Cropping2D({.cropping = {{1, 1}, {1, 2}}})(big).to_vector() == std::vector<float>{5});
  // Padding then cropping the same amounts gives the input back.
  const md::Tensor y = iota({2, 3, 4, 2});
  CHECK(Cropping2D({.cropping = {{1, 2}, {0, 3}}})(ZeroPadding2D({.padding = {{1, 2}, {0, 3}}})(y)).to_vector() ==
        y.to_vector());
}

TEST_CASE("UpSampling repeats (nearest) and blends (bilinear) by hand", "[layers][reshaping]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {1, 2, 1});
  CHECK(UpSampling1D({.size = 2})(x).to_vector() == std::vector<float>{1, 1, 2, 2});
  const md::Tensor img = md::Tensor::from_vector({0, 4}, {1, 1, 2, 1});
  CHECK(UpSampling2D({.size = {1, 2}})(img).to_vector() == std::vector<float>{0, 0, 4, 4});
  // Half-pixel centres, 2x: outputs sample 0, 0.25, 0.75, 1 of the way (edges held).
  CHECK(UpSampling2D({.size = {1, 2}, .interpolation = "bilinear"})(img).to_vector() ==
        std::vector<float>{0, 1, 3, 4});
}

TEST_CASE("Reshaping layers on symbolic inputs with unknown dims", "[layers][reshaping][symbolic]") {
  CHECK(ZeroPadding1D()(symbolic({md::None, md::None, 3})).shape() == md::Shape{md::None, md::None, 3});
  CHECK(ZeroPadding2D({.padding = 2})(symbolic({md::None, 4, md::None, 3})).shape() == md::Shape{md::None, 8, md::None, 3});
  CHECK(Cropping1D()(symbolic({md::None, 5, 2})).shape() == md::Shape{md::None, 3, 2});
  CHECK(Cropping2D({.cropping = 1})(symbolic({md::None, md::None, 5, 2})).shape() == md::Shape{md::None, md::None, 3, 2});
  CHECK(UpSampling1D()(symbolic({md::None, 3, 2})).shape() == md::Shape{md::None, 6, 2});
  CHECK(UpSampling2D({.interpolation = "bilinear"})(symbolic({md::None, 3, md::None, 2})).shape() ==
        md::Shape{md::None, 6, md::None, 2});
}

TEST_CASE("SpatialDropout drops whole channels while training, with seeds as Dropout", "[layers][reshaping][dropout]") {
  const md::Tensor x = md::Tensor::ones({4, 5, 6, 8});
  SpatialDropout2D drop({.rate = 0.5, .seed = 7});
  const md::Tensor y = drop(x, {.training = true});
  const std::vector<float> v = y.to_vector();
  size_t dropped = 0;
  for (int64_t b = 0; b < 4; ++b) {
    for (int64_t c = 0; c < 8; ++c) {
      // Every entry of a (sample, channel) feature map is the same: 0 or 1 / (1 - rate).
      std::set<float> values;
      for (int64_t i = 0; i < 30; ++i) values.insert(v[static_cast<size_t>((b * 30 + i) * 8 + c)]);
      REQUIRE(values.size() == 1);
      CHECK((*values.begin() == 0.0f || *values.begin() == 2.0f));
      dropped += *values.begin() == 0.0f;
    }
  }
  CHECK(dropped > 4);
  CHECK(dropped < 28);
  // A seeded layer repeats its sequence of masks; successive calls differ.
  SpatialDropout2D again({.rate = 0.5, .seed = 7});
  CHECK(again(x, {.training = true}).to_vector() == v);
  CHECK(again(x, {.training = true}).to_vector() != v);
  // channels_first: the maps are the last two axes.
  const std::vector<float> z = SpatialDropout2D({.rate = 0.5, .data_format = "channels_first", .seed = 3})(
                           md::Tensor::ones({2, 8, 3, 3}), {.training = true})
                           .to_vector();
  for (size_t map = 0; map < 16; ++map) {
    for (size_t i = 1; i < 9; ++i) CHECK(z[map * 9 + i] == z[map * 9]);
  }
  // SpatialDropout1D: one draw per (sample, channel), shared by the steps.
  const std::vector<float> s = SpatialDropout1D({.rate = 0.5, .seed = 1})(md::Tensor::ones({3, 4, 5}), {.training = true})
                                   .to_vector();
  for (size_t b = 0; b < 3; ++b) {
    for (size_t t = 1; t < 4; ++t) {
      for (size_t c = 0; c < 5; ++c) CHECK(s[(b * 4 + t) * 5 + c] == s[(b * 4) * 5 + c]);
    }
  }
  // Gradients flow through the kept channels only, scaled.
  const md::Variable w(md::Tensor::ones({1, 2, 3}));
  md::GradientTape tape;
  const md::Tensor out = SpatialDropout1D({.rate = 0.5, .seed = 5})(w.value(), {.training = true});
  const md::Tensor g = tape.gradient(md::ops::sum(out), std::vector<md::Variable>{w}).at(0);
  CHECK(g.to_vector() == out.to_vector());
  // Inference and rate 1.
  CHECK(drop(x).to_vector() == x.to_vector());
  CHECK(md::ops::sum(SpatialDropout1D({.rate = 1.0})(md::Tensor::ones({2, 2, 2}), {.training = true})).item() == 0.0f);
}

TEST_CASE("Reshaping layers write Keras's configs", "[layers][reshaping][config]") {
  md::clear_session();
  CHECK(ZeroPadding2D({.padding = {{1, 0}, {2, 3}}}).get_config()["padding"] == md::json::parse("[[1, 0], [2, 3]]"));
  CHECK(ZeroPadding1D({.padding = 2}).get_config()["padding"] == md::json::parse("[2, 2]"));
  CHECK(Cropping2D({.cropping = {1, 2}}).get_config()["cropping"] == md::json::parse("[[1, 1], [2, 2]]"));
  CHECK(UpSampling2D({.size = 3, .interpolation = "Bilinear"}).get_config()["interpolation"] == "bilinear");
  CHECK(UpSampling2D({.size = 3}).get_config()["size"] == md::json::parse("[3, 3]"));
  const md::json sd = SpatialDropout2D({.rate = 0.25, .seed = 4, .name = "sd"}).get_config();
  CHECK(sd == md::json{{"rate", 0.25}, {"seed", 4}, {"name", "sd"}, {"dtype", "float32"},
                       {"data_format", "channels_last"}});
  // Keras writes (and reads) one number for a symmetric pair too.
  CHECK(ZeroPadding2D::from_config({{"name", "p"}, {"padding", 3}}).get_config()["padding"] ==
        md::json::parse("[[3, 3], [3, 3]]"));
  CHECK(Cropping1D::from_config({{"name", "c"}, {"cropping", 2}}).get_config()["cropping"] == md::json::parse("[2, 2]"));
}

TEST_CASE("Reshaping layers give Keras's errors", "[layers][reshaping][errors]") {
  CHECK_THROWS_WITH(ZeroPadding1D({.padding = -1}),
                    "The `padding` argument must be a tuple of 2 integers. Received padding=-1, including values {-1} "
                    "that do not satisfy `value >= 0`");
  CHECK_THROWS_WITH(ZeroPadding2D({.padding = {{1, -2}, {0, 0}}}),
                    "The `1st entry of padding` argument must be a tuple of 2 integers. Received 1st entry of "
                    "padding=(1, -2), including values {-2} that do not satisfy `value >= 0`");
  CHECK_THROWS_WITH(ZeroPadding2D::from_config({{"name", "p"}, {"padding", {1, 2, 3}}}),
                    "`padding` should have two elements. Received: padding=[1,2,3].");
  CHECK_THROWS_WITH(Cropping1D({.cropping = -1}),
                    "The `cropping` argument must be a tuple of 2 integers. Received cropping=-1, including values "
                    "{-1} that do not satisfy `value >= 0`");
  CHECK_THROWS_WITH(Cropping2D({.cropping = -1}), "`cropping` cannot be negative. Received: cropping=-1.");
  CHECK_THROWS_WITH(Cropping2D({.cropping = {{1, -2}, {0, 0}}}),
                    "The `1st entry of cropping` argument must be a tuple of 2 integers. Received 1st entry of "
                    "cropping=(1, -2), including values {-2} that do not satisfy `value >= 0`");
  CHECK_THROWS_WITH(UpSampling2D({.size = 0}),
                    "The `size` argument must be a tuple of 2 integers. Received size=0, including values {0} that do "
                    "not satisfy `value > 0`");
  CHECK_THROWS_WITH(UpSampling1D({.size = 0}), "Argument `size` should be a positive integer. Received: size=0");
  CHECK_THROWS_WITH(SpatialDropout1D({.rate = 1.5}),
                    "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: "
                    "rate=1.5");
  CHECK_THROWS_WITH(Cropping1D({.cropping = {2, 2}})(md::Tensor::ones({1, 4, 2})),
                    "`cropping` parameter of `Cropping1D` layer must be smaller than the input length. Received: "
                    "inputs.shape=(1, 4, 2), cropping=(2, 2)");
  CHECK_THROWS_WITH(Cropping2D({.cropping = {{2, 2}, {0, 0}}})(md::Tensor::ones({1, 4, 3, 2})),
                    "Values in `cropping` argument should be smaller than the corresponding spatial dimension of the "
                    "input. Received: inputs.shape=(1, 4, 3, 2), cropping=((2, 2), (0, 0))");
  md::clear_session();
  ZeroPadding1D pad;
  CHECK_THROWS_WITH(pad(md::Tensor::ones({1, 4})),
                    "Input 0 of layer 'zero_padding1d' is incompatible with the layer: expected ndim=3, found ndim=2. "
                    "Full shape received: (1, 4)");
}
