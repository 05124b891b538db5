#pragma once
// Shared fixtures for the optimizer tests: a fixed three-element problem (w = [1, -2, 3] and a
// fixed gradient per step), a double-precision reference state, and value comparison.
#include <minidl/minidl.h>
#include <minidl/optim/adagrad.h>
#include <minidl/optim/adam.h>
#include <minidl/optim/adamw.h>
#include <minidl/optim/optimizer.h>
#include <minidl/optim/registry.h>
#include <minidl/optim/rmsprop.h>
#include <minidl/optim/schedules.h>
#include <minidl/optim/sgd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

namespace optim_test {

namespace md = minidl;
using Values = std::vector<double>;

inline const Values kStart = {1.0, -2.0, 3.0};
// The gradient of each of the three steps; step 3 has an exact zero.
inline const std::vector<Values> kGrads = {{0.5, -1.0, 2.0}, {-0.3, 0.4, 1.0}, {0.2, 0.0, -1.5}};

inline md::Tensor tensor_of(const Values& v) {
  std::vector<float> f(v.begin(), v.end());
  return md::Tensor::from_vector(f, {static_cast<int64_t>(f.size())});
}

inline md::Variable make_variable(const Values& v = kStart, const std::string& name = "w") {
  return md::Variable(tensor_of(v), name);
}

// Float32 updates against a double reference: a relative 1e-6 (a few float32 roundings of
// values near 3) plus a small absolute margin.
inline void check_values(const md::Variable& variable, const Values& expected, const std::string& what,
                         double margin = 1e-6) {
  const std::vector<float> actual = variable.value().to_vector();
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(what << ", element " << i);
    CHECK(static_cast<double>(actual[i]) == Approx(expected[i]).epsilon(1e-6).margin(margin));
  }
}

// Applies kGrads one step at a time, after each step comparing the variable with `reference`,
// a function advancing the double-precision state by one step (t = 1, 2, 3).
template <class Reference>
void run_three_steps(md::optim::Optimizer& opt, Reference&& reference, const std::string& what) {
  md::Variable w = make_variable();
  Values expected = kStart;
  for (int t = 1; t <= 3; ++t) {
    opt.apply({tensor_of(kGrads[t - 1])}, {w});
    reference(expected, kGrads[t - 1], t);
    check_values(w, expected, what + ", step " + std::to_string(t));
    CHECK(opt.iterations() == t);
  }
}

inline std::vector<std::string> keys_of(const md::json& object) {
  std::vector<std::string> keys;
  for (const auto& item : object.items()) keys.push_back(item.key());
  return keys;
}

// Keras 3's BaseOptimizer.get_config keys, in order.
inline const std::vector<std::string> kBaseKeys = {"name",
                                                   "learning_rate",
                                                   "weight_decay",
                                                   "clipnorm",
                                                   "global_clipnorm",
                                                   "clipvalue",
                                                   "use_ema",
                                                   "ema_momentum",
                                                   "ema_overwrite_frequency",
                                                   "loss_scale_factor",
                                                   "gradient_accumulation_steps"};

inline std::vector<std::string> base_keys_plus(const std::vector<std::string>& extra) {
  std::vector<std::string> keys = kBaseKeys;
  keys.insert(keys.end(), extra.begin(), extra.end());
  return keys;
}

// get_config -> from_config -> get_config gives the same JSON, and serialize/deserialize too.
template <class Opt>
void check_round_trip(const Opt& opt) {
  const md::json config = opt.get_config();
  const Opt again = Opt::from_config(config);
  CHECK(again.get_config() == config);
  CHECK(again.get_config().dump() == config.dump());  // same key order
  const md::json envelope = md::optim::serialize(opt);
  const auto rebuilt = md::optim::deserialize(envelope);
  CHECK(rebuilt->class_name() == opt.class_name());
  CHECK(md::optim::serialize(*rebuilt).dump() == envelope.dump());
}

}  // namespace optim_test
