// Gradient clipping (clipnorm, clipvalue, global_clipnorm): three SGD steps against Keras's
// formulas, the zero-gradient case, and the one-clip-argument rule.
#include "optim_test_helpers.h"

namespace md = minidl;
using optim_test::Values;

namespace clipping_test {

double norm_of(const Values& g) {
  double s = 0.0;
  for (double x : g) s += x * x;
  return std::sqrt(s);
}

}  // namespace clipping_test

TEST_CASE("clipnorm clips each gradient to the norm, then SGD steps", "[optim][clip]") {
  // Keras base_optimizer._clip_by_norm: values * clipnorm / maximum(l2norm, clipnorm).
  // Norms: |g1| = sqrt(5.25) = 2.291 (clipped), |g2| = sqrt(1.25) = 1.118 (kept), |g3| = 1.513 (clipped).
  md::optim::SGD opt({.learning_rate = 0.1f, .clipnorm = 1.2});
  optim_test::run_three_steps(
      opt,
      [](Values& w, const Values& g, int) {
        const double scale = 1.2 / std::max(clipping_test::norm_of(g), 1.2);
        for (size_t i = 0; i < 3; ++i) w[i] -= 0.1 * (g[i] * scale);
      },
      "clipnorm");
  // Step 1 by hand: g1 * 1.2 / 2.2913 = [0.26186, -0.52372, 1.04745]; w1 = [0.973814, -1.947628, 2.895255].
  md::optim::SGD first({.learning_rate = 0.1f, .clipnorm = 1.2});
  md::Variable w = optim_test::make_variable();
  first.apply({optim_test::tensor_of(optim_test::kGrads[0])}, {w});
  optim_test::check_values(w, {0.973814, -1.947628, 2.895255}, "step 1", 2e-6);
}

TEST_CASE("clipnorm leaves an all-zero gradient at zero", "[optim][clip]") {
  md::optim::SGD opt({.learning_rate = 0.1f, .clipnorm = 1.0});
  md::Variable w = optim_test::make_variable();
  opt.apply({optim_test::tensor_of({0.0, 0.0, 0.0})}, {w});
  optim_test::check_values(w, optim_test::kStart, "no NaN, no change");
}

TEST_CASE("clipvalue clips each element, then SGD steps", "[optim][clip]") {
  // Keras: ops.clip(g, -clipvalue, clipvalue).
  // Step 1 by hand: clip([0.5, -1, 2], -0.45, 0.45) = [0.45, -0.45, 0.45]; w1 = [0.955, -1.955, 2.955].
  md::optim::SGD first({.learning_rate = 0.1f, .clipvalue = 0.45});
  md::Variable w = optim_test::make_variable();
  first.apply({optim_test::tensor_of(optim_test::kGrads[0])}, {w});
  optim_test::check_values(w, {0.955, -1.955, 2.955}, "step 1");

  md::optim::SGD opt({.learning_rate = 0.1f, .clipvalue = 0.45});
  optim_test::run_three_steps(
      opt,
      [](Values& w_ref, const Values& g, int) {
        for (size_t i = 0; i < 3; ++i) w_ref[i] -= 0.1 * std::min(std::max(g[i], -0.45), 0.45);
      },
      "clipvalue");
}

TEST_CASE("global_clipnorm scales all gradients by one factor", "[optim][clip]") {
  // Keras clip_by_global_norm: g * clip_norm * minimum(1 / global_norm, 1 / clip_norm).
  // Two variables: w (kGrads) and b (grads 1.0, 0.1, 0.0). Global norms: sqrt(5.25 + 1) = 2.5
  // (scale 0.8), sqrt(1.25 + 0.01) = 1.122 and sqrt(2.29) = 1.513 (scale 1).
  md::optim::SGD opt({.learning_rate = 0.1f, .global_clipnorm = 2.0});
  md::Variable w = optim_test::make_variable();
  md::Variable b = optim_test::make_variable({0.0}, "b");
  const Values b_grads = {1.0, 0.1, 0.0};
  Values w_ref = optim_test::kStart;
  double b_ref = 0.0;
  for (int t = 0; t < 3; ++t) {
    opt.apply({optim_test::tensor_of(optim_test::kGrads[t]), optim_test::tensor_of({b_grads[t]})}, {w, b});
    const Values& g = optim_test::kGrads[t];
    const double global = std::sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2] + b_grads[t] * b_grads[t]);
    const double scale = 2.0 * std::min(1.0 / global, 1.0 / 2.0);
    for (size_t i = 0; i < 3; ++i) w_ref[i] -= 0.1 * g[i] * scale;
    b_ref -= 0.1 * b_grads[t] * scale;
    optim_test::check_values(w, w_ref, "w, step " + std::to_string(t + 1));
    optim_test::check_values(b, {b_ref}, "b, step " + std::to_string(t + 1));
  }
  // Step 1 by hand: scale 0.8, w1 = [1 - 0.04, -2 + 0.08, 3 - 0.16], b1 = -0.08.
  md::optim::SGD first({.learning_rate = 0.1f, .global_clipnorm = 2.0});
  md::Variable w1 = optim_test::make_variable();
  md::Variable b1 = optim_test::make_variable({0.0}, "b");
  first.apply({optim_test::tensor_of(optim_test::kGrads[0]), optim_test::tensor_of({1.0})}, {w1, b1});
  optim_test::check_values(w1, {0.96, -1.92, 2.84}, "step 1");
  optim_test::check_values(b1, {-0.08}, "step 1");
}

TEST_CASE("Clipping happens before the optimizer's own update (Adam)", "[optim][clip]") {
  // With clipvalue 0.45 Adam sees [0.45, -0.45, 0.45] on step 1.
  md::optim::Adam clipped({.learning_rate = 0.01f, .clipvalue = 0.45});
  md::optim::Adam direct({.learning_rate = 0.01f});
  md::Variable a = optim_test::make_variable(), b = optim_test::make_variable();
  clipped.apply({optim_test::tensor_of(optim_test::kGrads[0])}, {a});
  direct.apply({optim_test::tensor_of({0.45, -0.45, 0.45})}, {b});
  CHECK(a.value().to_vector() == b.value().to_vector());
}

TEST_CASE("Only one clip argument may be set (Keras's message)", "[optim][clip][errors]") {
  REQUIRE_THROWS_AS(md::optim::SGD({.clipnorm = 1.0, .clipvalue = 0.5}), md::ValueError);
  REQUIRE_THROWS_WITH(md::optim::SGD({.clipnorm = 1.0, .clipvalue = 0.5}),
                      "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                      "clipnorm=1.0, clipvalue=0.5, global_clipnorm=None");
  REQUIRE_THROWS_WITH(md::optim::Adam({.clipnorm = 2.0, .global_clipnorm = 1e-07}),
                      "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                      "clipnorm=2.0, clipvalue=None, global_clipnorm=1e-07");
  md::json config = md::optim::RMSprop({.clipvalue = 0.5}).get_config();
  config["global_clipnorm"] = 3.0;
  REQUIRE_THROWS_WITH(md::optim::RMSprop::from_config(config),
                      "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: "
                      "clipnorm=None, clipvalue=0.5, global_clipnorm=3.0");
}
