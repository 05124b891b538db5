// Packed self-attention (MultiHeadAttention's self-attention path): ops::packed_projection
// against one matmul + add per kernel, and ops::packed_self_attention against
// packed_self_attention_reference (slices of qkv through dot_product_attention_reference), over
// masks x causal x zeroing x dropout x returned weights; finite differences (first and second
// order for the projection, whose gradient is made of ops), the higher-order fallback of the
// attention, and errors.
#include <cmath>
#include <limits>

#include "autograd_helpers.h"

namespace {

struct PackedRun {
  md::Tensor out, weights, d_qkv;
};

using PackedFn = std::pair<md::Tensor, md::Tensor> (*)(const md::Tensor&, const md::ops::PackedHeads&,
                                                       const md::ops::DotProductAttentionOptions&);

PackedRun packed_run(PackedFn fn, const md::Tensor& qkv, const md::ops::PackedHeads& h,
                     const md::ops::DotProductAttentionOptions& o, const md::Tensor& r_out, const md::Tensor& r_w) {
  md::GradientTape tape;
  tape.watch(qkv);
  auto [out, weights] = fn(qkv, h, o);
  md::Tensor loss = md::ops::sum(md::ops::multiply(out, r_out));
  if (o.return_weights) loss = md::ops::add(loss, md::ops::sum(md::ops::multiply(weights, r_w)));
  return {out, weights, tape.gradient(loss, std::vector<md::Tensor>{qkv}).at(0)};
}

md::Tensor packed_bools(std::mt19937& rng, const md::Shape& shape, double keep) {
  std::bernoulli_distribution coin(keep);
  std::vector<float> values(static_cast<size_t>(agt::numel(shape)));
  for (float& x : values) x = coin(rng) ? 1.0f : 0.0f;
  return md::Tensor::from_vector(values, shape, md::DType::bool_);
}

// The unpacked form: one product (and bias) per kernel, side by side.
md::Tensor separate_projections(const md::Tensor& x, const std::vector<md::Tensor>& kernels,
                                const std::vector<md::Tensor>& biases) {
  std::vector<md::Tensor> parts;
  for (size_t i = 0; i < kernels.size(); ++i) {
    md::Tensor y = md::ops::matmul(x, md::ops::reshape(kernels[i], {kernels[i].dim(0), -1}));
    if (!biases.empty()) y = md::ops::add(y, md::ops::reshape(biases[i], {-1}));
    parts.push_back(y);
  }
  return md::ops::concatenate(parts, -1);
}

// {y, then the gradient of sum(y * r) for each watched tensor}, y = f() computed under a tape.
template <class F>
std::vector<md::Tensor> value_and_gradients(F&& f, const md::Tensor& r, const std::vector<md::Tensor>& watched) {
  md::GradientTape tape;
  for (const md::Tensor& t : watched) tape.watch(t);
  const md::Tensor y = f();
  std::vector<md::Tensor> out = tape.gradient(md::ops::sum(md::ops::multiply(y, r)), watched);
  out.insert(out.begin(), y);
  return out;
}

// Each item of `actual` (every one defined) against the same item of `expected`.
void check_items(const std::vector<md::Tensor>& actual, const std::vector<md::Tensor>& expected, double atol,
                 const std::string& what) {
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    INFO(what << ", item " << i << " (0: the value, then the watched tensors' gradients in order)");
    REQUIRE(actual[i].defined());
    CHECK(actual[i].shape() == expected[i].shape());
    agt::check_close(actual[i], expected[i], atol, what, 1e-5);
  }
}

}  // namespace

TEST_CASE("packed_projection equals one product per kernel: values and every gradient", "[autograd][attention]") {
  std::mt19937 rng(1407);
  for (bool bias : {true, false}) {
    INFO("bias " << bias);
    // MultiHeadAttention's kernels (dim, heads, depth) with value_dim != key_dim.
    const md::Tensor x = agt::uniform(rng, {3, 5, 6}, -1.0f, 1.0f);
    const std::vector<md::Tensor> kernels = {agt::uniform(rng, {6, 2, 3}), agt::uniform(rng, {6, 2, 3}),
                                             agt::uniform(rng, {6, 2, 4})};
    std::vector<md::Tensor> biases;
    if (bias) biases = {agt::uniform(rng, {2, 3}), agt::uniform(rng, {2, 3}), agt::uniform(rng, {2, 4})};
    const md::Tensor r = agt::uniform(rng, {3, 5, 20});
    std::vector<md::Tensor> watched = {x};
    watched.insert(watched.end(), kernels.begin(), kernels.end());
    watched.insert(watched.end(), biases.begin(), biases.end());
    const std::vector<md::Tensor> packed = value_and_gradients(
        [&] { return md::ops::packed_projection(x, kernels, biases); }, r, watched);
    CHECK(packed[0].shape() == md::Shape{3, 5, 20});
    check_items(packed, value_and_gradients([&] { return separate_projections(x, kernels, biases); }, r, watched),
                1e-5, "packed vs separate");
  }
}

TEST_CASE("packed_projection and matmul_bias at MultiHeadAttention's sizes: per-block products run side by side "
          "equal the separate products, at 1 and 2 threads, for every subset of gradients",
          "[autograd][attention]") {
  // Large enough for oneDNN's primitives and for the products to be dealt to two threads (dx on
  // one, the kernels' gradients in column halves on the other); widths 96, 96 and 40 (a block
  // under 64 columns is not halved).
  std::mt19937 rng(1409);
  const md::Tensor x = agt::uniform(rng, {4, 100, 96}, -1.0f, 1.0f);
  const std::vector<md::Tensor> kernels = {agt::uniform(rng, {96, 4, 24}), agt::uniform(rng, {96, 4, 24}),
                                           agt::uniform(rng, {96, 4, 10})};
  const std::vector<md::Tensor> biases = {agt::uniform(rng, {4, 24}), agt::uniform(rng, {4, 24}),
                                          agt::uniform(rng, {4, 10})};
  const md::Tensor r = agt::uniform(rng, {4, 100, 232});
  const md::Tensor w2 = agt::uniform(rng, {96, 80}), b2 = agt::uniform(rng, {80}), r2 = agt::uniform(rng, {4, 100, 80});
  const int threads_before = md::get_num_threads();
  for (int threads : {1, 2}) {
    md::set_num_threads(threads);
    // Bit 0: x watched, bit 1: the kernels, bit 2: the biases.
    for (int subset = 1; subset < 8; ++subset) {
      INFO("threads " << threads << ", watched subset " << subset);
      std::vector<md::Tensor> watched;
      if (subset & 1) watched.push_back(x);
      if (subset & 2) watched.insert(watched.end(), kernels.begin(), kernels.end());
      if (subset & 4) watched.insert(watched.end(), biases.begin(), biases.end());
      check_items(
          value_and_gradients([&] { return md::ops::packed_projection(x, kernels, biases); }, r, watched),
          value_and_gradients([&] { return separate_projections(x, kernels, biases); }, r, watched), 1e-4,
          "packed vs separate");
      // matmul_bias (the output projection's product): its gradients through the same products.
      std::vector<md::Tensor> watched2;
      if (subset & 1) watched2.push_back(x);
      if (subset & 2) watched2.push_back(w2);
      if (subset & 4) watched2.push_back(b2);
      check_items(value_and_gradients([&] { return md::ops::matmul_bias(x, w2, b2); }, r2, watched2),
                  value_and_gradients([&] { return md::ops::add(md::ops::matmul(x, w2), b2); }, r2, watched2), 1e-4,
                  "matmul_bias vs matmul + add");
    }
  }
  md::set_num_threads(threads_before);
}

TEST_CASE("packed_projection with no features or no rows: the biases alone, or empty", "[autograd][attention]") {
  std::mt19937 rng(1410);
  // x (rows..., k) with two kernels of 6 and 5 columns and their biases, all watched, and r.
  struct Case {
    md::Tensor x, r;
    std::vector<md::Tensor> kernels, biases, watched;
  };
  auto make = [&](const agt::Dims& x_shape) {
    const int64_t k = x_shape.back();
    Case c{agt::uniform(rng, x_shape), agt::uniform(rng, {x_shape[0], x_shape[1], 11}),
           {agt::uniform(rng, {k, 2, 3}), agt::uniform(rng, {k, 5})},
           {agt::uniform(rng, {2, 3}), agt::uniform(rng, {5})},
           {}};
    c.watched = {c.x, c.kernels[0], c.kernels[1], c.biases[0], c.biases[1]};
    return c;
  };
  auto packed = [](const Case& c) {
    return value_and_gradients([&] { return md::ops::packed_projection(c.x, c.kernels, c.biases); }, c.r, c.watched);
  };
  // No rows: the same as the separate products (all empty).
  const Case empty = make({0, 3, 4});
  check_items(packed(empty),
              value_and_gradients([&] { return separate_projections(empty.x, empty.kernels, empty.biases); },
                                  empty.r, empty.watched),
              1e-5, "no rows");
  // No features (k = 0): y is the biases side by side on every row; their gradients are the
  // column sums of the incoming gradient, the others empty. (The separate products cannot
  // reshape a kernel with no rows: hand values here.)
  const Case c = make({2, 3, 0});
  const std::vector<md::Tensor> got = packed(c);
  const std::vector<md::Tensor>& biases = c.biases;
  const md::Tensor& r = c.r;
  const md::Tensor bias_row = md::ops::concatenate({md::ops::reshape(biases[0], {6}), biases[1]}, 0);
  agt::check_close(got[0], md::ops::broadcast_to(bias_row, {2, 3, 11}), 0.0, "y = the biases");
  CHECK(got[1].shape() == md::Shape{2, 3, 0});
  CHECK(got[2].shape() == md::Shape{0, 2, 3});
  CHECK(got[3].shape() == md::Shape{0, 5});
  const md::Tensor sums = md::ops::sum(md::ops::reshape(r, {6, 11}), {0});
  agt::check_close(got[4], md::ops::reshape(md::ops::slice(sums, 0, 0, 6), {2, 3}), 1e-6, "d bias 0", 1e-6);
  agt::check_close(got[5], md::ops::slice(sums, 0, 6, 11), 1e-6, "d bias 1", 1e-6);
}

TEST_CASE("gradcheck: packed_projection, first and second order", "[autograd][attention][gradcheck]") {
  std::mt19937 rng(1408);
  const md::Tensor x = agt::uniform(rng, {2, 3, 4}, -1.0f, 1.0f);
  const md::Tensor wq = agt::uniform(rng, {4, 2, 2}), wk = agt::uniform(rng, {4, 2, 2}), wv = agt::uniform(rng, {4, 3});
  const md::Tensor bq = agt::uniform(rng, {2, 2}), bk = agt::uniform(rng, {2, 2}), bv = agt::uniform(rng, {3});
  // tanh makes the second derivative non-zero in every input.
  agt::check_gradients(
      "tanh(packed_projection(x, {wq, wk, wv}, {bq, bk, bv}))",
      [](const agt::Inputs& in) {
        return md::ops::tanh(md::ops::packed_projection(in[0], {in[1], in[2], in[3]}, {in[4], in[5], in[6]}));
      },
      {x, wq, wk, wv, bq, bk, bv});
  agt::check_gradients(
      "tanh(packed_projection(x, {wq, wk}))",
      [](const agt::Inputs& in) { return md::ops::tanh(md::ops::packed_projection(in[0], {in[1], in[2]})); },
      {x, wq, wk});
}

TEST_CASE("packed self-attention equals the reference over masks x causal x zeroing x dropout x weights",
          "[autograd][attention]") {
  struct Case {
    int64_t batch, t, heads, key_dim, value_dim;
  };
  // Odd sizes, value_dim != key_dim, and (4, 64, 8, 8, 8) large enough for the threaded task split.
  const std::vector<Case> cases = {{2, 5, 2, 4, 6}, {1, 7, 1, 3, 3}, {3, 17, 3, 19, 5}, {4, 64, 8, 8, 8}};
  std::mt19937 rng(1409);
  for (const Case& c : cases) {
    const md::ops::PackedHeads h{.heads = c.heads, .key_dim = c.key_dim, .value_dim = c.value_dim};
    for (int mask_kind = 0; mask_kind < 3; ++mask_kind) {  // none, (B, 1, T, T), with a fully masked row
      for (bool causal : {false, true}) {
        for (bool zero_masked : {false, true}) {
          for (bool dropout : {false, true}) {
            for (bool weights_out : {false, true}) {
              INFO("case (" << c.batch << "," << c.t << "," << c.heads << "," << c.key_dim << "," << c.value_dim
                            << "), mask " << mask_kind << ", causal " << causal << ", zeroing " << zero_masked
                            << ", dropout " << dropout << ", weights out " << weights_out);
              const md::Tensor qkv =
                  agt::uniform(rng, {c.batch, c.t, c.heads * (2 * c.key_dim + c.value_dim)}, -1.5f, 1.5f);
              md::Tensor mask;
              if (mask_kind > 0) {
                std::vector<float> m = packed_bools(rng, {c.batch, 1, c.t, c.t}, 0.7).to_vector();
                if (mask_kind == 2) std::fill(m.begin(), m.begin() + c.t, 0.0f);  // row 0 of batch 0 sees nothing
                mask = md::Tensor::from_vector(m, {c.batch, 1, c.t, c.t}, md::DType::bool_);
              }
              const md::ops::DotProductAttentionOptions o{.mask = mask,
                                                          .is_causal = causal,
                                                          .dropout_rate = dropout ? 0.3f : 0.0f,
                                                          .dropout_seed = 78,
                                                          .zero_masked_weights = zero_masked,
                                                          .return_weights = weights_out};
              const md::Tensor r_out = agt::uniform(rng, {c.batch, c.t, c.heads, c.value_dim});
              const md::Tensor r_w = agt::uniform(rng, {c.batch, c.heads, c.t, c.t});
              const PackedRun fused = packed_run(md::ops::packed_self_attention, qkv, h, o, r_out, r_w);
              const PackedRun ref = packed_run(md::ops::packed_self_attention_reference, qkv, h, o, r_out, r_w);
              agt::check_close(fused.out, ref.out, 2e-6, "output", 1e-5);
              agt::check_close(fused.weights, ref.weights, 2e-6, "weights", 1e-5);
              agt::check_close(fused.d_qkv, ref.d_qkv, 5e-6, "d_qkv", 1e-4);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("gradcheck: packed self-attention, and second derivatives through the reference",
          "[autograd][attention][gradcheck]") {
  std::mt19937 rng(1410);
  const md::ops::PackedHeads h{.heads = 2, .key_dim = 2, .value_dim = 3};
  const md::Tensor qkv = agt::uniform(rng, {2, 3, 14}, -1.0f, 1.0f);
  const md::Tensor mask = packed_bools(rng, {2, 1, 3, 3}, 0.7);
  agt::check_gradients(
      "packed_self_attention(qkv, causal, mask)",
      [&](const agt::Inputs& in) {
        return md::ops::packed_self_attention(in[0], h, {.mask = mask, .is_causal = true}).first;
      },
      {qkv});
  agt::check_gradients(
      "packed_self_attention weights",
      [&](const agt::Inputs& in) { return md::ops::packed_self_attention(in[0], h, {.return_weights = true}).second; },
      {qkv}, /*second_order=*/false);
}

TEST_CASE("packed self-attention: errors name the shapes", "[autograd][attention]") {
  const md::Tensor qkv = md::Tensor::zeros({2, 3, 13});
  CHECK_THROWS_WITH(md::ops::packed_self_attention(qkv, {.heads = 2, .key_dim = 2, .value_dim = 3}),
                    Catch::Contains("(B, T, 14)") && Catch::Contains("(2, 3, 13)"));
  CHECK_THROWS_AS(md::ops::packed_self_attention(md::Tensor::zeros({2, 3, 14}), {2, 2, 3}, {.dropout_rate = 1.0f}),
                  md::ValueError);
  const md::Tensor x = md::Tensor::zeros({2, 4});
  CHECK_THROWS_WITH(md::ops::packed_projection(x, {md::Tensor::zeros({5, 3})}),
                    Catch::Contains("(2, 4)") && Catch::Contains("(5, 3)"));
  CHECK_THROWS_AS(md::ops::packed_projection(x, {}), md::ValueError);
}

TEST_CASE("packed projection and self-attention propagate NaN to what they reach", "[autograd][attention]") {
  std::mt19937 rng(1411);
  // A NaN in row 1 of x reaches row 1 of every projection; then, as a key and a value, every
  // query row of that batch element; row 0 of the other batch element stays finite.
  std::vector<float> xv = agt::uniform(rng, {2, 3, 4}).to_vector();
  xv[4] = std::numeric_limits<float>::quiet_NaN();
  const md::Tensor x = md::Tensor::from_vector(xv, {2, 3, 4});
  const md::Tensor qkv = md::ops::packed_projection(x, {agt::uniform(rng, {4, 1, 2}), agt::uniform(rng, {4, 1, 2}),
                                                        agt::uniform(rng, {4, 1, 2})});
  const std::vector<float> p = qkv.to_vector();
  for (int j = 0; j < 6; ++j) {
    CHECK(std::isfinite(p[static_cast<size_t>(j)]));
    CHECK(std::isnan(p[static_cast<size_t>(6 + j)]));
  }
  const std::vector<float> out =
      md::ops::packed_self_attention(qkv, {.heads = 1, .key_dim = 2, .value_dim = 2}).first.to_vector();
  for (int i = 0; i < 6; ++i) CHECK(std::isnan(out[static_cast<size_t>(i)]));        // batch element 0
  for (int i = 6; i < 12; ++i) CHECK(std::isfinite(out[static_cast<size_t>(i)]));    // batch element 1
}
