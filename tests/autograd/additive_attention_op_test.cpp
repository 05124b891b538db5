// ops::additive_attention (the fused op) against ops::additive_attention_reference (the same
// formula from generic ops): outputs, weights and all four gradients over the whole grid of
// masks x causal x dropout x key given, on odd shapes, on both kernel paths; then finite
// differences, second derivatives (the reference fallback) and memory.
#include <minidl/core/backend/attention_kernels.h>

#include "autograd_helpers.h"

namespace {

namespace be = md::backend;

struct AttnShape {
  int64_t batch, tq, tv, dim, value_dim;
};

// Every path this CPU runs: AVX-512 and AVX2 where the CPU has them, the portable one everywhere.
std::vector<be::KernelPath> attn_kernel_paths() { return be::supported_kernel_paths(); }

struct PathGuard {
  explicit PathGuard(be::KernelPath p) { be::set_kernel_path(p); }
  ~PathGuard() { be::set_kernel_path(be::KernelPath::automatic); }
  PathGuard(const PathGuard&) = delete;
  PathGuard& operator=(const PathGuard&) = delete;
};

struct AttnRun {
  md::Tensor out, weights, dq, dk, dv, dscale;
};

using AttnFn = std::pair<md::Tensor, md::Tensor> (*)(const md::Tensor&, const md::Tensor&, const md::Tensor&,
                                                      const md::Tensor&, const md::ops::ScoreMasks&, float, uint64_t);

// Runs `fn` under a tape and returns its outputs and the gradients of
// sum(out * r_out) + sum(weights * r_w) with respect to q, k (or v when no key), v and scale.
AttnRun attn_run(AttnFn fn, const md::Tensor& q, const md::Tensor& k, const md::Tensor& v, const md::Tensor& scale,
                 const md::Tensor& query_mask, const md::ops::ScoreMasks& masks, float rate, uint64_t seed,
                 const md::Tensor& r_out, const md::Tensor& r_w) {
  md::GradientTape tape;
  for (const md::Tensor& t : {q, k, v, scale}) tape.watch(t);
  auto [out, weights] = fn(q, k, v, scale, masks, rate, seed);
  // The layer's query mask, applied the same way to both paths.
  if (query_mask.defined()) out = md::ops::where(md::ops::expand_dims(query_mask, -1), out, md::Tensor::scalar(0.0f));
  const md::Tensor loss = md::ops::add(md::ops::sum(md::ops::multiply(out, r_out)),
                                       md::ops::sum(md::ops::multiply(weights, r_w)));
  const std::vector<md::Tensor> g = tape.gradient(loss, std::vector<md::Tensor>{q, k, v, scale});
  return {out, weights, g[0], g[1], g[2], g[3]};
}

md::Tensor attn_bools(std::mt19937& rng, const md::Shape& shape, double keep) {
  std::bernoulli_distribution coin(keep);
  std::vector<float> v(static_cast<size_t>(agt::numel(shape)));
  for (float& x : v) x = coin(rng) ? 1.0f : 0.0f;
  return md::Tensor::from_vector(v, shape, md::DType::bool_);
}

}  // namespace

TEST_CASE("fused additive attention equals the reference over masks x causal x dropout x key, both kernel paths",
          "[autograd][attention]") {
  // B = 1, Tq != Tv, Dv != D, D = 1, sizes not divisible by 16 (the AVX-512 width) and larger
  // than one tile.
  const std::vector<AttnShape> shapes = {
      {2, 3, 5, 4, 6}, {1, 7, 7, 1, 3}, {3, 17, 9, 19, 5}, {2, 33, 40, 16, 16}, {1, 5, 3, 2, 2}};
  std::mt19937 rng(20251126);
  for (be::KernelPath path : attn_kernel_paths()) {
    const PathGuard guard(path);
    for (const AttnShape& s : shapes) {
      for (int masks_case = 0; masks_case < 4; ++masks_case) {     // none, query, value, both
        for (bool causal : {false, true}) {
          for (bool dropout : {false, true}) {
            for (bool key_given : {true, false}) {
              if (!key_given && s.dim != s.value_dim) continue;  // key = value needs D == Dv
              INFO("path " << be::kernel_path_name(path) << ", shape (" << s.batch
                           << "," << s.tq << "," << s.tv << "," << s.dim << "," << s.value_dim << "), masks "
                           << masks_case << ", causal " << causal << ", dropout " << dropout << ", key given "
                           << key_given);
              const md::Tensor q = agt::uniform(rng, {s.batch, s.tq, s.dim}, -1.5f, 1.5f);
              const md::Tensor v = agt::uniform(rng, {s.batch, s.tv, s.value_dim}, -1.5f, 1.5f);
              const md::Tensor k = key_given ? agt::uniform(rng, {s.batch, s.tv, s.dim}, -1.5f, 1.5f) : v;
              const md::Tensor scale = agt::uniform(rng, {s.dim}, -1.0f, 1.0f);
              const md::Tensor qmask = (masks_case & 1) ? attn_bools(rng, {s.batch, s.tq}, 0.7) : md::Tensor();
              const md::Tensor vmask = (masks_case & 2) ? attn_bools(rng, {s.batch, s.tv}, 0.6) : md::Tensor();
              const md::ops::ScoreMasks masks{.value_mask = vmask, .causal = causal};
              const float rate = dropout ? 0.3f : 0.0f;
              const md::Tensor r_out = agt::uniform(rng, {s.batch, s.tq, s.value_dim});
              const md::Tensor r_w = agt::uniform(rng, {s.batch, s.tq, s.tv});
              const AttnRun fused =
                  attn_run(&md::ops::additive_attention, q, k, v, scale, qmask, masks, rate, 99, r_out, r_w);
              const AttnRun ref =
                  attn_run(&md::ops::additive_attention_reference, q, k, v, scale, qmask, masks, rate, 99, r_out, r_w);
              agt::check_close(fused.out, ref.out, 2e-5, "output", 1e-5);
              agt::check_close(fused.weights, ref.weights, 2e-6, "weights", 1e-5);
              agt::check_close(fused.dq, ref.dq, 5e-5, "dq", 1e-4);
              if (key_given) agt::check_close(fused.dk, ref.dk, 5e-5, "dk", 1e-4);
              agt::check_close(fused.dv, ref.dv, 5e-5, "dv", 1e-4);
              agt::check_close(fused.dscale, ref.dscale, 1e-4, "dscale", 1e-4);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("fused additive attention takes extra leading dims and no scale", "[autograd][attention]") {
  std::mt19937 rng(5);
  const md::Tensor q = agt::uniform(rng, {2, 3, 4, 5});
  const md::Tensor k = agt::uniform(rng, {2, 3, 6, 5});
  const md::Tensor v = agt::uniform(rng, {2, 3, 6, 2});
  const md::Tensor vmask = attn_bools(rng, {2, 3, 6}, 0.5);
  const md::Tensor r_out = agt::uniform(rng, {2, 3, 4, 2});
  const md::Tensor r_w = agt::uniform(rng, {2, 3, 4, 6});
  const md::ops::ScoreMasks masks{.value_mask = vmask, .causal = true};
  const AttnRun fused = attn_run(&md::ops::additive_attention, q, k, v, md::Tensor(), md::Tensor(), masks, 0.25f, 3,
                                 r_out, r_w);
  const AttnRun ref = attn_run(&md::ops::additive_attention_reference, q, k, v, md::Tensor(), md::Tensor(), masks,
                               0.25f, 3, r_out, r_w);
  CHECK(fused.out.shape() == md::Shape{2, 3, 4, 2});
  CHECK(fused.weights.shape() == md::Shape{2, 3, 4, 6});
  agt::check_close(fused.out, ref.out, 2e-5, "output", 1e-5);
  agt::check_close(fused.weights, ref.weights, 2e-6, "weights", 1e-5);
  agt::check_close(fused.dq, ref.dq, 5e-5, "dq", 1e-4);
  agt::check_close(fused.dk, ref.dk, 5e-5, "dk", 1e-4);
  agt::check_close(fused.dv, ref.dv, 5e-5, "dv", 1e-4);
  CHECK(!fused.dscale.defined());
}

TEST_CASE("gradcheck: fused additive attention (finite differences, all four inputs)", "[autograd][attention]") {
  std::mt19937 rng(11);
  const md::Tensor q = agt::uniform(rng, {2, 3, 3}, -1.0f, 1.0f);
  const md::Tensor k = agt::uniform(rng, {2, 4, 3}, -1.0f, 1.0f);
  const md::Tensor v = agt::uniform(rng, {2, 4, 2}, -1.0f, 1.0f);
  const md::Tensor scale = agt::uniform(rng, {3}, -1.0f, 1.0f);
  const md::Tensor vmask = md::Tensor::from_vector({1, 0, 1, 1, 1, 1, 0, 1}, {2, 4}, md::DType::bool_);
  for (bool causal : {false, true}) {
    const md::ops::ScoreMasks masks{.value_mask = vmask, .causal = causal};
    agt::check_gradients(
        causal ? "additive_attention output, causal" : "additive_attention output",
        [&](const agt::Inputs& in) { return md::ops::additive_attention(in[0], in[1], in[2], in[3], masks).first; },
        {q, k, v, scale}, /*second_order=*/false);
    agt::check_gradients(
        "additive_attention weights",
        [&](const agt::Inputs& in) { return md::ops::additive_attention(in[0], in[1], in[2], in[3], masks).second; },
        {q, k, v, scale}, /*second_order=*/false);
  }
  // With dropout the mask is fixed by the seed, so the function stays smooth.
  agt::check_gradients(
      "additive_attention with dropout",
      [&](const agt::Inputs& in) {
        return md::ops::additive_attention(in[0], in[1], in[2], in[3], {}, 0.4f, 17).first;
      },
      {q, k, v, scale}, /*second_order=*/false);
}

TEST_CASE("second derivatives of fused additive attention fall back to the reference path", "[autograd][attention]") {
  std::mt19937 rng(12);
  const md::Tensor q = agt::uniform(rng, {1, 2, 3}, -1.0f, 1.0f);
  const md::Tensor k = agt::uniform(rng, {1, 3, 3}, -1.0f, 1.0f);
  const md::Tensor v = agt::uniform(rng, {1, 3, 2}, -1.0f, 1.0f);
  const md::Tensor scale = agt::uniform(rng, {3}, -1.0f, 1.0f);
  const md::ops::ScoreMasks masks{.causal = true};
  agt::check_gradients(
      "additive_attention, grad of grad",
      [&](const agt::Inputs& in) { return md::ops::additive_attention(in[0], in[1], in[2], in[3], masks).first; },
      {q, k, v, scale}, /*second_order=*/true);
}

TEST_CASE("fused additive attention never holds a (B, Tq, Tv, D) tensor", "[autograd][attention]") {
  const int64_t b = 2, tq = 64, tv = 64, d = 64;
  std::mt19937 rng(13);
  const md::Tensor q = agt::uniform(rng, {b, tq, d});
  const md::Tensor k = agt::uniform(rng, {b, tv, d});
  const md::Tensor v = agt::uniform(rng, {b, tv, d});
  const md::Tensor scale = agt::uniform(rng, {d});
  const int64_t before = md::memory_stats().live_bytes;
  md::reset_peak_memory();
  {
    md::GradientTape tape;
    for (const md::Tensor& t : {q, k, v, scale}) tape.watch(t);
    auto [out, weights] = md::ops::additive_attention(q, k, v, scale, {.causal = true});
    const auto grads = tape.gradient(md::ops::sum(out), std::vector<md::Tensor>{q, k, v, scale});
    CHECK(grads[0].defined());
  }
  const int64_t extra = md::memory_stats().peak_bytes - before;
  const int64_t four_d = b * tq * tv * d * static_cast<int64_t>(sizeof(float));
  INFO("peak extra " << extra << " bytes; a (B, Tq, Tv, D) tensor is " << four_d);
  // O(B Tq Tv): scores, weights, their gradient and the outputs, a few (B, Tq, Tv) buffers.
  CHECK(extra < four_d / 4);
}

TEST_CASE("fused additive attention names shapes that cannot attend", "[autograd][attention]") {
  const md::Tensor q = md::Tensor::zeros({2, 3, 4});
  CHECK_THROWS_WITH(md::ops::additive_attention(q, md::Tensor::zeros({2, 5, 3}), md::Tensor::zeros({2, 5, 4}), {}),
                    "additive_attention: query shape (2, 3, 4) and key shape (2, 5, 3) must have the same feature "
                    "size (last dimension).");
  CHECK_THROWS_WITH(md::ops::additive_attention(q, md::Tensor::zeros({2, 5, 4}), md::Tensor::zeros({2, 6, 4}), {}),
                    "additive_attention: key shape (2, 5, 4) and value shape (2, 6, 4) must have the same length "
                    "(second-to-last dimension).");
  CHECK_THROWS_WITH(md::ops::additive_attention(q, q, q, md::Tensor::zeros({3})),
                    "additive_attention: scale shape (3,) must be (4,) for query shape (2, 3, 4).");
  CHECK_THROWS_WITH(md::ops::additive_attention(q, q, q, {}, {.value_mask = md::Tensor::ones({2, 4})}),
                    "additive_attention: value mask shape (2, 4) must be (2, 3) for value shape (2, 3, 4).");
  CHECK_THROWS_AS(md::ops::additive_attention(md::Tensor::zeros({3, 4}), q, q, {}), md::ShapeError);
  CHECK_THROWS_WITH(md::ops::additive_attention(q, q, q, {}, {}, 1.0f),
                    Catch::StartsWith("Invalid value received for argument `rate`."));
}
