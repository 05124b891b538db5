// Every activation carries NaN through and gives IEEE arithmetic's value of Keras's formula at
// ±infinity (the values TensorFlow and PyTorch compute with the same formula: x * sigmoid(x) at
// -inf is -inf * 0 = NaN, not the limit 0).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <map>
#include <string>
#include <vector>

namespace md = minidl;

namespace {
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

bool same_value(float got, float want) {
  if (std::isnan(want)) return std::isnan(got);
  if (std::isinf(want)) return got == want;
  return std::fabs(got - want) <= 1e-5f * std::max(1.0f, std::fabs(want));
}
}  // namespace

TEST_CASE("every activation maps NaN to NaN and infinities to its formula's IEEE value", "[layers][activations][nan]") {
  // name -> (f(+inf), f(-inf)).
  const float selu_floor = -1.0507009873554805f * 1.6732632423543772f;
  const std::map<std::string, std::pair<float, float>> at_infinity = {
      {"linear", {kInf, -kInf}},       {"relu", {kInf, 0}},           {"relu6", {6, 0}},
      {"leaky_relu", {kInf, -kInf}},   {"elu", {kInf, -1}},           {"selu", {kInf, selu_floor}},
      {"celu", {kInf, -1}},            {"sigmoid", {1, 0}},           {"hard_sigmoid", {1, 0}},
      {"log_sigmoid", {0, -kInf}},     {"sparse_sigmoid", {1, 0}},    {"tanh", {1, -1}},
      {"hard_tanh", {1, -1}},          {"tanh_shrink", {kInf, -kInf}}, {"hard_shrink", {kInf, -kInf}},
      {"soft_shrink", {kInf, -kInf}},  {"softplus", {kInf, 0}},       {"softsign", {kNaN, kNaN}},  // inf / inf
      {"sparse_plus", {kInf, 0}},      {"squareplus", {kInf, kNaN}},  // (-inf + inf) / 2
      {"silu", {kInf, kNaN}},          {"swish", {kInf, kNaN}},       {"gelu", {kInf, kNaN}},
      {"mish", {kInf, kNaN}},          {"exponential", {kInf, 0}},    {"hard_silu", {kInf, kNaN}},
      {"hard_swish", {kInf, kNaN}},
  };
  const md::Tensor x = md::Tensor::from_vector({kNaN, kInf, -kInf, 0.25f}, {4, 1});
  for (const std::string& name : md::activations::names()) {
    if (name == "softmax" || name == "log_softmax" || name == "glu") continue;  // across an axis: below
    INFO("activation " << name);
    REQUIRE(at_infinity.count(name) == 1);  // a new activation needs its row above
    const std::vector<float> y = md::activations::get(name)(x).to_vector();
    CHECK(std::isnan(y[0]));
    CHECK(same_value(y[1], at_infinity.at(name).first));
    CHECK(same_value(y[2], at_infinity.at(name).second));
    CHECK(std::isfinite(y[3]));
  }
}

TEST_CASE("softmax, log_softmax and glu activations carry a NaN across their axis", "[layers][activations][nan]") {
  const md::Tensor x = md::Tensor::from_vector({kNaN, 1, 2, 3, 0.5f, 1, 2, 3}, {2, 4});
  for (const char* name : {"softmax", "log_softmax"}) {
    INFO(name);
    const std::vector<float> y = md::activations::get(name)(x).to_vector();
    for (int j = 0; j < 4; ++j) CHECK(std::isnan(y[j]));
    for (int j = 4; j < 8; ++j) CHECK(std::isfinite(y[j]));
  }
  // glu: a * sigmoid(b) for the halves (a, b) of the last axis.
  const std::vector<float> g = md::activations::get("glu")(x).to_vector();
  CHECK(std::isnan(g[0]));
  CHECK(same_value(g[1], 1.0f / (1.0f + std::exp(-3.0f))));
  const std::vector<float> gb = md::activations::get("glu")(md::Tensor::from_vector({1, kNaN}, {1, 2})).to_vector();
  CHECK(std::isnan(gb[0]));
}
