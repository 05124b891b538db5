// Initializers: Keras's names and configs, fan computations, distributions, seeded determinism.
#include <minidl/minidl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <numeric>

namespace md = minidl;

namespace {

struct Stats {
  double min, max, mean, stddev;
};

Stats stats(const md::Tensor& t) {
  const std::vector<float> v = t.to_vector();
  Stats s{v[0], v[0], 0, 0};
  for (float x : v) {
    s.min = std::min<double>(s.min, x);
    s.max = std::max<double>(s.max, x);
    s.mean += x;
  }
  s.mean /= static_cast<double>(v.size());
  for (float x : v) s.stddev += (x - s.mean) * (x - s.mean);
  s.stddev = std::sqrt(s.stddev / static_cast<double>(v.size()));
  return s;
}

md::json envelope(const std::string& cls, const md::json& config) {
  return {{"module", "keras.initializers"}, {"class_name", cls}, {"config", config}, {"registered_name", nullptr}};
}

}  // namespace

TEST_CASE("every initializer name maps to Keras's class and config", "[layers][initializers][config]") {
  const md::json fans = {{"seed", nullptr}, {"input_axes", nullptr}, {"output_axes", nullptr}};
  // keras.initializers.serialize(keras.initializers.get(name)) in Keras 3.16.
  const std::vector<std::pair<std::string, md::json>> cases = {
      {"glorot_uniform", envelope("GlorotUniform", fans)},
      {"glorot_normal", envelope("GlorotNormal", fans)},
      {"he_normal", envelope("HeNormal", fans)},
      {"he_uniform", envelope("HeUniform", fans)},
      {"lecun_normal", envelope("LecunNormal", fans)},
      {"lecun_uniform", envelope("LecunUniform", fans)},
      {"zeros", envelope("Zeros", md::json::object())},
      {"zero", envelope("Zeros", md::json::object())},
      {"ones", envelope("Ones", md::json::object())},
      {"one", envelope("Ones", md::json::object())},
      {"constant", envelope("Constant", {{"value", 0.0}})},
      {"random_normal", envelope("RandomNormal", {{"seed", nullptr}, {"mean", 0.0}, {"stddev", 0.05}})},
      {"normal", envelope("RandomNormal", {{"seed", nullptr}, {"mean", 0.0}, {"stddev", 0.05}})},
      {"truncated_normal", envelope("TruncatedNormal", {{"seed", nullptr}, {"mean", 0.0}, {"stddev", 0.05}})},
      {"random_uniform", envelope("RandomUniform", {{"seed", nullptr}, {"minval", -0.05}, {"maxval", 0.05}})},
      {"uniform", envelope("RandomUniform", {{"seed", nullptr}, {"minval", -0.05}, {"maxval", 0.05}})},
      {"GlorotUniform", envelope("GlorotUniform", fans)},
      {"RandomNormal", envelope("RandomNormal", {{"seed", nullptr}, {"mean", 0.0}, {"stddev", 0.05}})},
  };
  for (const auto& [name, expected] : cases) {
    INFO(name);
    const md::Initializer init(name);
    CHECK(init.serialize() == expected);
    CHECK(init.serialize().dump() == expected.dump());  // 0.05, not float32's 0.05000000074505806
    // Each form loads back: the object, the bare name, Keras 2's {"class_name", "config"}.
    CHECK(md::Initializer::deserialize(expected).serialize() == expected);
    CHECK(md::Initializer::deserialize(md::json(name)).serialize() == expected);
    CHECK(md::Initializer::deserialize({{"class_name", expected["class_name"]}, {"config", expected["config"]}})
              .serialize() == expected);
  }
  CHECK_THROWS_WITH(md::Initializer("orthogonal_ish"), "Could not interpret initializer identifier: orthogonal_ish");
}

TEST_CASE("initializer arguments and seeds are kept in configs", "[layers][initializers][config]") {
  CHECK(md::Initializer::glorot_uniform(7).serialize()["config"]["seed"] == 7);
  CHECK(md::Initializer::random_uniform(-1.0, 2.5, 3).serialize() ==
        envelope("RandomUniform", {{"seed", 3}, {"minval", -1.0}, {"maxval", 2.5}}));
  CHECK(md::Initializer::constant(0.1).serialize() == envelope("Constant", {{"value", 0.1}}));
  const md::json normal = envelope("TruncatedNormal", {{"seed", 11}, {"mean", 1.5}, {"stddev", 0.2}});
  CHECK(md::Initializer::deserialize(normal).serialize() == normal);
  // Errors name the key.
  CHECK_THROWS_WITH(md::Initializer::deserialize(envelope("RandomNormal", {{"mean", "zero"}})),
                    "RandomNormal config key 'mean' must be a number; received \"zero\".");
  CHECK_THROWS_WITH(md::Initializer::deserialize(envelope("GlorotUniform", {{"seed", 1.5}})),
                    "GlorotUniform config key 'seed' must be an integer or null; received 1.5.");
  CHECK_THROWS_AS(md::Initializer::deserialize(envelope("HeNormal", {{"seed", nullptr}, {"input_axes", {0}},
                                                                      {"output_axes", {1}}})),
                  md::NotImplementedError);
  CHECK_THROWS_AS(md::Initializer::deserialize(md::json(3)), md::TypeError);
}

TEST_CASE("constant initializers fill their value", "[layers][initializers]") {
  CHECK(md::Initializer("zeros")({2, 3}).to_vector() == std::vector<float>(6, 0.0f));
  CHECK(md::Initializer("ones")({4}).to_vector() == std::vector<float>(4, 1.0f));
  CHECK(md::Initializer::constant(0.5)({2, 2}).to_vector() == std::vector<float>(4, 0.5f));
}

TEST_CASE("variance-scaling initializers use Keras's fans", "[layers][initializers][fans]") {
  // glorot_uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)); a (in, out) matrix
  // has fan_in = in, fan_out = out.
  const md::Tensor w = md::Initializer::glorot_uniform(1)({300, 200});
  const double limit = std::sqrt(6.0 / (300 + 200));
  Stats s = stats(w);
  CHECK(s.min >= -limit);
  CHECK(s.max <= limit);
  CHECK(s.max > 0.99 * limit);
  CHECK(s.min < -0.99 * limit);
  CHECK(s.stddev == Approx(limit / std::sqrt(3.0)).epsilon(0.01));
  // Convolution kernels (..., in, out): the receptive field multiplies both fans:
  // (3, 3, 4, 8) has fan_in = 36, fan_out = 72.
  s = stats(md::Initializer::glorot_uniform(2)({3, 3, 4, 8}));
  CHECK(s.max <= std::sqrt(6.0 / (36 + 72)));
  CHECK(s.max > 0.95 * std::sqrt(6.0 / (36 + 72)));
  // A vector is its own fan in and out: limit sqrt(6 / (2 n)) = sqrt(3 / n).
  s = stats(md::Initializer::glorot_uniform(3)({400}));
  CHECK(s.max <= std::sqrt(3.0 / 400));
  CHECK(s.max > 0.95 * std::sqrt(3.0 / 400));
  // he_uniform: sqrt(6 / fan_in); lecun_uniform: sqrt(3 / fan_in).
  s = stats(md::Initializer::he_uniform(4)({50, 400}));
  CHECK(s.max <= std::sqrt(6.0 / 50));
  CHECK(s.max > 0.99 * std::sqrt(6.0 / 50));
  s = stats(md::Initializer::lecun_uniform(5)({50, 400}));
  CHECK(s.max <= std::sqrt(3.0 / 50));
  CHECK(s.max > 0.99 * std::sqrt(3.0 / 50));
  // The normal variants draw from a normal truncated at two standard deviations whose spread is
  // sqrt(scale / fan) (Keras divides the stddev by 0.87962566103423978 to get there).
  s = stats(md::Initializer::he_normal(6)({100, 500}));
  CHECK(s.stddev == Approx(std::sqrt(2.0 / 100)).epsilon(0.02));
  CHECK(s.max <= 2.0 * std::sqrt(2.0 / 100) / 0.87962566103423978 + 1e-6);
  s = stats(md::Initializer::glorot_normal(7)({100, 500}));
  CHECK(s.stddev == Approx(std::sqrt(1.0 / 300)).epsilon(0.02));
  s = stats(md::Initializer::lecun_normal(8)({100, 500}));
  CHECK(s.stddev == Approx(std::sqrt(1.0 / 100)).epsilon(0.02));
}

TEST_CASE("random initializers draw their distributions", "[layers][initializers]") {
  Stats s = stats(md::Initializer::random_uniform(-1.0, 3.0, 9)({20000}));
  CHECK(s.min >= -1.0);
  CHECK(s.max < 3.0);
  CHECK(s.mean == Approx(1.0).margin(0.05));
  s = stats(md::Initializer::random_normal(2.0, 0.5, 10)({20000}));
  CHECK(s.mean == Approx(2.0).margin(0.02));
  CHECK(s.stddev == Approx(0.5).epsilon(0.03));
  s = stats(md::Initializer::truncated_normal(0.0, 1.0, 12)({20000}));
  CHECK(s.min >= -2.0);
  CHECK(s.max <= 2.0);
  s = stats(md::Initializer("uniform")({20000}));  // Keras's defaults: -0.05 .. 0.05
  CHECK(s.min >= -0.05);
  CHECK(s.max < 0.05);
}

TEST_CASE("seeded initializers repeat their draw; unseeded ones do not", "[layers][initializers][random]") {
  for (const md::Initializer& init :
       {md::Initializer::glorot_uniform(42), md::Initializer::he_normal(42), md::Initializer::random_normal(0, 1, 42),
        md::Initializer::random_uniform(-1, 1, 42), md::Initializer::truncated_normal(0, 1, 42)}) {
    INFO(init.class_name());
    CHECK(init({5, 4}).to_vector() == init({5, 4}).to_vector());
  }
  CHECK(md::Initializer::glorot_uniform(1)({5, 4}).to_vector() != md::Initializer::glorot_uniform(2)({5, 4}).to_vector());
  const md::Initializer unseeded = "glorot_uniform";
  CHECK(unseeded({5, 4}).to_vector() != unseeded({5, 4}).to_vector());
  // With a global seed, unseeded initializers are reproducible from that point.
  md::random::set_global_seed(123);
  const auto first = unseeded({5, 4}).to_vector();
  md::random::set_global_seed(123);
  CHECK(unseeded({5, 4}).to_vector() == first);
  // Two Dense layers with the same seeded initializer start with the same kernel.
  md::layers::Dense a({.units = 3, .kernel_initializer = md::Initializer::glorot_uniform(5)});
  md::layers::Dense b({.units = 3, .kernel_initializer = md::Initializer::glorot_uniform(5)});
  a.build(md::Shape{md::None, 4});
  b.build(md::Shape{md::None, 4});
  CHECK(a.kernel().value().to_vector() == b.kernel().value().to_vector());
}
