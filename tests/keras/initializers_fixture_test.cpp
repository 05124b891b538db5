// Golden fixtures from real Keras: every initializer of layers/initializers.h, from the config
// Keras writes. minidl's generator (Philox, core/random.h) is not JAX's threefry, so seeded
// draws cannot agree value for value; deterministic initializers are compared value for value,
// random ones by the moments of one large draw (n >= 8192 values), which pin the formula down:
//   |mean_m - mean_k| <= 6 * std_k * sqrt(2 / n)   (two independent sample means)
//   |std_m - std_k|   <= 6 * std_k / sqrt(n)       (two sample standard deviations)
//   min and max, for bounded distributions (uniform; normal truncated at 2 std):
//                        within 0.02 * std_k of Keras's (the gap to the bound is ~std/n)
// A wrong fan (256 vs 192), a missing truncation correction (0.88) or a wrong limit moves the
// std by >= 7%, far outside these bounds (at n = 8192 the std bound is 6.6%; at 32768, 3.3%).
// Source: tests/data/keras/initializers.h5, written by tools/keras_reference/generate_fixtures.py
// --backend jax with Keras 3.15.1 on JAX 0.10.2 (CPU).
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>

#include "keras/layer_case.h"

namespace {

struct Moments {
  double mean = 0, std = 0, min = 0, max = 0;
};

Moments moments_of(const md::Tensor& t) {
  const std::vector<float> v = t.to_vector();
  Moments m{0, 0, v.at(0), v.at(0)};
  for (float x : v) {
    m.mean += x;
    m.min = std::min<double>(m.min, x);
    m.max = std::max<double>(m.max, x);
  }
  m.mean /= static_cast<double>(v.size());
  for (float x : v) m.std += (x - m.mean) * (x - m.mean);
  m.std = std::sqrt(m.std / static_cast<double>(v.size()));
  return m;
}

// The moments of a minidl draw against those of Keras's draw (bounds in the header comment).
void check_moments(const md::Tensor& draw, const kf::FixtureFile& file, const std::string& name) {
  const std::vector<double> keras = file.doubles(name + "/moments");  // mean, std, min, max, count
  REQUIRE(keras.size() == 5);
  const double n = keras[4];
  REQUIRE(n == static_cast<double>(draw.size()));
  const Moments got = moments_of(draw);
  INFO("minidl mean " << got.mean << " std " << got.std << " min " << got.min << " max " << got.max
                      << "; Keras mean " << keras[0] << " std " << keras[1] << " min " << keras[2] << " max "
                      << keras[3] << "; n " << n);
  CHECK(std::fabs(got.mean - keras[0]) <= 6.0 * keras[1] * std::sqrt(2.0 / n));
  CHECK(std::fabs(got.std - keras[1]) <= 6.0 * keras[1] / std::sqrt(n));
  if (file.attribute(name, "bounded") == "true") {
    CHECK(std::fabs(got.min - keras[2]) <= 0.02 * keras[1]);
    CHECK(std::fabs(got.max - keras[3]) <= 0.02 * keras[1]);
  }
}

}  // namespace

TEST_CASE("Keras fixtures: initializers follow Keras's formulas", "[keras][initializers]") {
  // Unseeded initializers draw from the global seed stream: fixed, so the test is repeatable.
  md::random::set_global_seed(1212);
  const kf::FixtureFile file("initializers.h5");
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) {
      const md::json config = file.json_attribute(name, "config");
      INFO("initializer " << name << ": " << config.dump() << " (Keras " << file.attribute(name, "keras_version")
                          << ")");
      const md::Initializer init = md::Initializer::deserialize(config);
      CHECK(init.class_name() == file.attribute(name, "class_name"));
      CHECK(kf::same_json(init.serialize(), config));
      md::Shape shape;
      for (const md::json& d : file.json_attribute(name, "shape")) shape.push_back(d.get<int64_t>());
      const md::Tensor draw = init(shape);
      REQUIRE(draw.shape() == shape);
      if (file.exists(name + "/values")) {
        kf::check_close(draw, file.tensor(name + "/values"), 0.0, "values");
      } else {
        check_moments(draw, file, name);
      }
    }
  }
}
