// Activation functions: values against closed forms, names, Keras's serialized forms.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <functional>

namespace md = minidl;

TEST_CASE("activation functions compute Keras's formulas", "[layers][activations]") {
  const std::vector<float> xs = {-3.0f, -1.0f, -0.25f, 0.0f, 0.5f, 2.0f, 7.0f};
  const md::Tensor x = md::Tensor::from_vector(xs, {7});
  auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  auto softplus = [](double v) { return std::log1p(std::exp(v)); };
  const std::vector<std::pair<std::string, std::function<double(double)>>> cases = {
      {"linear", [](double v) { return v; }},
      {"relu", [](double v) { return std::max(v, 0.0); }},
      {"relu6", [](double v) { return std::min(std::max(v, 0.0), 6.0); }},
      {"leaky_relu", [](double v) { return v > 0 ? v : 0.2 * v; }},  // negative_slope=0.2
      {"elu", [](double v) { return v > 0 ? v : std::exp(v) - 1.0; }},
      {"selu",
       [](double v) { return 1.0507009873554805 * (v > 0 ? v : 1.6732632423543772 * (std::exp(v) - 1.0)); }},
      {"sigmoid", sigmoid},
      {"hard_sigmoid", [](double v) { return std::min(std::max(v / 6.0 + 0.5, 0.0), 1.0); }},  // relu6(x + 3) / 6
      {"log_sigmoid", [&](double v) { return std::log(sigmoid(v)); }},
      {"tanh", [](double v) { return std::tanh(v); }},
      {"softplus", softplus},
      {"softsign", [](double v) { return v / (std::fabs(v) + 1.0); }},
      {"silu", [&](double v) { return v * sigmoid(v); }},
      {"swish", [&](double v) { return v * sigmoid(v); }},
      {"gelu", [](double v) { return 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))); }},  // approximate=False
      {"mish", [&](double v) { return v * std::tanh(softplus(v)); }},
      {"exponential", [](double v) { return std::exp(v); }},
      {"celu", [](double v) { return v > 0 ? v : std::exp(v) - 1.0; }},  // alpha=1.0
      {"hard_silu", [](double v) { return v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0; }},
      {"hard_swish", [](double v) { return v * std::min(std::max(v + 3.0, 0.0), 6.0) / 6.0; }},
      {"hard_tanh", [](double v) { return std::min(std::max(v, -1.0), 1.0); }},
      {"hard_shrink", [](double v) { return std::fabs(v) > 0.5 ? v : 0.0; }},  // threshold=0.5
      {"soft_shrink", [](double v) { return v > 0.5 ? v - 0.5 : v < -0.5 ? v + 0.5 : 0.0; }},
      {"tanh_shrink", [](double v) { return v - std::tanh(v); }},
      {"squareplus", [](double v) { return (v + std::sqrt(v * v + 4.0)) / 2.0; }},  // b=4
      {"sparse_plus", [](double v) { return v <= -1 ? 0.0 : v >= 1 ? v : (v + 1) * (v + 1) / 4.0; }},
      {"sparse_sigmoid", [](double v) { return v <= -1 ? 0.0 : v >= 1 ? 1.0 : (v + 1) / 2.0; }},
  };
  for (const auto& [name, f] : cases) {
    INFO(name);
    const std::vector<float> y = md::activations::get(name)(x).to_vector();
    REQUIRE(y.size() == xs.size());
    for (size_t i = 0; i < xs.size(); ++i) {
      INFO("x = " << xs[i]);
      CHECK(y[i] == Approx(f(xs[i])).epsilon(1e-5).margin(1e-6));
    }
  }
}

TEST_CASE("softmax and log_softmax act on the last axis", "[layers][activations]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3, 0, 0, 0}, {2, 3});
  const std::vector<float> s = md::activations::get("softmax")(x).to_vector();
  const double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  CHECK(s[0] == Approx(std::exp(1.0) / z));
  CHECK(s[2] == Approx(std::exp(3.0) / z));
  CHECK(s[3] == Approx(1.0 / 3));
  const std::vector<float> ls = md::activations::get("log_softmax")(x).to_vector();
  CHECK(ls[1] == Approx(2.0 - std::log(z)));
}

TEST_CASE("glu gates the first half of the last axis with the second", "[layers][activations]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 0, -1, 3, 4, 5, 6}, {2, 4});
  const std::vector<float> y = md::activations::get("glu")(x).to_vector();
  auto sigmoid = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  REQUIRE(y.size() == 4);
  CHECK(y[0] == Approx(1 * sigmoid(0)));
  CHECK(y[1] == Approx(2 * sigmoid(-1)));
  CHECK(y[2] == Approx(3 * sigmoid(5)));
  CHECK(y[3] == Approx(4 * sigmoid(6)));
  CHECK_THROWS_AS(md::activations::get("glu")(md::Tensor::ones({2, 3})), md::ValueError);
}

TEST_CASE("elu-type activations keep finite gradients for large inputs", "[layers][activations][gradient]") {
  const md::Tensor x = md::Tensor::from_vector({-2.0f, 100.0f, 500.0f}, {3});
  for (const char* name : {"elu", "selu", "celu"}) {
    INFO(name);
    md::GradientTape tape;
    tape.watch(x);
    const md::Tensor g = tape.gradient(md::ops::sum(md::activations::get(name)(x)), {x})[0];
    for (float v : g.to_vector()) CHECK(std::isfinite(v));
  }
}

TEST_CASE("gradients at the kinks are Keras 3.15's (on JAX)", "[layers][activations][gradient]") {
  // Keras 3.15 on JAX (tests/data/keras/activations.h5): relu6 and hard_sigmoid = relu6(x + 3) / 6
  // have zero gradients at their corners (jax.nn.relu6's custom derivative, as TensorFlow's
  // Relu6Grad); leaky_relu keeps x at 0 (slope 1); sparse_sigmoid = 0.5 * jnp.clip(x + 1, 0, 2)
  // has half its slope at +-1, where JAX's max/min split a tie.
  struct Kink {
    const char* name;
    float x;
    float gradient;
  };
  const std::vector<Kink> kinks = {
      {"relu6", 0.0f, 0.0f},           {"relu6", 6.0f, 0.0f},           {"relu6", 3.0f, 1.0f},
      {"hard_sigmoid", -3.0f, 0.0f},   {"hard_sigmoid", 3.0f, 0.0f},    {"hard_sigmoid", 0.0f, 1.0f / 6},
      {"hard_silu", 3.0f, 1.0f},       {"hard_silu", -3.0f, 0.0f},      {"hard_swish", 3.0f, 1.0f},
      {"leaky_relu", 0.0f, 1.0f},      {"leaky_relu", -1.0f, 0.2f},     {"sparse_sigmoid", 1.0f, 0.25f},
      {"sparse_sigmoid", -1.0f, 0.25f}, {"sparse_sigmoid", 0.0f, 0.5f}, {"sparse_sigmoid", 2.0f, 0.0f},
  };
  for (const Kink& k : kinks) {
    INFO(k.name << " at " << k.x);
    const md::Tensor x = md::Tensor::from_vector({k.x}, {1});
    md::GradientTape tape;
    tape.watch(x);
    const md::Tensor g = tape.gradient(md::ops::sum(md::activations::get(k.name)(x)), {x})[0];
    CHECK(g.item() == Approx(k.gradient).margin(1e-7));
  }
}

TEST_CASE("softplus keeps its small values for negative inputs", "[layers][activations]") {
  // log(1 + e^x) for x << 0 is about e^x: oneDNN 2.6's soft_relu gave -1.9e-6 at x = -20 and 0
  // at -15, which mish (x * tanh(softplus(x))) multiplied into a 4e-5 error against Keras.
  const std::vector<float> xs = {-10.0f, -15.0f, -20.0f, -30.0f, -80.0f, 0.5f, 20.0f};
  const md::Tensor x = md::Tensor::from_vector(xs, {7});
  const std::vector<float> softplus = md::ops::softplus(x).to_vector();
  const std::vector<float> mish = md::activations::get("mish")(x).to_vector();
  const std::vector<float> log_sigmoid = md::activations::get("log_sigmoid")(md::ops::negative(x)).to_vector();
  for (size_t i = 0; i < xs.size(); ++i) {
    const double v = xs[i];
    const double expected = v > 0 ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
    INFO("x = " << v);
    CHECK(softplus[i] == Approx(expected).epsilon(1e-6));
    CHECK(mish[i] == Approx(v * std::tanh(expected)).epsilon(1e-6));
    CHECK(log_sigmoid[i] == Approx(-expected).epsilon(1e-6));
  }
}

TEST_CASE("activation names and serialized forms", "[layers][activations][config]") {
  const std::vector<std::string> names = md::activations::names();
  CHECK(std::find(names.begin(), names.end(), "gelu") != names.end());
  CHECK(md::activations::get("swish").name() == "silu");  // Keras's aliases
  CHECK(md::activations::get("hard_swish").name() == "hard_silu");
  CHECK(md::Activation().name() == "linear");
  CHECK(md::activations::serialize(md::Activation("relu")) == "relu");
  CHECK(md::activations::deserialize(nullptr).name() == "linear");
  CHECK(md::activations::deserialize("tanh").name() == "tanh");
  // serialize_keras_object(keras.activations.gelu) in Keras 3.16 (serialize_with_public_fn).
  CHECK(md::activations::deserialize({{"module", "keras.activations"},
                                      {"class_name", "function"},
                                      {"config", "gelu"},
                                      {"registered_name", "gelu"}})
            .name() == "gelu");
  // Keras's internal module path also appears in saved files.
  CHECK(md::activations::deserialize({{"module", "keras.src.activations.activations"},
                                      {"class_name", "function"},
                                      {"config", "relu"},
                                      {"registered_name", nullptr}})
            .name() == "relu");
  CHECK_THROWS_WITH(md::activations::get("bogus"), "Could not interpret activation function identifier: bogus");
  CHECK_THROWS_AS(md::activations::deserialize({{"class_name", "ReLU"}, {"config", md::json::object()}}),
                  md::ValueError);
}
