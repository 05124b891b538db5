// Shape and indexing ops: their gradients route values back to where they came from. First
// order checks the op itself; second order wraps it as square(op(x)) (or op(x) * op(x)) so that
// the op's backward rule (slice_grad, take_grad, transpose, ...) is itself differentiated.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <functional>
#include <optional>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

// Checks op on x at first order, and square(op(x)) at first and second order.
void check_linear_op(const std::string& name, const std::function<md::Tensor(const md::Tensor&)>& op,
                     const md::Tensor& x) {
  agt::check_gradients(
      name, [op](const agt::Inputs& in) { return op(in[0]); }, {x}, false);
  agt::check_gradients("square of " + name, [op](const agt::Inputs& in) { return md::ops::square(op(in[0])); }, {x});
}

}  // namespace

TEST_CASE("gradcheck: transpose and swapaxes", "[autograd][gradcheck][shape]") {
  std::mt19937 rng(401);
  const md::Tensor x = agt::uniform(rng, agt::random_shape(rng, 3, 2, 4));
  const std::vector<std::vector<int64_t>> perms = {{}, {0, 1, 2}, {2, 0, 1}, {1, 2, 0}, {0, 2, 1}, {-1, 0, -2}};
  for (const auto& perm : perms) {
    check_linear_op(
        "transpose", [perm](const md::Tensor& t) { return md::ops::transpose(t, perm); }, x);
  }
  check_linear_op(
      "swapaxes(0, 2)", [](const md::Tensor& t) { return md::ops::swapaxes(t, 0, 2); }, x);
  check_linear_op(
      "swapaxes(-1, 1)", [](const md::Tensor& t) { return md::ops::swapaxes(t, -1, 1); }, x);
  const md::Tensor m = agt::uniform(rng, {2, 3});
  check_linear_op(
      "transpose of a matrix", [](const md::Tensor& t) { return md::ops::transpose(t); }, m);
}

TEST_CASE("gradcheck: reshape, expand_dims and squeeze", "[autograd][gradcheck][shape]") {
  std::mt19937 rng(402);
  const md::Tensor x = agt::uniform(rng, {2, 3, 2});
  check_linear_op(
      "reshape(6, 2)",
      [](const md::Tensor& t) {
        return md::ops::reshape(t, {6, 2});
      },
      x);
  check_linear_op(
      "reshape(-1)", [](const md::Tensor& t) { return md::ops::reshape(t, {-1}); }, x);
  check_linear_op(
      "reshape(2, -1, 3)",
      [](const md::Tensor& t) {
        return md::ops::reshape(t, {2, -1, 3});
      },
      x);
  for (int64_t axis : {0, 1, 3, -1, -4}) {
    check_linear_op(
        "expand_dims(" + std::to_string(axis) + ")",
        [axis](const md::Tensor& t) { return md::ops::expand_dims(t, axis); }, x);
  }
  const md::Tensor y = agt::uniform(rng, {1, 3, 1, 2});
  check_linear_op(
      "squeeze()", [](const md::Tensor& t) { return md::ops::squeeze(t); }, y);
  check_linear_op(
      "squeeze(2)", [](const md::Tensor& t) { return md::ops::squeeze(t, 2); }, y);
  check_linear_op(
      "squeeze(-4)", [](const md::Tensor& t) { return md::ops::squeeze(t, -4); }, y);
  CHECK(md::ops::squeeze(y).shape() == md::Shape{3, 2});
  CHECK(md::ops::squeeze(y, 2).shape() == md::Shape{1, 3, 2});
  CHECK(md::ops::expand_dims(x, -1).shape() == md::Shape{2, 3, 2, 1});
}

TEST_CASE("gradcheck: broadcast_to and sum_to", "[autograd][gradcheck][shape]") {
  std::mt19937 rng(403);
  const std::vector<std::pair<agt::Dims, agt::Dims>> cases = {
      {{3, 1}, {2, 3, 4}}, {{4}, {2, 3, 4}}, {{}, {2, 3}}, {{2, 1, 4}, {2, 3, 4}}, {{1, 1}, {3, 2}}, {{2, 3}, {2, 3}}};
  for (const auto& [small, big] : cases) {
    const md::Shape to = big, from = small;
    check_linear_op(
        "broadcast_to " + agt::str(big), [to](const md::Tensor& t) { return md::ops::broadcast_to(t, to); },
        agt::uniform(rng, small));
    check_linear_op(
        "sum_to " + agt::str(small), [from](const md::Tensor& t) { return md::ops::sum_to(t, from); },
        agt::uniform(rng, big));
  }
}

TEST_CASE("gradcheck: concatenate and stack", "[autograd][gradcheck][shape]") {
  std::mt19937 rng(404);
  const md::Tensor a = agt::uniform(rng, {2, 1, 3});
  const md::Tensor b = agt::uniform(rng, {2, 3, 3});
  const md::Tensor c = agt::uniform(rng, {2, 2, 3});
  agt::check_gradients(
      "concatenate axis 1",
      [](const agt::Inputs& in) {
        return md::ops::concatenate({in[0], in[1], in[2]}, 1);
      },
      {a, b, c}, false);
  agt::check_gradients("square of concatenate axis -2",
                       [](const agt::Inputs& in) {
                         return md::ops::square(md::ops::concatenate({in[0], in[1], in[2]}, -2));
                       },
                       {a, b, c});
  const md::Tensor d = agt::uniform(rng, {1, 2, 3});
  const md::Tensor e = agt::uniform(rng, {3, 2, 3});
  agt::check_gradients("concatenate axis 0",
                       [](const agt::Inputs& in) {
                         return md::ops::concatenate({in[0], in[1]}, 0) * 2.0f;
                       },
                       {d, e});
  const md::Tensor f = agt::uniform(rng, {2, 3, 2});
  const md::Tensor g = agt::uniform(rng, {2, 3, 1});
  agt::check_gradients("concatenate axis -1 of a tensor with itself",
                       [](const agt::Inputs& in) {
                         return md::ops::square(md::ops::concatenate({in[0], in[1], in[0]}, -1));
                       },
                       {f, g});
  for (int64_t axis : {0, 1, 2, 3, -1}) {
    agt::check_gradients("stack axis " + std::to_string(axis),
                         [axis](const agt::Inputs& in) {
                           return md::ops::square(md::ops::stack({in[0], in[1], in[2]}, axis));
                         },
                         {agt::uniform(rng, {2, 3, 2}), agt::uniform(rng, {2, 3, 2}), agt::uniform(rng, {2, 3, 2})});
  }
  CHECK(md::ops::stack({a, a}, 1).shape() == md::Shape{2, 2, 1, 3});
  CHECK(md::ops::concatenate({a, b, c}, 1).shape() == md::Shape{2, 6, 3});
}

TEST_CASE("gradcheck: slice with steps and negative bounds", "[autograd][gradcheck][shape]") {
  std::mt19937 rng(405);
  const md::Tensor x = agt::uniform(rng, {3, 7, 2});
  struct S {
    int64_t axis;
    std::optional<int64_t> start, stop;
    int64_t step;
  };
  const std::vector<S> slices = {{1, 1, 5, 1},
                                 {1, 0, std::nullopt, 2},
                                 {1, -5, -1, 2},
                                 {-2, std::nullopt, -2, 3},
                                 {0, -2, 100, 1},
                                 {1, -100, 3, 1},
                                 {2, 1, std::nullopt, 1},
                                 {1, 6, std::nullopt, 4},
                                 {1, 2, 3, 5},
                                 {0, std::nullopt, std::nullopt, 2}};
  for (const S& s : slices) {
    const std::string name = "slice axis " + std::to_string(s.axis) + " [" + (s.start ? std::to_string(*s.start) : "") +
                             ":" + (s.stop ? std::to_string(*s.stop) : "") + ":" + std::to_string(s.step) + "]";
    check_linear_op(
        name, [s](const md::Tensor& t) { return md::ops::slice(t, s.axis, s.start, s.stop, s.step); }, x);
  }
  // Values: x[1:6:2] along a 1-D axis of 0..6 is 1, 3, 5, and the gradient marks those entries.
  const md::Tensor r = md::Tensor::arange(7);
  md::GradientTape tape;
  tape.watch(r);
  const md::Tensor y = md::ops::slice(r, 0, -6, std::nullopt, 2);
  agt::check_close(y, std::vector<double>{1, 3, 5}, 0.0, "r[-6::2]");
  agt::check_close(tape.gradient(y, {r})[0], std::vector<double>{0, 1, 0, 1, 0, 1, 0}, 0.0, "d r[-6::2]");
}

TEST_CASE("slice to an empty range gives a zero gradient", "[autograd][shape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3, 4}, {4});
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = md::ops::slice(x, 0, 3, 1);
  REQUIRE(y.shape() == md::Shape{0});
  const md::Tensor loss = md::ops::sum(y);
  CHECK(loss.item() == 0.0f);
  agt::check_close(tape.gradient(loss, {x})[0], std::vector<double>{0, 0, 0, 0}, 0.0, "gradient");
}

TEST_CASE("gradcheck: index along axis 0", "[autograd][gradcheck][shape]") {
  std::mt19937 rng(406);
  const md::Tensor x = agt::uniform(rng, {3, 2, 2});
  for (int64_t i : {0, 2, -1, -3}) {
    check_linear_op(
        "index " + std::to_string(i), [i](const md::Tensor& t) { return md::ops::index(t, i); }, x);
  }
  CHECK(md::ops::index(x, -1).shape() == md::Shape{2, 2});
  const md::Tensor v = md::Tensor::from_vector({5, 6, 7}, {3});
  CHECK(md::ops::index(v, -1).shape() == md::Shape{});
  CHECK(md::ops::index(v, -1).item() == 7.0f);
}

TEST_CASE("gradcheck: take with repeated and negative indices", "[autograd][gradcheck][shape]") {
  std::mt19937 rng(407);
  const md::Tensor x = agt::uniform(rng, {4, 3, 2});
  const md::Tensor flat = md::Tensor::from_vector({1, 1, -1, 0, 1}, {5}, md::DType::int32);
  // Valid on every axis (sizes 4, 3, 2): indices in [-2, 1].
  const md::Tensor grid = md::Tensor::from_vector({0, -1, 1, 1}, {2, 2}, md::DType::int32);
  const md::Tensor float_idx = md::Tensor::from_vector({1, -2, 0}, {3});  // float32 integers are accepted too
  for (int64_t axis : {0, 1, -1}) {
    for (const md::Tensor& idx : {flat, grid, float_idx}) {
      check_linear_op(
          "take axis " + std::to_string(axis) + " indices " + agt::str(idx.shape()),
          [idx, axis](const md::Tensor& t) { return md::ops::take(t, idx, axis); }, x);
    }
  }
}

TEST_CASE("take's gradient scatters back, adding repeated indices", "[autograd][shape]") {
  const md::Tensor x = md::Tensor::from_vector({10, 20, 30, 40}, {4});
  const md::Tensor idx = md::Tensor::from_vector({1, 1, -1, 0, 1}, {5}, md::DType::int32);
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = md::ops::take(x, idx);
  agt::check_close(y, std::vector<double>{20, 20, 40, 10, 20}, 0.0, "take forward");
  const md::Tensor upstream = md::Tensor::from_vector({1, 2, 3, 4, 5}, {5});
  const auto g = tape.gradient(y, {x, idx}, {upstream});
  agt::check_close(g[0], std::vector<double>{4, 1 + 2 + 5, 0, 3}, 0.0, "scatter-add");
  CHECK_FALSE(g[1].defined());  // integer indices get no gradient

  // Along axis 1 of a matrix, with a 2-D index tensor.
  const md::Tensor m = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const md::Tensor grid = md::Tensor::from_vector({2, 2, 0, -1}, {2, 2}, md::DType::int32);
  md::GradientTape tape2;
  tape2.watch(m);
  const md::Tensor z = md::ops::take(m, grid, 1);
  REQUIRE(z.shape() == md::Shape{2, 2, 2});
  agt::check_close(z, std::vector<double>{3, 3, 1, 3, 6, 6, 4, 6}, 0.0, "take axis 1 forward");
  agt::check_close(tape2.gradient(z, {m})[0], std::vector<double>{1, 0, 3, 1, 0, 3}, 0.0, "take axis 1 gradient");
}
