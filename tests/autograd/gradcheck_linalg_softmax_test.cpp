// matmul (2-D, batched, broadcast batch dims, every transpose-flag combination, 1-D operands)
// and softmax / log_softmax along several axes, at first and second order.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

// The stored shape of an operand used as (rows x cols) after an optional transpose of its
// last two axes.
agt::Dims stored(agt::Dims batch, int64_t rows, int64_t cols, bool transposed) {
  batch.push_back(transposed ? cols : rows);
  batch.push_back(transposed ? rows : cols);
  return batch;
}

void check_matmul(std::mt19937& rng, const agt::Dims& batch_a, const agt::Dims& batch_b, int64_t m, int64_t k,
                  int64_t n, bool ta, bool tb) {
  const md::Tensor a = agt::uniform(rng, stored(batch_a, m, k, ta));
  const md::Tensor b = agt::uniform(rng, stored(batch_b, k, n, tb));
  const std::string name =
      "matmul " + agt::str(a.shape()) + (ta ? "^T" : "") + " @ " + agt::str(b.shape()) + (tb ? "^T" : "");
  agt::check_gradients(name, [ta, tb](const agt::Inputs& in) { return md::ops::matmul(in[0], in[1], ta, tb); }, {a, b});
}

}  // namespace

TEST_CASE("gradcheck: 2-D matmul with every transpose-flag combination", "[autograd][gradcheck][linalg]") {
  std::mt19937 rng(501);
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check_matmul(rng, {}, {}, 2, 3, 4, ta, tb);
      check_matmul(rng, {}, {}, 3, 1, 2, ta, tb);  // an outer product
    }
  }
}

TEST_CASE("gradcheck: batched matmul, broadcasting batch dims", "[autograd][gradcheck][linalg]") {
  std::mt19937 rng(502);
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      check_matmul(rng, {2}, {2}, 2, 3, 2, ta, tb);        // same batch
      check_matmul(rng, {2, 1}, {3}, 2, 2, 3, ta, tb);     // (2, 1) x (3,) -> (2, 3)
      check_matmul(rng, {1, 2}, {3, 1}, 2, 3, 2, ta, tb);  // size 1 on either side
      check_matmul(rng, {}, {2}, 3, 2, 2, ta, tb);         // a 2-D, b batched
      check_matmul(rng, {2}, {}, 2, 3, 2, ta, tb);         // a batched, b 2-D
    }
  }
}

TEST_CASE("gradcheck: matmul with 1-D operands", "[autograd][gradcheck][linalg]") {
  std::mt19937 rng(503);
  const auto mm = [](const agt::Inputs& in) { return md::ops::matmul(in[0], in[1]); };
  agt::check_gradients("vector @ matrix", mm, {agt::uniform(rng, {3}), agt::uniform(rng, {3, 4})});
  agt::check_gradients("matrix @ vector", mm, {agt::uniform(rng, {2, 3}), agt::uniform(rng, {3})});
  agt::check_gradients("vector @ vector", mm, {agt::uniform(rng, {4}), agt::uniform(rng, {4})});
  agt::check_gradients("vector @ batched", mm, {agt::uniform(rng, {3}), agt::uniform(rng, {2, 3, 2})});
  agt::check_gradients("batched @ vector", mm, {agt::uniform(rng, {2, 2, 3}), agt::uniform(rng, {3})});
  // The flags apply to the matrix operand only.
  agt::check_gradients("vector @ matrix^T",
                       [](const agt::Inputs& in) { return md::ops::matmul(in[0], in[1], false, true); },
                       {agt::uniform(rng, {3}), agt::uniform(rng, {4, 3})});
  agt::check_gradients("matrix^T @ vector",
                       [](const agt::Inputs& in) { return md::ops::matmul(in[0], in[1], true, false); },
                       {agt::uniform(rng, {3, 2}), agt::uniform(rng, {3})});
  CHECK(md::ops::matmul(agt::uniform(rng, {4}), agt::uniform(rng, {4})).shape() == md::Shape{});
  CHECK(md::ops::matmul(agt::uniform(rng, {3}), agt::uniform(rng, {2, 3, 2})).shape() == md::Shape{2, 2});
  CHECK(md::ops::matmul(agt::uniform(rng, {2, 2, 3}), agt::uniform(rng, {3})).shape() == md::Shape{2, 2});
}

TEST_CASE("gradcheck: matmul inside an expression, same operand twice", "[autograd][gradcheck][linalg]") {
  std::mt19937 rng(504);
  const md::Tensor a = agt::uniform(rng, {3, 3});
  const md::Tensor w = agt::uniform(rng, {3, 2});
  agt::check_gradients(
      "tanh(a @ a @ w)",
      [](const agt::Inputs& in) { return md::ops::tanh(md::ops::matmul(md::ops::matmul(in[0], in[0]), in[1])); },
      {a, w});
  agt::check_gradients(
      "softmax(tanh(a @ w))",
      [](const agt::Inputs& in) { return md::ops::softmax(md::ops::tanh(md::ops::matmul(in[0], in[1])), -1); }, {a, w});
  agt::check_gradients("a^T @ a (one operand, both flags)",
                       [](const agt::Inputs& in) { return md::ops::matmul(in[0], in[0], true, false); }, {a});
}

TEST_CASE("gradcheck: softmax and log_softmax along several axes", "[autograd][gradcheck][softmax]") {
  std::mt19937 rng(505);
  const md::Tensor x3 = agt::uniform(rng, agt::random_shape(rng, 3, 2, 4));
  for (int64_t axis : {0, 1, 2, -1, -2}) {
    agt::check_gradients("softmax axis " + std::to_string(axis),
                         [axis](const agt::Inputs& in) { return md::ops::softmax(in[0], axis); }, {x3});
    agt::check_gradients("log_softmax axis " + std::to_string(axis),
                         [axis](const agt::Inputs& in) { return md::ops::log_softmax(in[0], axis); }, {x3});
  }
  const md::Tensor v = agt::uniform(rng, {4});
  agt::check_gradients("softmax of a vector", [](const agt::Inputs& in) { return md::ops::softmax(in[0]); }, {v});
  agt::check_gradients("log_softmax of a vector", [](const agt::Inputs& in) { return md::ops::log_softmax(in[0]); },
                       {v});
  const md::Tensor m = agt::uniform(rng, {3, 1});
  agt::check_gradients("softmax over a size-1 axis", [](const agt::Inputs& in) { return md::ops::softmax(in[0], 1); },
                       {m});
  // A cross-entropy-like composition.
  const md::Tensor logits = agt::uniform(rng, {2, 4});
  const md::Tensor labels = md::ops::one_hot(md::Tensor::from_vector({1, 3}, {2}, md::DType::int32), 4);
  agt::check_gradients(
      "cross entropy",
      [labels](const agt::Inputs& in) { return -md::ops::sum(labels * md::ops::log_softmax(in[0], -1), {-1}); },
      {logits});
  agt::check_gradients("softmax(x) * x", [](const agt::Inputs& in) { return md::ops::softmax(in[0], 0) * in[0]; },
                       {logits});
}

TEST_CASE("softmax and log_softmax gradients have the closed forms", "[autograd][softmax]") {
  // For y = softmax(x) and upstream g: dx = y * (g - sum(g * y)). For log_softmax: dx = g - p sum(g).
  const md::Tensor x = md::Tensor::from_vector({0.5f, -1.0f, 2.0f, 0.0f}, {4});
  const md::Tensor g = md::Tensor::from_vector({1.0f, -2.0f, 0.5f, 3.0f}, {4});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  const md::Tensor p = md::ops::softmax(x);
  const md::Tensor lp = md::ops::log_softmax(x);
  const std::vector<float> pv = p.to_vector(), gv = g.to_vector();
  double dot = 0, gsum = 0;
  for (size_t i = 0; i < 4; ++i) {
    dot += static_cast<double>(pv[i]) * gv[i];
    gsum += gv[i];
  }
  std::vector<double> expect_softmax, expect_log;
  for (size_t i = 0; i < 4; ++i) {
    expect_softmax.push_back(pv[i] * (gv[i] - dot));
    expect_log.push_back(gv[i] - pv[i] * gsum);
  }
  agt::check_close(tape.gradient(p, {x}, {g})[0], expect_softmax, 1e-6, "softmax gradient", 1e-5);
  agt::check_close(tape.gradient(lp, {x}, {g})[0], expect_log, 1e-6, "log_softmax gradient", 1e-5);
  // Summing softmax gives the constant 1: its gradient is zero.
  agt::check_close(tape.gradient(p, {x})[0], std::vector<double>(4, 0.0), 1e-6, "d sum(softmax)");
}
