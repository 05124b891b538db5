// What a multi-output op's gradient rule receives for an output that no gradient reached: zeros
// by default, an undefined tensor when the op was recorded with UnreachedOutputGrads::undefined
// (the recurrent ops), and zeros again for the next op a recycled record describes.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

// What the last split_scale rule saw for each of its two outputs' gradients.
struct SeenGrads {
  bool defined[2] = {false, false};
  bool all_zero[2] = {false, false};
};
SeenGrads g_seen;

bool is_all_zero(const md::Tensor& t) {
  for (float v : t.to_vector())
    if (v != 0.0f) return false;
  return true;
}

// Two outputs, {2 x, 3 x}; its rule records what it received and sums the defined gradients.
std::vector<md::Tensor> split_scale(const md::Tensor& x, md::autograd::UnreachedOutputGrads unreached) {
  // Computed by the backend, not by recorded ops: this record is the outputs' only rule.
  std::vector<md::Tensor> y{md::compute::binary(md::compute::BinaryOp::mul, x, 2.0f),
                            md::compute::binary(md::compute::BinaryOp::mul, x, 3.0f)};
  if (md::autograd::should_record(x)) {
    md::autograd::record(
        "split_scale", {x}, y, {},
        [](const md::autograd::BackwardArgs& a) {
          md::Tensor dx;
          for (int o = 0; o < 2; ++o) {
            g_seen.defined[o] = a.grads[o].defined();
            g_seen.all_zero[o] = a.grads[o].defined() && is_all_zero(a.grads[o]);
            if (!a.grads[o].defined()) continue;
            const md::Tensor term = a.grads[o] * (o == 0 ? 2.0f : 3.0f);
            dx = dx.defined() ? dx + term : term;
          }
          return std::vector<md::Tensor>{dx};
        },
        unreached);
  }
  return y;
}

}  // namespace

TEST_CASE("an unreached output's gradient is zeros unless the op accepts an undefined one", "[autograd][tape]") {
  using md::autograd::UnreachedOutputGrads;
  const md::Tensor x = md::Tensor::from_vector({1, -2, 3}, {3});
  for (UnreachedOutputGrads unreached : {UnreachedOutputGrads::zeros, UnreachedOutputGrads::undefined}) {
    const bool zeros = unreached == UnreachedOutputGrads::zeros;
    INFO((zeros ? "zeros (the default)" : "undefined"));
    for (int used = 0; used < 3; ++used) {  // 0: first output only, 1: second only, 2: both
      md::GradientTape tape;
      tape.watch(x);
      const std::vector<md::Tensor> y = split_scale(x, unreached);
      const md::Tensor target = used == 0   ? md::ops::sum(y[0])
                                : used == 1 ? md::ops::sum(y[1])
                                            : md::ops::sum(y[0]) + md::ops::sum(y[1]);
      g_seen = {};
      const md::Tensor dx = tape.gradient(target, {x})[0];
      const double expected = used == 0 ? 2.0 : used == 1 ? 3.0 : 5.0;
      agt::check_close(dx, std::vector<double>{expected, expected, expected}, 0.0, "dx");
      for (int o = 0; o < 2; ++o) {
        const bool reached = used == 2 || used == o;
        INFO("output " << o << (reached ? " reached" : " unreached"));
        CHECK(g_seen.defined[o] == (reached || zeros));
        CHECK(g_seen.all_zero[o] == (!reached && zeros));
      }
    }
  }
}

TEST_CASE("a recycled record does not keep an earlier op's unreached-gradient choice", "[autograd][tape]") {
  using md::autograd::UnreachedOutputGrads;
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  {
    // Records made and dropped with `undefined`: their storage goes back to the free list.
    md::GradientTape tape;
    tape.watch(x);
    const std::vector<md::Tensor> y = split_scale(x, UnreachedOutputGrads::undefined);
    (void)tape.gradient(md::ops::sum(y[0]), {x});
  }
  md::GradientTape tape;
  tape.watch(x);
  const std::vector<md::Tensor> y = split_scale(x, UnreachedOutputGrads::zeros);
  g_seen = {};
  agt::check_close(tape.gradient(md::ops::sum(y[1]), {x})[0], std::vector<double>{3, 3}, 0.0, "dx");
  CHECK(g_seen.defined[0]);
  CHECK(g_seen.all_zero[0]);
}

TEST_CASE("an op accepting undefined gradients still differentiates twice", "[autograd][tape]") {
  // The first output only reaches the target: the rule gets an undefined gradient for the second,
  // while an outer tape records the rule's own ops.
  std::mt19937 rng(703);
  agt::check_gradients(
      "split_scale, first output squared",
      [](const agt::Inputs& in) {
        const std::vector<md::Tensor> y = split_scale(in[0], md::autograd::UnreachedOutputGrads::undefined);
        return md::ops::square(y[0]);
      },
      {agt::uniform(rng, {2, 3})});
}
