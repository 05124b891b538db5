// conv, depthwise_conv, conv_transpose and separable_conv: first- and second-order gradients for
// the input and the kernel over strides, dilation, groups, valid/same/causal padding, 1-D and 2-D,
// both data formats; and the forward against a direct loop (the formula in core/backend/backend.h).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

using Options = md::ops::ConvOptions;

void check_conv(std::mt19937& rng, const agt::Dims& x_shape, const agt::Dims& kernel_shape, const Options& o,
                bool second_order = true) {
  const md::Tensor x = agt::uniform(rng, x_shape);
  const md::Tensor k = agt::uniform(rng, kernel_shape);
  agt::check_gradients(
      "conv " + o.padding + " " + o.data_format, [o](const agt::Inputs& in) { return md::ops::conv(in[0], in[1], o); },
      {x, k}, second_order);
}

// y[n, o, p] = sum_{i, k} x[n, g(o) * in/g + i, p * s + k * d - pad] w[k, i, o], 1-D channels-last.
std::vector<double> direct_conv1d(const md::Tensor& x, const md::Tensor& w, int64_t stride, int64_t dilation,
                                  int64_t pad, int64_t out_len) {
  const int64_t n = x.dim(0), len = x.dim(1), c = x.dim(2), kw = w.dim(0), cg = w.dim(1), f = w.dim(2);
  const int64_t groups = c / cg, fg = f / groups;
  std::vector<double> y(static_cast<size_t>(n * out_len * f), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t p = 0; p < out_len; ++p)
      for (int64_t o = 0; o < f; ++o) {
        double sum = 0.0;
        for (int64_t k = 0; k < kw; ++k) {
          const int64_t q = p * stride + k * dilation - pad;
          if (q < 0 || q >= len) continue;
          for (int64_t i = 0; i < cg; ++i)
            sum += double(x.data()[(b * len + q) * c + (o / fg) * cg + i]) * w.data()[(k * cg + i) * f + o];
        }
        y[static_cast<size_t>((b * out_len + p) * f + o)] = sum;
      }
  return y;
}

}  // namespace

TEST_CASE("conv forward matches a direct loop (strides, dilation, groups, same, causal)", "[autograd][conv]") {
  std::mt19937 rng(1301);
  struct Case {
    int64_t len, c, f, k, stride, dilation;
    std::string padding;
  };
  for (const Case& t : {Case{9, 4, 6, 3, 1, 1, "valid"}, Case{9, 4, 6, 3, 2, 1, "same"}, Case{10, 4, 4, 3, 1, 2, "same"},
                        Case{8, 6, 4, 2, 1, 3, "causal"}, Case{7, 2, 3, 4, 3, 1, "same"}}) {
    for (int64_t groups : {int64_t{1}, int64_t{2}}) {
      const md::Tensor x = agt::uniform(rng, {2, t.len, t.c});
      const md::Tensor w = agt::uniform(rng, {t.k, t.c / groups, t.f * groups});
      const md::Tensor y = md::ops::conv(x, w, {.strides = {t.stride}, .padding = t.padding,
                                               .dilation_rate = {t.dilation}});
      const int64_t extent = (t.k - 1) * t.dilation + 1;
      int64_t pad = 0;
      if (t.padding == "causal") pad = extent - 1;
      if (t.padding == "same") {
        const int64_t out = (t.len + t.stride - 1) / t.stride;
        pad = std::max<int64_t>((out - 1) * t.stride + extent - t.len, 0) / 2;
      }
      INFO(t.padding << " stride " << t.stride << " dilation " << t.dilation << " groups " << groups);
      agt::check_close(y, direct_conv1d(x, w, t.stride, t.dilation, pad, y.dim(1)), 1e-4, "conv1d");
    }
  }
}

TEST_CASE("gradcheck: conv 1-D and 2-D over strides, dilation, groups and paddings", "[autograd][gradcheck][conv]") {
  std::mt19937 rng(1302);
  check_conv(rng, {2, 7, 3}, {3, 3, 4}, {.padding = "valid"});
  check_conv(rng, {2, 8, 3}, {3, 3, 2}, {.strides = {2}, .padding = "same"});
  check_conv(rng, {2, 8, 2}, {3, 2, 3}, {.padding = "causal", .dilation_rate = {2}});
  check_conv(rng, {1, 6, 4}, {2, 2, 4}, {.padding = "same"});  // groups = 2
  check_conv(rng, {2, 5, 6, 2}, {3, 3, 2, 3}, {.padding = "same"});
  check_conv(rng, {1, 7, 6, 3}, {3, 2, 3, 2}, {.strides = {2, 1}, .padding = "valid"});
  check_conv(rng, {1, 7, 7, 2}, {2, 3, 2, 2}, {.padding = "same", .dilation_rate = {2, 2}});
  check_conv(rng, {1, 5, 5, 4}, {3, 3, 1, 4}, {.padding = "valid"});   // groups = 4
  check_conv(rng, {1, 3, 5, 6}, {3, 3, 3, 2}, {.strides = {2}, .padding = "same", .data_format = "channels_first"});
}

TEST_CASE("gradcheck: depthwise_conv", "[autograd][gradcheck][conv]") {
  std::mt19937 rng(1303);
  const auto run = [](const Options& o) {
    return [o](const agt::Inputs& in) { return md::ops::depthwise_conv(in[0], in[1], o); };
  };
  // 2e-2: a few kernel gradients here cancel to ~1e-3, the relative-error floor, where the
  // float32 finite differences are off by ~2e-5.
  agt::check_gradients("depthwise same", run({.padding = "same"}),
                       {agt::uniform(rng, {2, 5, 5, 3}), agt::uniform(rng, {3, 3, 3, 2})}, true, 2e-2);
  agt::check_gradients("depthwise strided", run({.strides = {2, 2}, .padding = "valid"}),
                       {agt::uniform(rng, {1, 7, 6, 2}), agt::uniform(rng, {3, 2, 2, 1})});
  agt::check_gradients("depthwise dilated 1-D", run({.padding = "causal", .dilation_rate = {2}}),
                       {agt::uniform(rng, {2, 7, 2}), agt::uniform(rng, {2, 2, 3})});
  agt::check_gradients("depthwise channels_first", run({.padding = "same", .data_format = "channels_first"}),
                       {agt::uniform(rng, {1, 2, 5, 4}), agt::uniform(rng, {3, 3, 2, 2})});
}

TEST_CASE("gradcheck: conv_transpose with strides, dilation and output_padding", "[autograd][gradcheck][conv]") {
  std::mt19937 rng(1304);
  const auto run = [](const Options& o) {
    return [o](const agt::Inputs& in) { return md::ops::conv_transpose(in[0], in[1], o); };
  };
  agt::check_gradients("transpose valid", run({.padding = "valid"}),
                       {agt::uniform(rng, {2, 4, 3, 2}), agt::uniform(rng, {3, 3, 3, 2})});
  agt::check_gradients("transpose same stride 2", run({.strides = {2, 2}, .padding = "same"}),
                       {agt::uniform(rng, {1, 3, 4, 2}), agt::uniform(rng, {3, 3, 2, 2})});
  agt::check_gradients("transpose valid stride 2 output_padding 1",
                       run({.strides = {2}, .padding = "valid", .output_padding = std::vector<int64_t>{1}}),
                       {agt::uniform(rng, {2, 4, 2}), agt::uniform(rng, {3, 3, 2})});
  agt::check_gradients("transpose dilated", run({.padding = "same", .dilation_rate = {2}}),
                       {agt::uniform(rng, {2, 5, 2}), agt::uniform(rng, {3, 2, 2})});
  agt::check_gradients("transpose channels_first", run({.strides = {2, 2}, .padding = "valid",
                                                        .data_format = "channels_first"}),
                       {agt::uniform(rng, {1, 2, 3, 3}), agt::uniform(rng, {2, 2, 3, 2})});
}

TEST_CASE("gradcheck: separable_conv", "[autograd][gradcheck][conv]") {
  std::mt19937 rng(1305);
  agt::check_gradients(
      "separable",
      [](const agt::Inputs& in) { return md::ops::separable_conv(in[0], in[1], in[2], {.padding = "same"}); },
      {agt::uniform(rng, {1, 5, 5, 2}), agt::uniform(rng, {3, 3, 2, 2}), agt::uniform(rng, {1, 1, 4, 3})});
}

TEST_CASE("conv shapes of symbolic inputs and errors", "[autograd][conv]") {
  const md::Tensor x = md::Tensor::symbolic({md::None, 28, 28, 1});
  const md::Tensor k = md::Tensor::symbolic({3, 3, 1, 8});
  CHECK(md::ops::conv(x, k, {.strides = {2}, .padding = "same"}).shape() == md::Shape{md::None, 14, 14, 8});
  CHECK(md::ops::conv(x, k).shape() == md::Shape{md::None, 26, 26, 8});
  CHECK(md::ops::conv_transpose(md::Tensor::symbolic({md::None, 7, 7, 8}), md::Tensor::symbolic({3, 3, 4, 8}),
                                {.strides = {2}, .padding = "same"})
            .shape() == md::Shape{md::None, 14, 14, 4});
  CHECK(md::ops::depthwise_conv(x, md::Tensor::symbolic({3, 3, 1, 2})).shape() == md::Shape{md::None, 26, 26, 2});
  CHECK_THROWS_WITH(md::ops::conv(x, k, {.padding = "full"}),
                    Catch::Contains("`padding` must be either `'valid'` or `'same'`. Received full."));
  CHECK_THROWS_WITH(md::ops::conv(md::Tensor::zeros({1, 4, 4, 3}), md::Tensor::zeros({3, 3, 2, 4})),
                    Catch::Contains("must be divisible by kernel.shape[-2]"));
  CHECK_THROWS_WITH(md::ops::conv(md::Tensor::zeros({1, 2, 2, 1}), md::Tensor::zeros({3, 3, 1, 4})),
                    Catch::Contains("Computed output size would be zero or negative"));
}

TEST_CASE("conv propagates NaN", "[autograd][conv]") {
  md::Tensor x = md::Tensor::zeros({1, 4, 4, 2});
  x.mutable_data()[5] = std::numeric_limits<float>::quiet_NaN();
  const md::Tensor y = md::ops::conv(x, md::Tensor::ones({3, 3, 2, 2}), {.padding = "same"});
  int nans = 0;
  for (int64_t i = 0; i < y.size(); ++i) nans += std::isnan(y.data()[i]) ? 1 : 0;
  CHECK(nans > 0);
}

TEST_CASE("conv ops trace as Keras's Conv, DepthwiseConv and ConvTranspose nodes and round-trip", "[autograd][conv]") {
  md::clear_session();
  const md::Tensor x = md::Input({6, 6, 2}, "x");
  const md::Tensor k1 = md::random::normal({3, 3, 2, 4}, 0.0f, 1.0f, 3);
  const md::Tensor k2 = md::random::normal({3, 3, 4, 2}, 0.0f, 1.0f, 4);
  const md::Tensor k3 = md::random::normal({3, 3, 3, 8}, 0.0f, 1.0f, 5);
  const md::Tensor y = md::ops::conv(x, k1, {.strides = {2}, .padding = "same"});  // (3, 3, 4)
  const md::Tensor d = md::ops::depthwise_conv(y, k2, {.padding = "same"});        // (3, 3, 8)
  const md::Tensor t = md::ops::conv_transpose(d, k3, {.strides = {2, 2}, .padding = "same"});  // (6, 6, 3)
  CHECK(t.shape() == md::Shape{md::None, 6, 6, 3});
  const auto op = [](const md::Tensor& v) { return v.impl()->history->operation; };
  CHECK(op(y)->class_name() == "Conv");
  CHECK(op(d)->class_name() == "DepthwiseConv");
  CHECK(op(t)->class_name() == "ConvTranspose");
  md::json config = op(y)->get_config();
  CHECK(config["strides"] == 2);  // one value is written as one integer, as Keras writes strides=2
  CHECK(config["padding"] == "same");
  CHECK(config["data_format"] == "channels_last");
  CHECK(config["dilation_rate"] == 1);
  CHECK(op(t)->get_config()["output_padding"].is_null());
  md::Model model(x, t, "convs");
  md::Model again = md::Model::from_config(model.get_config());
  CHECK(again.get_config() == model.get_config());
  const md::Tensor data = md::random::normal({2, 6, 6, 2}, 0.0f, 1.0f, 6);
  CHECK(again(data).to_vector() == model(data).to_vector());
}
