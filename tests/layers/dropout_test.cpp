// Dropout: run_layer_test, inverted scaling, seeded reproducibility, the training flag,
// Keras's config and errors.
#include <minidl/minidl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <numeric>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Dropout;

TEST_CASE("Dropout passes run_layer_test", "[layers][dropout]") {
  SECTION("training (Keras's test_dropout_basics): random masks, so no finite differences") {
    lt::run_layer_test<Dropout>({.rate = 0.2}, {.input_shape = {2, 3},
                                                .training = true,
                                                .expected_output_shape = {2, 3},
                                                .supports_masking = true,
                                                .built_after_construction = true,
                                                .gradcheck = false});
  }
  SECTION("inference: the identity, mask passes through") {
    const md::Tensor mask = md::Tensor::from_vector({1, 0, 1, 1}, {2, 2}, md::DType::bool_);
    lt::run_layer_test<Dropout>({.rate = 0.5, .seed = 3}, {.input_shape = {2, 2, 3},
                                                           .input_masks = {mask},
                                                           .expected_output_shape = {2, 2, 3},
                                                           .supports_masking = true,
                                                           .built_after_construction = true,
                                                           .expected_output_mask = mask});
  }
}

TEST_CASE("Dropout rescales kept entries by 1 / (1 - rate)", "[layers][dropout]") {
  // Keras's test_dropout_rescaling: ones((20, 500)), rate 0.5, seed 1337, training=True;
  // mean(outputs) close to 1.0 (atol 0.02) and max(outputs) == 2.0.
  Dropout layer({.rate = 0.5, .seed = 1337});
  const md::Tensor y = layer(md::Tensor::ones({20, 500}), {.training = true});
  const std::vector<float> v = y.to_vector();
  const double mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
  CHECK(std::fabs(mean - 1.0) <= 0.02);
  CHECK(*std::max_element(v.begin(), v.end()) == 2.0f);
  CHECK(std::all_of(v.begin(), v.end(), [](float e) { return e == 0.0f || e == 2.0f; }));
}

TEST_CASE("Dropout is active only when training", "[layers][dropout][training]") {
  Dropout layer({.rate = 0.5, .seed = 7});
  const md::Tensor x = md::random::uniform({4, 8}, 1.0f, 2.0f, 5);
  CHECK(layer(x).to_vector() == x.to_vector());                        // default: inference
  CHECK(layer(x, {.training = false}).to_vector() == x.to_vector());
  const std::vector<float> dropped = layer(x, {.training = true}).to_vector();
  CHECK(dropped != x.to_vector());
  CHECK(std::count(dropped.begin(), dropped.end(), 0.0f) > 0);
  // rate 0 never drops, rate 1 drops everything.
  CHECK(Dropout({.rate = 0.0})(x, {.training = true}).to_vector() == x.to_vector());
  const std::vector<float> all = Dropout({.rate = 1.0})(x, {.training = true}).to_vector();
  CHECK(std::all_of(all.begin(), all.end(), [](float e) { return e == 0.0f; }));
}

TEST_CASE("Dropout with a seed repeats its sequence of masks", "[layers][dropout][random]") {
  const md::Tensor x = md::Tensor::ones({6, 10});
  Dropout a({.rate = 0.3, .seed = 42});
  Dropout b({.rate = 0.3, .seed = 42});
  const auto a1 = a(x, {.training = true}).to_vector();
  const auto a2 = a(x, {.training = true}).to_vector();
  CHECK(a1 != a2);  // each call draws a new seed from the layer's stream
  CHECK(b(x, {.training = true}).to_vector() == a1);
  CHECK(b(x, {.training = true}).to_vector() == a2);
  // An unseeded layer follows the global seed (keras.utils.set_random_seed).
  md::random::set_global_seed(99);
  Dropout c({.rate = 0.3});
  const auto c1 = c(x, {.training = true}).to_vector();
  md::random::set_global_seed(99);
  Dropout d({.rate = 0.3});
  CHECK(d(x, {.training = true}).to_vector() == c1);
}

TEST_CASE("Dropout's gradient is its mask times 1 / (1 - rate)", "[layers][dropout][gradient]") {
  Dropout layer({.rate = 0.25, .seed = 11});
  const md::Tensor x = md::random::uniform({3, 5}, 0.5f, 1.5f, 2);
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = layer(x, {.training = true});
  const md::Tensor g = tape.gradient(md::ops::sum(y), {x})[0];
  const auto yv = y.to_vector();
  const auto xv = x.to_vector();
  const auto gv = g.to_vector();
  for (size_t i = 0; i < gv.size(); ++i) {
    CHECK(gv[i] == Approx(yv[i] / xv[i]));
    CHECK((gv[i] == 0.0f || gv[i] == Approx(1.0f / 0.75f)));
  }
}

TEST_CASE("Dropout writes Keras's config and rejects what it does not support", "[layers][dropout][config]") {
  md::clear_session();
  // keras.layers.Dropout(0.5, seed=1337).get_config() in Keras 3.16.
  const md::json expected = {{"name", "dropout"}, {"trainable", true}, {"dtype", lt::dtype_policy()},
                             {"rate", 0.5},       {"seed", 1337},      {"noise_shape", nullptr}};
  CHECK(Dropout({.rate = 0.5, .seed = 1337}).get_config() == expected);
  CHECK(Dropout({.rate = 0.1}).get_config()["seed"].is_null());

  md::json config = expected;
  config["noise_shape"] = {md::json(nullptr), 1, md::json(nullptr)};
  CHECK_THROWS_AS(Dropout::from_config(config), md::NotImplementedError);
  CHECK_THROWS_WITH(Dropout::from_config(config),
                    "Dropout config key 'noise_shape' is not supported by minidl (it must be null).");
  CHECK_THROWS_AS(Dropout({.rate = 0.5, .noise_shape = md::Shape{2, 1}}), md::NotImplementedError);
  config = expected;
  config.erase("rate");
  CHECK_THROWS_WITH(Dropout::from_config(config), "Dropout config is missing the required key 'rate' (a number).");
}

TEST_CASE("Dropout validates its rate with Keras's message", "[layers][dropout][errors]") {
  CHECK_THROWS_AS(Dropout({.rate = -0.5}), md::ValueError);
  CHECK_THROWS_WITH(Dropout({.rate = -0.5}),
                    "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: "
                    "rate=-0.5");
  CHECK_THROWS_WITH(Dropout({.rate = 1.5}),
                    "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: "
                    "rate=1.5");
}
