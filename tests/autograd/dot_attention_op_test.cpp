// ops::dot_product_attention (the fused op) against ops::dot_product_attention_reference (the
// same formula from transpose, matmul, where, softmax and dropout): outputs, weights and the three
// gradients over masks x causal x zeroing x dropout x returned weights, on odd shapes, on every
// kernel path (avx2/avx512: the blocked tasks on our packed-panel products; portable: oneDNN's
// sgemm) and on the parallel and one-task-at-a-time paths; then finite differences, second
// derivatives (the reference fallback), NaN and errors.
#include <minidl/core/backend/attention_kernels.h>

#include <cmath>
#include <limits>

#include "autograd_helpers.h"

namespace {

namespace be = md::backend;

// Pins a kernel path for the scope.
struct DotPathGuard {
  explicit DotPathGuard(be::KernelPath p) { be::set_kernel_path(p); }
  ~DotPathGuard() { be::set_kernel_path(be::KernelPath::automatic); }
  DotPathGuard(const DotPathGuard&) = delete;
  DotPathGuard& operator=(const DotPathGuard&) = delete;
};

struct DotShape {
  int64_t batch, tq, tv, heads, key_dim, value_dim;
};

struct DotRun {
  md::Tensor out, weights, dq, dk, dv;
};

using DotFn = std::pair<md::Tensor, md::Tensor> (*)(const md::Tensor&, const md::Tensor&, const md::Tensor&,
                                                    const md::ops::DotProductAttentionOptions&);

// fn under a tape; gradients of sum(out * r_out) (+ sum(weights * r_w) when the weights are returned).
DotRun dot_run(DotFn fn, const md::Tensor& q, const md::Tensor& k, const md::Tensor& v,
               const md::ops::DotProductAttentionOptions& o, const md::Tensor& r_out, const md::Tensor& r_w) {
  md::GradientTape tape;
  for (const md::Tensor& t : {q, k, v}) tape.watch(t);
  auto [out, weights] = fn(q, k, v, o);
  md::Tensor loss = md::ops::sum(md::ops::multiply(out, r_out));
  if (o.return_weights) loss = md::ops::add(loss, md::ops::sum(md::ops::multiply(weights, r_w)));
  const std::vector<md::Tensor> g = tape.gradient(loss, std::vector<md::Tensor>{q, k, v});
  return {out, weights, g[0], g[1], g[2]};
}

md::Tensor dot_bools(std::mt19937& rng, const md::Shape& shape, double keep) {
  std::bernoulli_distribution coin(keep);
  std::vector<float> values(static_cast<size_t>(agt::numel(shape)));
  for (float& x : values) x = coin(rng) ? 1.0f : 0.0f;
  return md::Tensor::from_vector(values, shape, md::DType::bool_);
}

void compare(const DotRun& fused, const DotRun& ref) {
  agt::check_close(fused.out, ref.out, 2e-6, "output", 1e-5);
  agt::check_close(fused.weights, ref.weights, 2e-6, "weights", 1e-5);
  agt::check_close(fused.dq, ref.dq, 5e-6, "dq", 1e-4);
  agt::check_close(fused.dk, ref.dk, 5e-6, "dk", 1e-4);
  agt::check_close(fused.dv, ref.dv, 5e-6, "dv", 1e-4);
}

}  // namespace

TEST_CASE("fused dot-product attention equals the reference over masks x causal x zeroing x dropout x weights",
          "[autograd][attention]") {
  // Tq != Tv, Dv != D, one head, sizes off every vector width, a fully masked row (mask kind 3),
  // and (4, 64, 64, 8) large enough for the threaded task split.
  const std::vector<DotShape> shapes = {
      {2, 3, 5, 2, 4, 6}, {1, 7, 7, 1, 3, 3}, {3, 17, 9, 3, 19, 5}, {1, 33, 40, 1, 16, 16}, {4, 64, 64, 8, 8, 8}};
  std::mt19937 rng(20261207);
  for (const be::KernelPath path : be::supported_kernel_paths()) {
    const DotPathGuard guard(path);
    for (const DotShape& s : shapes) {
      for (int mask_kind = 0; mask_kind < 4; ++mask_kind) {  // none, (B, 1, T, S), (S,) row, with a fully masked row
        for (bool causal : {false, true}) {
          for (bool zero_masked : {false, true}) {
            for (bool dropout : {false, true}) {
              for (bool weights_out : {false, true}) {
                INFO("path " << be::kernel_path_name(path) << ", shape (" << s.batch << "," << s.tq << "," << s.tv
                             << "," << s.heads << "," << s.key_dim << "," << s.value_dim << "), mask " << mask_kind
                             << ", causal " << causal << ", zeroing " << zero_masked << ", dropout " << dropout
                             << ", weights out " << weights_out);
                const md::Tensor q = agt::uniform(rng, {s.batch, s.tq, s.heads, s.key_dim}, -1.5f, 1.5f);
                const md::Tensor k = agt::uniform(rng, {s.batch, s.tv, s.heads, s.key_dim}, -1.5f, 1.5f);
                const md::Tensor v = agt::uniform(rng, {s.batch, s.tv, s.heads, s.value_dim}, -1.5f, 1.5f);
                md::Tensor mask;
                if (mask_kind == 1) mask = dot_bools(rng, {s.batch, 1, s.tq, s.tv}, 0.7);
                if (mask_kind == 2) mask = dot_bools(rng, {s.tv}, 0.6);
                if (mask_kind == 3) {
                  std::vector<float> m = dot_bools(rng, {s.batch, 1, s.tq, s.tv}, 0.7).to_vector();
                  std::fill(m.begin(), m.begin() + s.tv, 0.0f);  // row 0 of batch 0 sees nothing
                  mask = md::Tensor::from_vector(m, {s.batch, 1, s.tq, s.tv}, md::DType::bool_);
                }
                const md::ops::DotProductAttentionOptions o{.mask = mask,
                                                            .is_causal = causal,
                                                            .dropout_rate = dropout ? 0.3f : 0.0f,
                                                            .dropout_seed = 77,
                                                            .zero_masked_weights = zero_masked,
                                                            .return_weights = weights_out};
                const md::Tensor r_out = agt::uniform(rng, {s.batch, s.tq, s.heads, s.value_dim});
                const md::Tensor r_w = agt::uniform(rng, {s.batch, s.heads, s.tq, s.tv});
                const DotRun fused = dot_run(md::ops::dot_product_attention, q, k, v, o, r_out, r_w);
                const DotRun ref = dot_run(md::ops::dot_product_attention_reference, q, k, v, o, r_out, r_w);
                compare(fused, ref);
              }
            }
          }
        }
      }
    }
  }
}

TEST_CASE("fused dot-product attention over several query blocks: both kernel paths equal the reference",
          "[autograd][attention]") {
  // The blocked path's forward takes ~64 KiB of scores per block of query rows, its backward ~256
  // KiB: Tv = 300 gives blocks of 54 and 216 rows, so 500 queries run as 9 x 54 + 14 forward and
  // 216 + 216 + 68 backward (dV and dK accumulate over them); head depth 32 (two full panels) and
  // value depth 20 (a panel and a narrow one); one row of batch 1 fully masked.
  std::mt19937 rng(1207);
  const DotShape s{2, 500, 300, 2, 32, 20};
  const md::Tensor q = agt::uniform(rng, {s.batch, s.tq, s.heads, s.key_dim}, -1.5f, 1.5f);
  const md::Tensor k = agt::uniform(rng, {s.batch, s.tv, s.heads, s.key_dim}, -1.5f, 1.5f);
  const md::Tensor v = agt::uniform(rng, {s.batch, s.tv, s.heads, s.value_dim}, -1.5f, 1.5f);
  std::vector<float> m = dot_bools(rng, {s.batch, 1, s.tq, s.tv}, 0.8).to_vector();
  std::fill_n(m.begin() + (s.tq + 100) * s.tv, s.tv, 0.0f);
  const md::Tensor mask = md::Tensor::from_vector(m, {s.batch, 1, s.tq, s.tv}, md::DType::bool_);
  const md::Tensor r_out = agt::uniform(rng, {s.batch, s.tq, s.heads, s.value_dim});
  const md::Tensor r_w = agt::uniform(rng, {s.batch, s.heads, s.tq, s.tv});
  for (bool masked : {false, true}) {
    for (bool dropout : {false, true}) {
      const md::ops::DotProductAttentionOptions o{.mask = masked ? mask : md::Tensor(),
                                                  .is_causal = masked,
                                                  .dropout_rate = dropout ? 0.25f : 0.0f,
                                                  .dropout_seed = 9,
                                                  .zero_masked_weights = masked,
                                                  .return_weights = dropout};
      const DotRun ref = dot_run(md::ops::dot_product_attention_reference, q, k, v, o, r_out, r_w);
      for (const be::KernelPath path : be::supported_kernel_paths()) {
        INFO("path " << be::kernel_path_name(path) << ", masked " << masked << ", dropout " << dropout);
        const DotPathGuard guard(path);
        compare(dot_run(md::ops::dot_product_attention, q, k, v, o, r_out, r_w), ref);
      }
    }
  }
}

TEST_CASE("fused dot-product attention with no queries or no keys, on every kernel path", "[autograd][attention]") {
  // No queries: empty output, and the key and value gradients are zero (not left unwritten). No
  // keys: every output row is zero (a product over nothing), as is the query gradient.
  std::mt19937 rng(8);
  for (const be::KernelPath path : be::supported_kernel_paths()) {
    INFO("path " << be::kernel_path_name(path));
    const DotPathGuard guard(path);
    for (const auto& [tq, tv] : {std::pair<int64_t, int64_t>{0, 5}, std::pair<int64_t, int64_t>{4, 0}}) {
      const md::Tensor q = agt::uniform(rng, {3, tq, 2, 4});
      const md::Tensor k = agt::uniform(rng, {3, tv, 2, 4});
      const md::Tensor v = agt::uniform(rng, {3, tv, 2, 3});
      md::GradientTape tape;
      for (const md::Tensor& t : {q, k, v}) tape.watch(t);
      const md::Tensor out = md::ops::dot_product_attention(q, k, v).first;
      CHECK(out.shape() == md::Shape{3, tq, 2, 3});
      for (float x : out.to_vector()) CHECK(x == 0.0f);
      const std::vector<md::Tensor> g =
          tape.gradient(md::ops::sum(md::ops::multiply(out, 2.0f)), std::vector<md::Tensor>{q, k, v});
      for (const md::Tensor& grad : g) {
        for (float x : grad.to_vector()) CHECK(x == 0.0f);
      }
    }
  }
}

TEST_CASE("fused dot-product attention: one (batch, head) task runs its products and rows on the whole team",
          "[autograd][attention]") {
  // One task (batch 1, one head) with enough work for the threads: the sequential-task path.
  std::mt19937 rng(5);
  const md::Tensor q = agt::uniform(rng, {1, 130, 1, 24}, -1.0f, 1.0f);
  const md::Tensor k = agt::uniform(rng, {1, 150, 1, 24}, -1.0f, 1.0f);
  const md::Tensor v = agt::uniform(rng, {1, 150, 1, 20}, -1.0f, 1.0f);
  const md::Tensor mask = dot_bools(rng, {1, 1, 130, 150}, 0.8);
  const md::Tensor r_out = agt::uniform(rng, {1, 130, 1, 20});
  const md::Tensor r_w = agt::uniform(rng, {1, 1, 130, 150});
  for (int threads : {1, 2}) {
    md::set_num_threads(threads);
    const md::ops::DotProductAttentionOptions o{
        .mask = mask, .is_causal = true, .dropout_rate = 0.2f, .dropout_seed = 3, .return_weights = true};
    compare(dot_run(md::ops::dot_product_attention, q, k, v, o, r_out, r_w),
            dot_run(md::ops::dot_product_attention_reference, q, k, v, o, r_out, r_w));
  }
  md::set_num_threads(2);
}

TEST_CASE("fused dot-product attention: the scale, the default 1 / sqrt(depth), and masks as numbers",
          "[autograd][attention]") {
  std::mt19937 rng(6);
  const md::Tensor q = agt::uniform(rng, {2, 4, 2, 9});
  const md::Tensor k = agt::uniform(rng, {2, 5, 2, 9});
  const md::Tensor v = agt::uniform(rng, {2, 5, 2, 3});
  const md::Tensor scaled =
      md::ops::dot_product_attention(md::ops::multiply(q, 1.0f / 3.0f), k, v, {.scale = 1.0f}).first;
  agt::check_close(md::ops::dot_product_attention(q, k, v).first, scaled, 1e-6, "default scale 1/sqrt(9)", 1e-5);
  agt::check_close(md::ops::dot_product_attention(q, k, v, {.scale = 0.5f}).first,
                   md::ops::dot_product_attention_reference(q, k, v, {.scale = 0.5f}).first, 1e-6, "scale 0.5", 1e-5);
  // A float mask (nonzero = attend) acts as the same bool mask.
  const md::Tensor keep = dot_bools(rng, {2, 1, 4, 5}, 0.6);
  const md::Tensor numbers = md::ops::multiply(md::ops::cast(keep, md::DType::float32), 3.0f);
  agt::check_close(md::ops::dot_product_attention(q, k, v, {.mask = numbers}).second,
                   md::ops::dot_product_attention(q, k, v, {.mask = keep}).second, 0.0, "float mask");
}

TEST_CASE("gradcheck: fused dot-product attention (finite differences, query, key and value)",
          "[autograd][attention]") {
  std::mt19937 rng(11);
  const md::Tensor q = agt::uniform(rng, {2, 3, 2, 3}, -1.0f, 1.0f);
  const md::Tensor k = agt::uniform(rng, {2, 4, 2, 3}, -1.0f, 1.0f);
  const md::Tensor v = agt::uniform(rng, {2, 4, 2, 2}, -1.0f, 1.0f);
  const md::Tensor mask = md::Tensor::from_vector({1, 0, 1, 1, 1, 1, 0, 1}, {2, 1, 1, 4}, md::DType::bool_);
  for (const be::KernelPath path : be::supported_kernel_paths()) {
    INFO("path " << be::kernel_path_name(path));
    const DotPathGuard guard(path);
    for (bool causal : {false, true}) {
      const md::ops::DotProductAttentionOptions o{
          .mask = mask, .is_causal = causal, .zero_masked_weights = true, .return_weights = true};
      agt::check_gradients(
          causal ? "dot_product_attention output, causal" : "dot_product_attention output",
          [&](const agt::Inputs& in) { return md::ops::dot_product_attention(in[0], in[1], in[2], o).first; },
          {q, k, v},
          /*second_order=*/false);
      agt::check_gradients(
          "dot_product_attention weights",
          [&](const agt::Inputs& in) { return md::ops::dot_product_attention(in[0], in[1], in[2], o).second; },
          {q, k, v},
          /*second_order=*/false);
    }
    // With dropout the multipliers are fixed by the seed, so the function stays smooth.
    agt::check_gradients(
        "dot_product_attention with dropout",
        [&](const agt::Inputs& in) {
          return md::ops::dot_product_attention(in[0], in[1], in[2], {.dropout_rate = 0.4f, .dropout_seed = 17}).first;
        },
        {q, k, v}, /*second_order=*/false);
  }
}

TEST_CASE("second derivatives of fused dot-product attention fall back to the reference path",
          "[autograd][attention]") {
  std::mt19937 rng(12);
  const md::Tensor q = agt::uniform(rng, {1, 2, 2, 3}, -1.0f, 1.0f);
  const md::Tensor k = agt::uniform(rng, {1, 3, 2, 3}, -1.0f, 1.0f);
  const md::Tensor v = agt::uniform(rng, {1, 3, 2, 2}, -1.0f, 1.0f);
  agt::check_gradients(
      "dot_product_attention, grad of grad",
      [&](const agt::Inputs& in) {
        return md::ops::dot_product_attention(in[0], in[1], in[2], {.is_causal = true}).first;
      },
      {q, k, v}, /*second_order=*/true);
}

TEST_CASE("fused dot-product attention propagates NaN and infinity to the rows they reach", "[autograd][attention]") {
  for (const be::KernelPath path : be::supported_kernel_paths()) {
    INFO("path " << be::kernel_path_name(path));
    const DotPathGuard guard(path);
    std::mt19937 rng(13);
    md::Tensor q = agt::uniform(rng, {1, 3, 1, 4});
    const md::Tensor k = agt::uniform(rng, {1, 5, 1, 4});
    const md::Tensor v = agt::uniform(rng, {1, 5, 1, 2});
    std::vector<float> qv = q.to_vector();
    qv[4] = std::numeric_limits<float>::quiet_NaN();  // query row 1
    q = md::Tensor::from_vector(qv, q.shape());
    const auto [out, weights] = md::ops::dot_product_attention(q, k, v);
    const std::vector<float> o = out.to_vector(), w = weights.to_vector();
    for (int j = 0; j < 2; ++j) {
      CHECK(std::isfinite(o[static_cast<size_t>(j)]));
      CHECK(std::isnan(o[static_cast<size_t>(2 + j)]));
      CHECK(std::isfinite(o[static_cast<size_t>(4 + j)]));
    }
    for (int j = 0; j < 5; ++j) CHECK(std::isnan(w[static_cast<size_t>(5 + j)]));
    // A NaN value reaches every output that weighs it.
    std::vector<float> vv = v.to_vector();
    vv[0] = std::numeric_limits<float>::quiet_NaN();
    const md::Tensor v_nan = md::Tensor::from_vector(vv, v.shape());
    const std::vector<float> o2 =
        md::ops::dot_product_attention(agt::uniform(rng, {1, 3, 1, 4}), k, v_nan).first.to_vector();
    for (int i = 0; i < 3; ++i) CHECK(std::isnan(o2[static_cast<size_t>(2 * i)]));
  }
}

TEST_CASE("fused dot-product attention names shapes that cannot attend", "[autograd][attention]") {
  const md::Tensor q = md::Tensor::zeros({2, 3, 2, 4});
  const md::Tensor k = md::Tensor::zeros({2, 5, 2, 4});
  const md::Tensor v = md::Tensor::zeros({2, 5, 2, 6});
  CHECK_THROWS_WITH(md::ops::dot_product_attention(md::Tensor::zeros({2, 3, 8}), k, v),
                    Catch::Contains("rank 4") && Catch::Contains("(2, 3, 8)"));
  CHECK_THROWS_WITH(md::ops::dot_product_attention(q, md::Tensor::zeros({2, 5, 2, 3}), v),
                    Catch::Contains("different depths"));
  CHECK_THROWS_WITH(md::ops::dot_product_attention(q, k, md::Tensor::zeros({2, 4, 2, 6})),
                    Catch::Contains("different lengths"));
  CHECK_THROWS_WITH(md::ops::dot_product_attention(q, k, v, {.mask = md::Tensor::ones({4, 5})}),
                    Catch::Contains("does not broadcast") && Catch::Contains("mask (4, 5)"));
  CHECK_THROWS_WITH(md::ops::dot_product_attention(q, k, v, {.dropout_rate = 1.0f}),
                    Catch::Contains("Expected a float value between 0 and 1"));
}

TEST_CASE("matmul_bias equals matmul + add, with gradients to every order", "[autograd][attention]") {
  std::mt19937 rng(21);
  for (const agt::Dims& x_shape : {agt::Dims{5, 3}, agt::Dims{2, 4, 3}, agt::Dims{2, 2, 3, 3}}) {
    const md::Tensor x = agt::uniform(rng, x_shape, -1.0f, 1.0f);
    const md::Tensor w = agt::uniform(rng, {3, 4}, -1.0f, 1.0f);
    const md::Tensor b = agt::uniform(rng, {4}, -1.0f, 1.0f);
    agt::check_close(md::ops::matmul_bias(x, w, b), md::ops::add(md::ops::matmul(x, w), b), 1e-6, "forward", 1e-6);
    agt::check_gradients(
        "matmul_bias", [](const agt::Inputs& in) { return md::ops::matmul_bias(in[0], in[1], in[2]); }, {x, w, b},
        /*second_order=*/true);
  }
  // Large enough for oneDNN's threaded primitive.
  const md::Tensor x = agt::uniform(rng, {300, 130});
  const md::Tensor w = agt::uniform(rng, {130, 70});
  const md::Tensor b = agt::uniform(rng, {70});
  agt::check_close(md::ops::matmul_bias(x, w, b), md::ops::add(md::ops::matmul(x, w), b), 1e-4, "large", 1e-5);
  CHECK_THROWS_WITH(md::ops::matmul_bias(x, w, md::Tensor::zeros({69})), Catch::Contains("bias (69,)"));
}
