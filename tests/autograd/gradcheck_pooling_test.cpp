// max_pool, average_pool and fused_batch_normalization / batch_normalization: finite-difference
// gradients at first and second order, the tie rule of max pooling, NaN propagation, errors.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

struct PoolCase {
  agt::Dims shape;
  std::vector<int64_t> pool_size, strides;
  std::string padding, data_format;
};

const std::vector<PoolCase> kPoolCases = {
    {{2, 4, 4, 3}, {2, 2}, {}, "valid", "channels_last"},
    {{2, 5, 5, 2}, {2, 2}, {}, "same", "channels_last"},        // border windows
    {{1, 5, 4, 2}, {3, 2}, {1, 2}, "same", "channels_last"},    // strides != pool_size, overlapping
    {{2, 3, 5, 4}, {2, 3}, {2, 1}, "valid", "channels_first"},
    {{2, 3, 5, 5}, {3}, {2}, "same", "channels_first"},
    {{2, 7, 3}, {3}, {2}, "same", "channels_last"},             // 1-D
    {{2, 3, 6}, {2}, {1}, "valid", "channels_first"},
};

std::string describe(const PoolCase& c) {
  return agt::str(c.shape) + " pool " + agt::str(c.pool_size) + " strides " + agt::str(c.strides) + " " + c.padding +
         " " + c.data_format;
}

}  // namespace

TEST_CASE("gradcheck: max_pool and average_pool", "[autograd][gradcheck][pooling]") {
  std::mt19937 rng(1301);
  for (const PoolCase& c : kPoolCases) {
    // Distinct values 0.1 apart: finite differences never cross an arg-max change.
    const md::Tensor x = agt::distinct(rng, c.shape);
    agt::check_gradients("max_pool " + describe(c),
                         [c](const agt::Inputs& in) {
                           return md::ops::max_pool(in[0], c.pool_size, c.strides, c.padding, c.data_format);
                         },
                         {x});
    agt::check_gradients("average_pool " + describe(c),
                         [c](const agt::Inputs& in) {
                           return md::ops::average_pool(in[0], c.pool_size, c.strides, c.padding, c.data_format);
                         },
                         {agt::uniform(rng, c.shape)});
  }
}

TEST_CASE("max_pool sends a tied window's gradient to its first largest entry, as JAX", "[autograd][pooling]") {
  // XLA's select-and-scatter (jax.grad of lax.reduce_window max) keeps the first of equal
  // maxima in window order (row-major over the window).
  const md::Tensor x = md::Tensor::from_vector({1, 3, 3, 2, 0, 3, 3, 3}, {1, 2, 4, 1});
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = md::ops::max_pool(x, {2, 2});
  CHECK(y.to_vector() == std::vector<float>{3, 3});
  const md::Tensor dx = tape.gradient(md::ops::sum(y), {x}).at(0);
  CHECK(dx.to_vector() == std::vector<float>{0, 1, 1, 0, 0, 0, 0, 0});
  // All equal: the first entry of each window takes it all.
  const md::Tensor ones = md::Tensor::ones({1, 2, 2, 2});
  md::GradientTape tape2;
  tape2.watch(ones);
  const md::Tensor dones = tape2.gradient(md::ops::sum(md::ops::max_pool(ones, {2, 2}, {}, "valid", "channels_first")),
                                          {ones}).at(0);
  CHECK(dones.to_vector() == std::vector<float>{1, 0, 0, 0, 1, 0, 0, 0});
}

TEST_CASE("max_pool's gradient without the oneDNN workspace matches the workspace's", "[autograd][pooling]") {
  // A forward without a tape keeps no workspace; the backward then finds the arg-max itself.
  std::mt19937 rng(1302);
  const md::Tensor x = agt::distinct(rng, {2, 6, 6, 4});
  const md::Tensor dy = agt::uniform(rng, {2, 3, 3, 4});
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = md::ops::max_pool(x, {2, 2});
  const md::Tensor with_workspace = tape.gradient(md::ops::sum(md::ops::multiply(y, dy)), {x}).at(0);
  const md::compute::PoolingSpec spec{.pool_size = {2, 2}, .strides = {2, 2}};
  const md::Tensor without = md::compute::pool_backward(x, dy, md::Tensor(), spec, true);
  CHECK(with_workspace.to_vector() == without.to_vector());
}

TEST_CASE("max_pool's workspace kernels match the arg-max loops on ties, NaN and every window geometry",
          "[autograd][pooling]") {
  // Channels-last max pooling runs our own kernels with their own arg-max workspace,
  // channels-first oneDNN's; both must give what the reference loops give from x alone
  // (max_pool_select and a backward without workspace): the first largest entry of each window,
  // a NaN counting as largest. Values from {0, 1, 2} make most windows tie.
  std::mt19937 rng(1303);
  std::uniform_int_distribution<int> level(0, 2);
  const std::vector<PoolCase> cases = [] {
    std::vector<PoolCase> all = kPoolCases;
    all.push_back({{2, 7, 7, 5}, {2, 2}, {}, "valid", "channels_last"});  // a row and column left over
    all.push_back({{1, 4, 5, 3, 2}, {2, 2, 2}, {1, 2, 1}, "same", "channels_last"});  // 3-D, overlapping
    return all;
  }();
  for (const bool with_nan : {false, true}) for (const PoolCase& c : cases) {
    INFO(describe(c) << (with_nan ? " with a NaN" : ""));
    const bool channels_last = c.data_format == "channels_last";
    const auto per_axis = [&](const std::vector<int64_t>& v) {  // one value repeats, as the ops do
      return v.size() == 1 ? std::vector<int64_t>(c.shape.size() - 2, v[0]) : v;
    };
    const md::compute::PoolingSpec spec{.pool_size = per_axis(c.pool_size),
                                        .strides = per_axis(c.strides.empty() ? c.pool_size : c.strides),
                                        .same_padding = c.padding == "same",
                                        .channels_last = channels_last};
    std::vector<float> v = agt::uniform(rng, c.shape).to_vector();
    for (float& e : v) e = static_cast<float>(level(rng));
    if (with_nan) v[v.size() / 3] = std::nanf("");
    const md::Tensor x = md::Tensor::from_vector(v, md::Shape(c.shape.begin(), c.shape.end()));
    const md::compute::PoolingResult r = md::compute::pool(x, spec, /*max=*/true, /*want_workspace=*/true);
    const md::Tensor expected_y = md::compute::max_pool_select(x, x, spec);
    const md::Tensor dy = agt::uniform(rng, expected_y.shape());
    const std::vector<float> y = r.y.to_vector(), want_y = expected_y.to_vector();
    REQUIRE(y.size() == want_y.size());
    for (size_t i = 0; i < y.size(); ++i) {
      CHECK((y[i] == want_y[i] || (std::isnan(y[i]) && std::isnan(want_y[i]))));
    }
    if (!r.workspace.defined()) {  // only oneDNN's path with a NaN, which the loops then run
      CHECK((!channels_last && with_nan));
      continue;
    }
    const std::vector<float> dx = md::compute::pool_backward(x, dy, r.workspace, spec, true).to_vector();
    const std::vector<float> want_dx = md::compute::pool_backward(x, dy, md::Tensor(), spec, true).to_vector();
    CHECK(dx == want_dx);
  }
}

TEST_CASE("pooling propagates NaN", "[autograd][pooling][nan]") {
  const float nan = std::nanf("");
  const md::Tensor x = md::Tensor::from_vector({1, nan, 2, 3, 4, 5, 6, 7}, {1, 2, 4, 1});
  const std::vector<float> max = md::ops::max_pool(x, {2, 2}).to_vector();
  CHECK(std::isnan(max[0]));
  CHECK(max[1] == 7.0f);
  const std::vector<float> avg = md::ops::average_pool(x, {2, 2}).to_vector();
  CHECK(std::isnan(avg[0]));
  CHECK(avg[1] == 4.5f);
}

TEST_CASE("pooling errors", "[autograd][pooling][errors]") {
  const md::Tensor x = md::Tensor::ones({2, 3, 3, 1});
  CHECK_THROWS_WITH(md::ops::max_pool(x, {4, 4}),
                    "Computed output size would be zero or negative. Received: `inputs.shape=[2 3 3 1]`, "
                    "`pool_size=[4 4]`, `strides=(4, 4)`, `padding=valid`.");
  CHECK_THROWS_WITH(md::ops::average_pool(x, {2, 2}, {}, "full"), "Invalid padding 'full', must be 'same' or 'valid'.");
  CHECK_THROWS_WITH(md::ops::max_pool(x, {2, 2, 2}),
                    "`pool_size` must have one value or 2 values (one per spatial axis); received 3.");
  // "same" never runs out of room: a window larger than the input covers it.
  CHECK(md::ops::average_pool(x, {4, 4}, {1, 1}, "same").to_vector() == std::vector<float>(18, 1.0f));
}

TEST_CASE("average_pool with same padding excludes the padding from the count", "[autograd][pooling]") {
  // Keras: 1-D, pool 2, stride 2, 'same' on 3 steps: windows {0, 1} and {2} (+ padding).
  const md::Tensor x = md::Tensor::from_vector({1, 2, 4}, {1, 3, 1});
  CHECK(md::ops::average_pool(x, {2}, {}, "same").to_vector() == std::vector<float>{1.5f, 4.0f});
  // pool 3 stride 1 'same' on 4 steps pads one on each side: means of {0,1}, {0,1,2}, {1,2,3}, {2,3}.
  const md::Tensor y = md::Tensor::from_vector({1, 2, 3, 6}, {1, 4, 1});
  agt::check_close(md::ops::average_pool(y, {3}, {1}, "same"), std::vector<float>{1.5f, 2.0f, 11.0f / 3, 4.5f}, 1e-6,
                   "same average");
}

TEST_CASE("gradcheck: fused_batch_normalization in x, gamma and beta", "[autograd][gradcheck][normalization]") {
  std::mt19937 rng(1303);
  struct Case {
    agt::Dims shape;
    int64_t axis;
  };
  for (const Case& c : std::vector<Case>{{{4, 3}, -1}, {{2, 3, 3, 4}, -1}, {{2, 3, 2, 2}, 1}, {{3, 4, 2}, 0},
                                         {{2, 5, 3}, -2}}) {
    const int64_t channels = c.shape[static_cast<size_t>(c.axis < 0 ? c.axis + static_cast<int64_t>(c.shape.size())
                                                                    : c.axis)];
    const md::Tensor x = agt::uniform(rng, c.shape);
    const md::Tensor gamma = agt::uniform(rng, {channels}, 0.5f, 1.5f);
    const md::Tensor beta = agt::uniform(rng, {channels});
    const int64_t axis = c.axis;
    agt::check_gradients("fused_batch_normalization " + agt::str(c.shape) + " axis " + std::to_string(axis),
                         [axis](const agt::Inputs& in) {
                           // A non-linear head: sum(y * R) alone is blind to part of dx.
                           return md::ops::tanh(md::ops::fused_batch_normalization(in[0], in[1], in[2], axis));
                         },
                         // Second order in float32: finite differences of tiny second derivatives
                         // (about 1e-3) come within 2%, not 1%.
                         {x, gamma, beta}, true, 2e-2);
  }
}

TEST_CASE("fused_batch_normalization gives the biased batch statistics", "[autograd][normalization]") {
  const md::Tensor x = md::Tensor::from_vector({1, 10, 3, 20, 5, 60}, {3, 2});
  md::ops::BatchStatistics stats;
  const md::Tensor y = md::ops::fused_batch_normalization(x, md::Tensor::ones({2}), md::Tensor::zeros({2}), -1, 1e-3f,
                                                          &stats);
  agt::check_close(stats.mean, std::vector<float>{3, 30}, 1e-5, "mean");
  agt::check_close(stats.variance, std::vector<float>{8.0f / 3, 1400.0f / 3}, 1e-3, "variance (biased)");
  const float r = 1.0f / std::sqrt(8.0f / 3 + 1e-3f);
  agt::check_close(md::ops::slice(y, 1, 0, 1), std::vector<float>{-2 * r, 0, 2 * r}, 1e-5, "normalised");
}

TEST_CASE("gradcheck: batch_normalization with given statistics", "[autograd][gradcheck][normalization]") {
  std::mt19937 rng(1304);
  const md::Tensor x = agt::uniform(rng, {3, 2, 4});
  const md::Tensor mean = agt::uniform(rng, {2});
  const md::Tensor variance = agt::uniform(rng, {2}, 0.5f, 2.0f);
  const md::Tensor offset = agt::uniform(rng, {2});
  const md::Tensor scale = agt::uniform(rng, {2});
  agt::check_gradients("batch_normalization axis 1",
                       [](const agt::Inputs& in) {
                         return md::ops::batch_normalization(in[0], in[1], in[2], 1, in[3], in[4], 1e-3f);
                       },
                       {x, mean, variance, offset, scale});
}
