// Binary elementwise ops with NumPy broadcasting: gradients are summed back to each operand's
// shape. Every op is checked on rank-3 operands with a size-1 axis on each side, lower-rank and
// scalar operands; maximum/minimum draw their operands from interleaved lattices so that no
// pair comes within 0.05 of a tie.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

struct ShapePair {
  agt::Dims a, b;
};

// Broadcasting on each axis of a rank-3 shape `full` (every dim > 1).
std::vector<ShapePair> broadcast_cases(const agt::Dims& full) {
  std::vector<ShapePair> cases = {{full, full}};
  for (size_t axis = 0; axis < 3; ++axis) {
    agt::Dims one = full;
    one[axis] = 1;
    cases.push_back({one, full});  // size 1 on a
    cases.push_back({full, one});  // size 1 on b
  }
  cases.push_back({{full[0], 1, full[2]}, {1, full[1], 1}});  // both broadcast, on different axes
  cases.push_back({full, {full[1], full[2]}});                // lower-rank b
  cases.push_back({full, {full[2]}});
  cases.push_back({{full[1], 1}, full});  // lower-rank a with a size-1 axis
  cases.push_back({full, {}});            // scalar b
  cases.push_back({{}, full});            // scalar a
  return cases;
}

using BinaryFn = md::Tensor (*)(const md::Tensor&, const md::Tensor&);

void check_binary_op(const char* name, BinaryFn op, uint32_t seed, bool positive_b, bool smooth) {
  std::mt19937 rng(seed);
  const agt::Dims full = agt::random_shape(rng, 3, 2, 4);
  for (const ShapePair& shapes : broadcast_cases(full)) {
    const md::Tensor a = agt::uniform(rng, shapes.a, -2.0f, 2.0f);
    const md::Tensor b =
        positive_b ? agt::uniform(rng, shapes.b, 0.5f, 2.0f) : agt::uniform(rng, shapes.b, -2.0f, 2.0f);
    agt::check_gradients(
        name, [op](const agt::Inputs& in) { return op(in[0], in[1]); }, {a, b}, smooth);
  }
}

}  // namespace

TEST_CASE("gradcheck: add broadcasting on each axis", "[autograd][gradcheck][binary]") {
  check_binary_op(
      "add", [](const md::Tensor& a, const md::Tensor& b) { return md::ops::add(a, b); }, 201, false, true);
}

TEST_CASE("gradcheck: subtract broadcasting on each axis", "[autograd][gradcheck][binary]") {
  check_binary_op(
      "subtract", [](const md::Tensor& a, const md::Tensor& b) { return md::ops::subtract(a, b); }, 202, false, true);
}

TEST_CASE("gradcheck: multiply broadcasting on each axis", "[autograd][gradcheck][binary]") {
  check_binary_op(
      "multiply", [](const md::Tensor& a, const md::Tensor& b) { return md::ops::multiply(a, b); }, 203, false, true);
}

TEST_CASE("gradcheck: divide broadcasting on each axis", "[autograd][gradcheck][binary]") {
  check_binary_op(
      "divide", [](const md::Tensor& a, const md::Tensor& b) { return md::ops::divide(a, b); }, 204, true, true);
}

TEST_CASE("gradcheck: maximum and minimum broadcasting on each axis", "[autograd][gradcheck][binary]") {
  std::mt19937 rng(205);
  const agt::Dims full = agt::random_shape(rng, 3, 2, 4);
  for (const ShapePair& shapes : broadcast_cases(full)) {
    // a on multiples of 0.2, b halfway between: |a - b| >= 0.1 everywhere.
    const md::Tensor a = agt::lattice(rng, shapes.a, 0.2f, 0.0f);
    const md::Tensor b = agt::lattice(rng, shapes.b, 0.2f, 0.1f);
    agt::check_gradients("maximum", [](const agt::Inputs& in) { return md::ops::maximum(in[0], in[1]); }, {a, b});
    agt::check_gradients("minimum", [](const agt::Inputs& in) { return md::ops::minimum(in[0], in[1]); }, {a, b});
    // Second order through the selection: the mask is constant, the products around it are not.
    agt::check_gradients("maximum(a, b) * a * b",
                         [](const agt::Inputs& in) { return md::ops::maximum(in[0], in[1]) * in[0] * in[1]; }, {a, b});
    agt::check_gradients("minimum(a, b) * a * b",
                         [](const agt::Inputs& in) { return md::ops::minimum(in[0], in[1]) * in[0] * in[1]; }, {a, b});
  }
}

TEST_CASE("maximum and minimum send tied gradients to a", "[autograd][binary]") {
  const md::Tensor a = md::Tensor::from_vector({1, 2, 3, 4}, {4});
  const md::Tensor b = md::Tensor::from_vector({1, 0, 5, 4}, {4});
  for (bool is_max : {true, false}) {
    INFO((is_max ? "maximum" : "minimum"));
    md::GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    const md::Tensor y = is_max ? md::ops::maximum(a, b) : md::ops::minimum(a, b);
    agt::check_close(y, is_max ? std::vector<double>{1, 2, 5, 4} : std::vector<double>{1, 0, 3, 4}, 0.0, "forward");
    const auto g = tape.gradient(y, {a, b});
    agt::check_close(g[0], is_max ? std::vector<double>{1, 1, 0, 1} : std::vector<double>{1, 0, 1, 1}, 0.0, "d/da");
    agt::check_close(g[1], is_max ? std::vector<double>{0, 0, 1, 0} : std::vector<double>{0, 1, 0, 0}, 0.0, "d/db");
  }
}

TEST_CASE("broadcast gradients are summed back to the operand shapes", "[autograd][binary]") {
  // a (2, 1) + b (3,) -> (2, 3); with a seed of ones each a entry collects 3, each b entry 2.
  const md::Tensor a = md::Tensor::from_vector({1, 2}, {2, 1});
  const md::Tensor b = md::Tensor::from_vector({10, 20, 30}, {3});
  md::GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  const md::Tensor y = a * b;
  REQUIRE(y.shape() == md::Shape{2, 3});
  const auto g = tape.gradient(y, {a, b});
  REQUIRE(g[0].shape() == md::Shape{2, 1});
  REQUIRE(g[1].shape() == md::Shape{3});
  agt::check_close(g[0], std::vector<double>{60, 60}, 1e-5, "d/da = sum(b)");
  agt::check_close(g[1], std::vector<double>{3, 3, 3}, 1e-5, "d/db = sum(a)");
}

TEST_CASE("gradcheck: where broadcasting its condition and branches", "[autograd][gradcheck][binary]") {
  std::mt19937 rng(206);
  const agt::Dims full = agt::random_shape(rng, 3, 2, 4);
  for (const ShapePair& shapes : broadcast_cases(full)) {
    const md::Tensor cond = md::ops::greater(agt::uniform(rng, full, -1.0f, 1.0f), md::Tensor::scalar(0.0f));
    REQUIRE(cond.dtype() == md::DType::bool_);
    const md::Tensor a = agt::uniform(rng, shapes.a);
    const md::Tensor b = agt::uniform(rng, shapes.b);
    agt::check_gradients("where(cond, a, b)",
                         [cond](const agt::Inputs& in) { return md::ops::where(cond, in[0], in[1]); }, {a, b});
    agt::check_gradients(
        "where(cond, a * b, tanh(b))",
        [cond](const agt::Inputs& in) { return md::ops::where(cond, in[0] * in[1], md::ops::tanh(in[1])); }, {a, b});
  }
  // A lower-rank condition broadcasts against the branches.
  const md::Tensor cond = md::Tensor::from_vector({1, 0, 1}, {3}, md::DType::bool_);
  const md::Tensor a = agt::uniform(rng, {2, 3});
  const md::Tensor b = agt::uniform(rng, {2, 1});
  agt::check_gradients("where with a rank-1 condition",
                       [cond](const agt::Inputs& in) { return md::ops::where(cond, in[0], in[1]); }, {a, b});
}

TEST_CASE("where routes the gradient to the chosen branch", "[autograd][binary]") {
  const md::Tensor cond = md::Tensor::from_vector({1, 0, 0, 1}, {4}, md::DType::bool_);
  const md::Tensor a = md::Tensor::from_vector({1, 2, 3, 4}, {4});
  const md::Tensor b = md::Tensor::from_vector({5, 6, 7, 8}, {4});
  md::GradientTape tape;
  tape.watch(a);
  tape.watch(b);
  tape.watch(cond);  // not float: ignored
  const md::Tensor y = md::ops::where(cond, a, b);
  agt::check_close(y, std::vector<double>{1, 6, 7, 4}, 0.0, "forward");
  const auto g = tape.gradient(y, {a, b, cond});
  agt::check_close(g[0], std::vector<double>{1, 0, 0, 1}, 0.0, "d/da");
  agt::check_close(g[1], std::vector<double>{0, 1, 1, 0}, 0.0, "d/db");
  CHECK_FALSE(g[2].defined());
}

TEST_CASE("gradcheck: scalar operators and float overloads", "[autograd][gradcheck][binary]") {
  std::mt19937 rng(207);
  const md::Tensor x = agt::uniform(rng, {2, 3}, 0.5f, 2.0f);
  const std::vector<std::pair<const char*, md::Tensor (*)(const md::Tensor&)>> cases = {
      {"x * 2", [](const md::Tensor& t) { return t * 2.0f; }},
      {"2 * x", [](const md::Tensor& t) { return 2.0f * t; }},
      {"x + 1.5", [](const md::Tensor& t) { return t + 1.5f; }},
      {"1.5 + x", [](const md::Tensor& t) { return 1.5f + t; }},
      {"x - 0.5", [](const md::Tensor& t) { return t - 0.5f; }},
      {"1 - x", [](const md::Tensor& t) { return 1.0f - t; }},
      {"x / 4", [](const md::Tensor& t) { return t / 4.0f; }},
      {"3 / x", [](const md::Tensor& t) { return 3.0f / t; }},
      {"-x", [](const md::Tensor& t) { return -t; }},
      {"x * x + x", [](const md::Tensor& t) { return t * t + t; }},
      {"x / x", [](const md::Tensor& t) { return t / t; }},
      {"x - x * 0.5", [](const md::Tensor& t) { return t - t * 0.5f; }},
      {"ops::add(x, 1)", [](const md::Tensor& t) { return md::ops::add(t, 1.0f); }},
      {"ops::subtract(x, 1)", [](const md::Tensor& t) { return md::ops::subtract(t, 1.0f); }},
      {"ops::multiply(x, -3)", [](const md::Tensor& t) { return md::ops::multiply(t, -3.0f); }},
      {"ops::divide(x, 0.5)", [](const md::Tensor& t) { return md::ops::divide(t, 0.5f); }},
  };
  for (const auto& [name, f] : cases) {
    const auto fn = f;
    agt::check_gradients(name, [fn](const agt::Inputs& in) { return fn(in[0]); }, {x});
  }
}

TEST_CASE("operators compute the same values as the named ops", "[autograd][binary]") {
  const md::Tensor a = md::Tensor::from_vector({1, 2, 3}, {3});
  const md::Tensor b = md::Tensor::from_vector({4, 5, 6}, {3});
  agt::check_close(a + b, std::vector<double>{5, 7, 9}, 0.0, "a + b");
  agt::check_close(a - b, std::vector<double>{-3, -3, -3}, 0.0, "a - b");
  agt::check_close(a * b, std::vector<double>{4, 10, 18}, 0.0, "a * b");
  agt::check_close(b / a, std::vector<double>{4, 2.5, 2}, 1e-6, "b / a");
  agt::check_close(-a, std::vector<double>{-1, -2, -3}, 0.0, "-a");
  agt::check_close(1.0f - a, std::vector<double>{0, -1, -2}, 0.0, "1 - a");
  agt::check_close(6.0f / a, std::vector<double>{6, 3, 2}, 1e-6, "6 / a");
  agt::check_close(a / 2.0f, std::vector<double>{0.5, 1, 1.5}, 1e-6, "a / 2");
}
