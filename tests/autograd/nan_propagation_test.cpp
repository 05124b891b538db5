// NaN and infinity through the ops, as NumPy, PyTorch and TensorFlow treat them: a NaN input
// gives a NaN output (relu(NaN) is NaN, not 0; max over a row holding a NaN is NaN; a softmax
// row holding a NaN is all NaN), and infinities give IEEE arithmetic's results. Each op runs at
// a small size (our own loops) and at 40,000 elements (oneDNN's primitives, several threads),
// since the two paths differ in how they treat NaN.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace md = minidl;

namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// The five probe values, repeated to `n` elements.
md::Tensor probes(int64_t n) {
  const std::vector<float> base = {kNaN, kInf, -kInf, 0.75f, -2.5f};
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = base[i % base.size()];
  return md::Tensor::from_vector(v, {n});
}

// Equal as IEEE values, with every NaN equal to every other NaN.
bool same_value(float got, float want) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= 1e-5f * std::max(1.0f, std::fabs(want));
}

// y = op(probes) must hold f(probe) at every position, for f given on the five probes.
void check_elementwise(const std::string& name, const std::function<md::Tensor(const md::Tensor&)>& op,
                       const std::vector<float>& expected) {
  for (const int64_t n : {int64_t{5}, int64_t{40000}}) {
    const std::vector<float> y = op(probes(n)).to_vector();
    REQUIRE(y.size() == static_cast<size_t>(n));
    for (size_t i = 0; i < y.size(); ++i) {
      const float want = expected[i % expected.size()];
      INFO(name << " at n=" << n << ", element " << i << ": got " << y[i] << ", expected " << want);
      REQUIRE(same_value(y[i], want));
      if (i >= 9) break;  // the first two periods and
    }
    for (size_t i = y.size() - 5; i < y.size(); ++i) {  // the last one (another thread's chunk)
      const float want = expected[i % expected.size()];
      INFO(name << " at n=" << n << ", element " << i << ": got " << y[i] << ", expected " << want);
      REQUIRE(same_value(y[i], want));
    }
  }
}

}  // namespace

TEST_CASE("unary ops carry NaN through and follow IEEE rules at infinity", "[autograd][nan]") {
  // Inputs: NaN, +inf, -inf, 0.75, -2.5.
  const float e = std::exp(0.75f), tanh75 = std::tanh(0.75f);
  check_elementwise("relu", [](const md::Tensor& x) { return md::ops::relu(x); }, {kNaN, kInf, 0, 0.75f, 0});
  check_elementwise("exp", [](const md::Tensor& x) { return md::ops::exp(x); },
                    {kNaN, kInf, 0, e, std::exp(-2.5f)});
  check_elementwise("tanh", [](const md::Tensor& x) { return md::ops::tanh(x); },
                    {kNaN, 1, -1, tanh75, std::tanh(-2.5f)});
  check_elementwise("sigmoid", [](const md::Tensor& x) { return md::ops::sigmoid(x); },
                    {kNaN, 1, 0, 1 / (1 + std::exp(-0.75f)), 1 / (1 + std::exp(2.5f))});
  check_elementwise("softplus", [](const md::Tensor& x) { return md::ops::softplus(x); },
                    {kNaN, kInf, 0, std::log1p(e), std::log1p(std::exp(-2.5f))});
  check_elementwise("abs", [](const md::Tensor& x) { return md::ops::abs(x); }, {kNaN, kInf, kInf, 0.75f, 2.5f});
  check_elementwise("negative", [](const md::Tensor& x) { return md::ops::negative(x); },
                    {kNaN, -kInf, kInf, -0.75f, 2.5f});
  check_elementwise("square", [](const md::Tensor& x) { return md::ops::square(x); },
                    {kNaN, kInf, kInf, 0.5625f, 6.25f});
  check_elementwise("sqrt", [](const md::Tensor& x) { return md::ops::sqrt(x); },
                    {kNaN, kInf, kNaN, std::sqrt(0.75f), kNaN});
  check_elementwise("log", [](const md::Tensor& x) { return md::ops::log(x); },
                    {kNaN, kInf, kNaN, std::log(0.75f), kNaN});
  // gelu(-inf) = 0.5 * -inf * (1 + erf(-inf)) = -inf * 0: NaN in TensorFlow's and PyTorch's formula.
  check_elementwise("gelu", [](const md::Tensor& x) { return md::ops::gelu(x, /*approximate=*/false); },
                    {kNaN, kInf, kNaN, 0.5f * 0.75f * (1 + std::erf(0.75f / std::sqrt(2.0f))),
                     0.5f * -2.5f * (1 + std::erf(-2.5f / std::sqrt(2.0f)))});
  check_elementwise("clip", [](const md::Tensor& x) { return md::ops::clip(x, -1.0f, 0.5f); },
                    {kNaN, 0.5f, -1.0f, 0.5f, -1.0f});
  check_elementwise("power 2", [](const md::Tensor& x) { return md::ops::power(x, 2.0f); },
                    {kNaN, kInf, kInf, 0.5625f, 6.25f});
}

TEST_CASE("the gradients of relu, square and negative follow IEEE rules on every path", "[autograd][nan]") {
  // Inputs: NaN, +inf, -inf, 0.75, -2.5; d sum(f(x)) / dx. relu's gradient is 1 where x > 0 and 0
  // elsewhere, NaN included (PyTorch's threshold_backward); square's 2x carries NaN and inf.
  for (const int64_t n : {int64_t{5}, int64_t{40000}}) {
    const md::Tensor x = probes(n);
    const auto gradient = [&](const std::function<md::Tensor(const md::Tensor&)>& f) {
      md::GradientTape tape;
      tape.watch(x);
      return tape.gradient(md::ops::sum(f(x)), {x})[0].to_vector();
    };
    const std::vector<float> relu = gradient([](const md::Tensor& t) { return md::ops::relu(t); });
    const std::vector<float> square = gradient([](const md::Tensor& t) { return md::ops::square(t); });
    const std::vector<float> negative = gradient([](const md::Tensor& t) { return md::ops::negative(t); });
    const std::vector<float> relu_want = {0, 1, 0, 1, 0}, square_want = {kNaN, kInf, -kInf, 1.5f, -5.0f};
    for (const size_t i : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{4}, static_cast<size_t>(n - 1)}) {
      INFO("n = " << n << ", element " << i);
      CHECK(same_value(relu[i], relu_want[i % 5]));
      CHECK(same_value(square[i], square_want[i % 5]));
      CHECK(negative[i] == -1.0f);
    }
  }
}

TEST_CASE("small and large sums and means agree with a double-precision sum", "[autograd][nan]") {
  // Rows of up to 4096 elements in all run in minidl's loop (eight partial sums plus a tail),
  // larger ones in oneDNN's kernel: both within float rounding of the exact sum.
  for (const auto& [rows, length] : {std::pair<int64_t, int64_t>{3, 13}, {8, 512}, {4, 20000}}) {
    std::vector<float> v(static_cast<size_t>(rows * length));
    for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>((i * 7919) % 1000) / 500.0f - 1.0f;
    const md::Tensor x = md::Tensor::from_vector(v, {rows, length});
    const std::vector<float> sums = md::ops::sum(x, {1}).to_vector();
    const std::vector<float> means = md::ops::mean(x, {1}).to_vector();
    for (int64_t r = 0; r < rows; ++r) {
      double exact = 0;
      for (int64_t j = 0; j < length; ++j) exact += v[static_cast<size_t>(r * length + j)];
      INFO("(" << rows << ", " << length << ") row " << r);
      CHECK(std::fabs(sums[static_cast<size_t>(r)] - exact) <= 1e-5 * (1 + std::fabs(exact)) * std::sqrt(length));
      CHECK(std::fabs(means[static_cast<size_t>(r)] - exact / static_cast<double>(length)) <= 1e-5);
    }
  }
  // A NaN anywhere in a small row, the tail included, makes its sum NaN.
  std::vector<float> v(13, 1.0f);
  v[12] = kNaN;
  CHECK(std::isnan(md::ops::sum(md::Tensor::from_vector(v, {13})).item()));
}

TEST_CASE("maximum and minimum return NaN where either operand is NaN", "[autograd][nan]") {
  const md::Tensor zero = md::Tensor::scalar(0.0f);
  // Inputs: NaN, +inf, -inf, 0.75, -2.5, each side of the operator and broadcast both ways.
  check_elementwise("maximum(x, 0)", [&](const md::Tensor& x) { return md::ops::maximum(x, zero); },
                    {kNaN, kInf, 0, 0.75f, 0});
  check_elementwise("maximum(0, x)", [&](const md::Tensor& x) { return md::ops::maximum(zero, x); },
                    {kNaN, kInf, 0, 0.75f, 0});
  check_elementwise("minimum(x, 0)", [&](const md::Tensor& x) { return md::ops::minimum(x, zero); },
                    {kNaN, 0, -kInf, 0, -2.5f});
  check_elementwise("minimum(0, x)", [&](const md::Tensor& x) { return md::ops::minimum(zero, x); },
                    {kNaN, 0, -kInf, 0, -2.5f});
  check_elementwise("maximum(x, x)", [&](const md::Tensor& x) { return md::ops::maximum(x, x); },
                    {kNaN, kInf, -kInf, 0.75f, -2.5f});
  // A NaN in the other operand, as a full tensor of the same shape.
  check_elementwise("maximum(1, NaN everywhere)",
                    [&](const md::Tensor& x) { return md::ops::maximum(md::ops::abs(x) * 0.0f + 1.0f,
                                                                      md::Tensor::full(x.shape(), kNaN)); },
                    {kNaN, kNaN, kNaN, kNaN, kNaN});
}

TEST_CASE("max and min reductions over a NaN give NaN on every path", "[autograd][nan]") {
  for (const int64_t n : {int64_t{3}, int64_t{40000}}) {
    std::vector<float> v(static_cast<size_t>(n), 1.0f);
    v[1] = kNaN;
    v[2] = 3.0f;
    const md::Tensor x = md::Tensor::from_vector(v, {n});
    INFO("n = " << n);
    CHECK(std::isnan(md::ops::max(x).item()));
    CHECK(std::isnan(md::ops::min(x).item()));
    // A NaN in one row leaves the other rows alone: the innermost axis, then a middle one.
    const md::Tensor rows = md::ops::reshape(md::ops::concatenate({x, md::Tensor::full({n}, 2.0f)}, 0), {2, n});
    const std::vector<float> row_max = md::ops::max(rows, {1}).to_vector();
    CHECK(std::isnan(row_max[0]));
    CHECK(row_max[1] == 2.0f);
    const std::vector<float> column_min = md::ops::min(md::ops::reshape(rows, {2, n, 1}), {0, 2}).to_vector();
    CHECK(std::isnan(column_min[1]));
    CHECK(column_min[0] == 1.0f);
    CHECK(column_min[2] == 2.0f);
  }
  // Infinities are ordinary values.
  const md::Tensor inf = md::Tensor::from_vector({-kInf, 1.0f, kInf}, {3});
  CHECK(md::ops::max(inf).item() == kInf);
  CHECK(md::ops::min(inf).item() == -kInf);
}

TEST_CASE("softmax and log_softmax rows holding a NaN are all NaN; other rows are untouched", "[autograd][nan]") {
  for (const int64_t width : {int64_t{4}, int64_t{20000}}) {
    std::vector<float> v(static_cast<size_t>(3 * width), 0.5f);
    v[2] = kNaN;                       // row 0: a NaN
    v[static_cast<size_t>(width)] = -kInf;  // row 1: -inf, which softmax maps to 0
    for (const bool log : {false, true}) {
      const md::Tensor x = md::Tensor::from_vector(v, {3, width});
      INFO((log ? "log_softmax" : "softmax") << ", width " << width);
      const std::vector<float> y = (log ? md::ops::log_softmax(x) : md::ops::softmax(x)).to_vector();
      for (int64_t j = 0; j < width; ++j) REQUIRE(std::isnan(y[static_cast<size_t>(j)]));
      const float rest = 1.0f / static_cast<float>(width - 1);
      CHECK(y[static_cast<size_t>(width)] == (log ? -kInf : 0.0f));
      CHECK(same_value(y[static_cast<size_t>(width + 1)], log ? std::log(rest) : rest));
      CHECK(same_value(y[static_cast<size_t>(2 * width)], log ? std::log(1.0f / width) : 1.0f / width));
      // The same along a non-innermost axis (our own loop).
      const std::vector<float> t = (log ? md::ops::log_softmax(md::ops::transpose(x), 0)
                                        : md::ops::softmax(md::ops::transpose(x), 0))
                                       .to_vector();
      CHECK(std::isnan(t[0]));
      CHECK(std::isnan(t[3 * static_cast<size_t>(width - 1)]));
      CHECK(same_value(t[2], log ? std::log(1.0f / width) : 1.0f / width));
    }
  }
}
