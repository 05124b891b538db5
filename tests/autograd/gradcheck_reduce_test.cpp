// Reductions: sum, mean, max, min over several axis sets, keepdims both ways. max/min inputs
// are pairwise distinct (spacing 0.1) so that finite differences never reach a tie; ties get
// their own exact test (the gradient is shared equally, as TensorFlow's reduce_max).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

using ReduceFn = md::Tensor (*)(const md::Tensor&, const std::vector<int64_t>&, bool);

struct Reduction {
  const char* name;
  ReduceFn fn;
  bool needs_distinct;
};

const std::vector<Reduction>& reductions() {
  static const std::vector<Reduction> all = {
      {"sum", [](const md::Tensor& x, const std::vector<int64_t>& a, bool k) { return md::ops::sum(x, a, k); }, false},
      {"mean", [](const md::Tensor& x, const std::vector<int64_t>& a, bool k) { return md::ops::mean(x, a, k); },
       false},
      {"max", [](const md::Tensor& x, const std::vector<int64_t>& a, bool k) { return md::ops::max(x, a, k); }, true},
      {"min", [](const md::Tensor& x, const std::vector<int64_t>& a, bool k) { return md::ops::min(x, a, k); }, true},
  };
  return all;
}

std::string axes_str(const std::vector<int64_t>& axes) {
  std::string s = "{";
  for (size_t i = 0; i < axes.size(); ++i) s += (i ? ", " : "") + std::to_string(axes[i]);
  return s + "}";
}

}  // namespace

TEST_CASE("gradcheck: sum/mean/max/min over axis sets of a rank-3 tensor", "[autograd][gradcheck][reduce]") {
  const std::vector<std::vector<int64_t>> axis_sets = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {1, 2}, {-3, -2}, {0, 1, 2}};
  std::mt19937 rng(301);
  const agt::Dims shape = agt::random_shape(rng, 3, 2, 3);
  for (const Reduction& r : reductions()) {
    for (const auto& axes : axis_sets) {
      for (bool keepdims : {false, true}) {
        const md::Tensor x = r.needs_distinct ? agt::distinct(rng, shape) : agt::uniform(rng, shape);
        const ReduceFn f = r.fn;
        const std::string name = std::string(r.name) + " axes " + axes_str(axes) + (keepdims ? " keepdims" : "");
        // First order of the reduction itself; second order through square(), which makes the
        // reduction's backward (reshape + broadcast_to) part of what the outer tape differentiates.
        agt::check_gradients(
            name, [f, axes, keepdims](const agt::Inputs& in) { return f(in[0], axes, keepdims); }, {x}, false);
        agt::check_gradients(
            "square of " + name,
            [f, axes, keepdims](const agt::Inputs& in) { return md::ops::square(f(in[0], axes, keepdims)); }, {x});
      }
    }
  }
}

TEST_CASE("gradcheck: reductions of rank-0, rank-1 and rank-2 tensors", "[autograd][gradcheck][reduce]") {
  std::mt19937 rng(302);
  for (const Reduction& r : reductions()) {
    const ReduceFn f = r.fn;
    const md::Tensor s = agt::uniform(rng, {});
    agt::check_gradients(std::string(r.name) + " of a scalar",
                         [f](const agt::Inputs& in) { return md::ops::square(f(in[0], {}, false)); }, {s});
    const md::Tensor v = agt::distinct(rng, {4});
    agt::check_gradients(std::string(r.name) + " of a vector",
                         [f](const agt::Inputs& in) { return md::ops::square(f(in[0], {0}, true)); }, {v});
    const md::Tensor m = agt::distinct(rng, {3, 4});
    agt::check_gradients(std::string(r.name) + " of a matrix along -1",
                         [f](const agt::Inputs& in) { return md::ops::tanh(f(in[0], {-1}, false)); }, {m});
  }
}

TEST_CASE("sum and mean gradients are ones and 1/n", "[autograd][reduce]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  const md::Tensor s = md::ops::sum(x, {1});
  const md::Tensor m = md::ops::mean(x, {0}, /*keepdims=*/true);
  const md::Tensor all = md::ops::mean(x);
  REQUIRE(s.shape() == md::Shape{2});
  REQUIRE(m.shape() == md::Shape{1, 3});
  REQUIRE(all.shape() == md::Shape{});
  agt::check_close(s, std::vector<double>{6, 15}, 1e-6, "sum forward");
  agt::check_close(m, std::vector<double>{2.5, 3.5, 4.5}, 1e-6, "mean forward");
  agt::check_close(tape.gradient(s, {x})[0], std::vector<double>(6, 1.0), 0.0, "d sum");
  agt::check_close(tape.gradient(m, {x})[0], std::vector<double>(6, 0.5), 1e-7, "d mean axis 0");
  agt::check_close(tape.gradient(all, {x})[0], std::vector<double>(6, 1.0 / 6), 1e-7, "d mean all");
}

TEST_CASE("max and min share the gradient equally between ties", "[autograd][reduce]") {
  const md::Tensor x = md::Tensor::from_vector({1, 3, 3, 2,  //
                                                5, 5, 5, 0},
                                               {2, 4});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  const md::Tensor mx = md::ops::max(x, {1});
  const md::Tensor mn = md::ops::min(x, {0}, /*keepdims=*/true);
  const md::Tensor mx_all = md::ops::max(x);
  agt::check_close(mx, std::vector<double>{3, 5}, 0.0, "max forward");
  agt::check_close(mn, std::vector<double>{1, 3, 3, 0}, 0.0, "min forward");
  agt::check_close(tape.gradient(mx, {x})[0], std::vector<double>{0, 0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0}, 1e-6,
                   "d max axis 1");
  agt::check_close(tape.gradient(mn, {x})[0], std::vector<double>{1, 1, 1, 0, 0, 0, 0, 1}, 1e-6, "d min axis 0");
  agt::check_close(tape.gradient(mx_all, {x})[0], std::vector<double>{0, 0, 0, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3, 0}, 1e-6,
                   "d max over all axes");
}
