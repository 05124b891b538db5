// SGD: three steps on the fixed problem (plain, momentum, Nesterov, weight decay), config and
// Keras's momentum check.
#include "optim_test_helpers.h"

namespace md = minidl;
using optim_test::Values;

TEST_CASE("SGD without momentum: three steps by hand", "[optim][sgd]") {
  // Keras sgd.py: variable.assign_sub(gradient * learning_rate)
  md::optim::SGD opt({.learning_rate = 0.1f});
  md::Variable w = optim_test::make_variable();
  opt.apply({optim_test::tensor_of({0.5, -1.0, 2.0})}, {w});
  optim_test::check_values(w, {1 - 0.1 * 0.5, -2 + 0.1 * 1.0, 3 - 0.1 * 2.0}, "step 1");  // 0.95, -1.9, 2.8
  opt.apply({optim_test::tensor_of({-0.3, 0.4, 1.0})}, {w});
  optim_test::check_values(w, {0.98, -1.94, 2.7}, "step 2");
  opt.apply({optim_test::tensor_of({0.2, 0.0, -1.5})}, {w});
  optim_test::check_values(w, {0.96, -1.94, 2.85}, "step 3");
  CHECK(opt.iterations() == 3);
  CHECK(opt.variables().size() == 2);  // iteration, learning_rate: no slots without momentum
}

TEST_CASE("SGD with momentum: three steps by hand", "[optim][sgd]") {
  // Keras sgd.py: m.assign(m * momentum - gradient * learning_rate); variable.assign_add(m)
  // m1 = -0.1*g1 = [-0.05, 0.1, -0.2]                       w1 = [0.95, -1.9, 2.8]
  // m2 = 0.9*m1 - 0.1*g2 = [-0.015, 0.05, -0.28]            w2 = [0.935, -1.85, 2.52]
  // m3 = 0.9*m2 - 0.1*g3 = [-0.0335, 0.045, -0.102]         w3 = [0.9015, -1.805, 2.418]
  md::optim::SGD opt({.learning_rate = 0.1f, .momentum = 0.9});
  md::Variable w = optim_test::make_variable();
  const std::vector<Values> expected = {{0.95, -1.9, 2.8}, {0.935, -1.85, 2.52}, {0.9015, -1.805, 2.418}};
  for (int t = 0; t < 3; ++t) {
    opt.apply({optim_test::tensor_of(optim_test::kGrads[t])}, {w});
    optim_test::check_values(w, expected[t], "step " + std::to_string(t + 1));
  }
  // The formula again, in a loop, as a cross-check of the literals above.
  md::optim::SGD again({.learning_rate = 0.1f, .momentum = 0.9});
  Values m(3, 0.0);
  optim_test::run_three_steps(
      again,
      [&m](Values& w_ref, const Values& g, int) {
        for (size_t i = 0; i < 3; ++i) {
          m[i] = m[i] * 0.9 - g[i] * 0.1;
          w_ref[i] += m[i];
        }
      },
      "SGD momentum");
}

TEST_CASE("SGD with Nesterov momentum: three steps by hand", "[optim][sgd]") {
  // Keras sgd.py (nesterov): m.assign(m * momentum - gradient * lr);
  //                          variable.assign_add(m * momentum - gradient * lr)
  // step 1: 0.9*m1 - 0.1*g1 = [-0.095, 0.19, -0.38]     w1 = [0.905, -1.81, 2.62]
  // step 2: 0.9*m2 - 0.1*g2 = [0.0165, 0.005, -0.352]   w2 = [0.9215, -1.805, 2.268]
  // step 3: 0.9*m3 - 0.1*g3 = [-0.05015, 0.0405, 0.0582] w3 = [0.87135, -1.7645, 2.3262]
  md::optim::SGD opt({.learning_rate = 0.1f, .momentum = 0.9, .nesterov = true});
  md::Variable w = optim_test::make_variable();
  const std::vector<Values> expected = {{0.905, -1.81, 2.62}, {0.9215, -1.805, 2.268}, {0.87135, -1.7645, 2.3262}};
  for (int t = 0; t < 3; ++t) {
    opt.apply({optim_test::tensor_of(optim_test::kGrads[t])}, {w});
    optim_test::check_values(w, expected[t], "step " + std::to_string(t + 1));
  }
}

TEST_CASE("SGD with weight_decay decays before the step, with the step's learning rate", "[optim][sgd]") {
  // Keras base_optimizer.py _apply_weight_decay: variable.assign(variable - variable * wd * lr),
  // before update_step; then SGD: variable.assign_sub(gradient * lr).
  // step 1: w = [1, -2, 3] * (1 - 0.1*0.1) = [0.99, -1.98, 2.97]; minus 0.1*g1 -> [0.94, -1.88, 2.77]
  md::optim::SGD opt({.learning_rate = 0.1f, .weight_decay = 0.1});
  md::Variable w = optim_test::make_variable();
  opt.apply({optim_test::tensor_of(optim_test::kGrads[0])}, {w});
  optim_test::check_values(w, {0.94, -1.88, 2.77}, "step 1");

  md::optim::SGD again({.learning_rate = 0.1f, .weight_decay = 0.1});
  optim_test::run_three_steps(
      again,
      [](Values& w_ref, const Values& g, int) {
        for (size_t i = 0; i < 3; ++i) {
          w_ref[i] = w_ref[i] - w_ref[i] * 0.1 * 0.1;
          w_ref[i] -= g[i] * 0.1;
        }
      },
      "SGD weight decay");
}

TEST_CASE("SGD checks momentum with Keras's message", "[optim][sgd][errors]") {
  const char* message = "`momentum` must be a float between [0, 1].";
  REQUIRE_THROWS_AS(md::optim::SGD({.momentum = 1.5}), md::ValueError);
  REQUIRE_THROWS_WITH(md::optim::SGD({.momentum = 1.5}), message);
  REQUIRE_THROWS_WITH(md::optim::SGD({.momentum = -0.1}), message);
  REQUIRE_THROWS_WITH(md::optim::SGD({.momentum = std::nan("")}), message);
  REQUIRE_NOTHROW(md::optim::SGD({.momentum = 0.0}));
  REQUIRE_NOTHROW(md::optim::SGD({.momentum = 1.0}));
  // The same check guards configs.
  md::json config = md::optim::SGD({.momentum = 0.5}).get_config();
  config["momentum"] = 2.0;
  REQUIRE_THROWS_WITH(md::optim::SGD::from_config(config), message);
}

TEST_CASE("SGD config: Keras's keys, order and values; round trip", "[optim][sgd][config]") {
  const md::optim::SGD opt({.name = "SGD"});
  // As Keras 3 writes SGD(name="SGD").get_config(): the float32 learning rate widened.
  CHECK(opt.get_config().dump() ==
        R"({"name":"SGD","learning_rate":0.009999999776482582,"weight_decay":null,"clipnorm":null,)"
        R"("global_clipnorm":null,"clipvalue":null,"use_ema":false,"ema_momentum":0.99,)"
        R"("ema_overwrite_frequency":null,"loss_scale_factor":null,"gradient_accumulation_steps":null,)"
        R"("momentum":0.0,"nesterov":false})");
  CHECK(optim_test::keys_of(opt.get_config()) == optim_test::base_keys_plus({"momentum", "nesterov"}));

  const md::optim::SGD custom(
      {.learning_rate = 0.25f, .momentum = 0.9, .nesterov = true, .weight_decay = 0.01, .clipnorm = 1.0});
  const md::json config = custom.get_config();
  CHECK(config["learning_rate"] == 0.25);
  CHECK(config["momentum"] == 0.9);
  CHECK(config["nesterov"] == true);
  CHECK(config["weight_decay"] == 0.01);
  CHECK(config["clipnorm"] == 1.0);
  optim_test::check_round_trip(custom);
  const md::optim::SGD back = md::optim::SGD::from_config(config);
  CHECK(back.momentum() == 0.9);
  CHECK(back.nesterov());
  CHECK(back.name() == custom.name());
  CHECK(back.clipnorm() == 1.0);
}

TEST_CASE("SGD auto names follow Keras 3.15+: sgd, sgd_1", "[optim][sgd][config]") {
  md::clear_session();
  CHECK(md::optim::SGD().name() == "sgd");
  CHECK(md::optim::SGD().name() == "sgd_1");
  CHECK(md::optim::Adam().name() == "adam");
  CHECK(md::optim::AdamW().name() == "adam_w");
  CHECK(md::optim::RMSprop().name() == "rm_sprop");
  CHECK(md::optim::Adagrad().name() == "adagrad");
  md::clear_session();
}
