// RMSprop (plain, centered with momentum) and Adagrad: three steps on the fixed problem against
// Keras 3.16's formulas, slot order, configs.
#include "optim_test_helpers.h"

namespace md = minidl;
using optim_test::Values;

namespace rmsprop_adagrad_test {

// Keras rmsprop.py update_step, in double:
//   velocity.assign(rho * velocity + (1 - rho) * square(gradient))
//   centered: average_grad.assign(rho * average_grad + (1 - rho) * gradient)
//             denominator = velocity - square(average_grad) + epsilon
//   else:     denominator = velocity + epsilon
//   increment = (lr * gradient) / sqrt(denominator)
//   momentum > 0: momentum.assign(momentum * momentum_var + increment); variable.assign_sub(momentum)
//   else:         variable.assign_sub(increment)
struct RmspropReference {
  double lr, rho, momentum, epsilon;
  bool centered = false;
  Values velocity = Values(3, 0.0), average = Values(3, 0.0), mom = Values(3, 0.0);

  void operator()(Values& w, const Values& g, int) {
    for (size_t i = 0; i < w.size(); ++i) {
      velocity[i] = rho * velocity[i] + (1 - rho) * g[i] * g[i];
      double denominator = velocity[i] + epsilon;
      if (centered) {
        average[i] = rho * average[i] + (1 - rho) * g[i];
        denominator = velocity[i] - average[i] * average[i] + epsilon;
      }
      const double increment = lr * g[i] / std::sqrt(denominator);
      if (momentum > 0) {
        mom[i] = momentum * mom[i] + increment;
        w[i] -= mom[i];
      } else {
        w[i] -= increment;
      }
    }
  }
};

}  // namespace rmsprop_adagrad_test

TEST_CASE("RMSprop: three steps by hand", "[optim][rmsprop]") {
  // Step 1 by hand: velocity = 0.1*g^2, increment = 0.01*g / sqrt(0.1*g^2 + 1e-7)
  // ~= 0.01*sign(g)/sqrt(0.1) = 0.0316228*sign(g): w1 ~= [0.968377, -1.968377, 2.968377].
  md::optim::RMSprop first({.learning_rate = 0.01f});
  md::Variable w = optim_test::make_variable();
  first.apply({optim_test::tensor_of(optim_test::kGrads[0])}, {w});
  optim_test::check_values(w, {0.968377, -1.968377, 2.968377}, "step 1", 1e-5);

  md::optim::RMSprop opt({.learning_rate = 0.01f});
  optim_test::run_three_steps(
      opt, rmsprop_adagrad_test::RmspropReference{.lr = 0.01, .rho = 0.9, .momentum = 0.0, .epsilon = 1e-7},
      "RMSprop");
}

TEST_CASE("RMSprop centered with momentum: three steps by hand", "[optim][rmsprop]") {
  md::optim::RMSprop opt({.learning_rate = 0.01f, .rho = 0.8, .momentum = 0.5, .epsilon = 1e-3, .centered = true});
  optim_test::run_three_steps(opt,
                              rmsprop_adagrad_test::RmspropReference{
                                  .lr = 0.01, .rho = 0.8, .momentum = 0.5, .epsilon = 1e-3, .centered = true},
                              "RMSprop centered + momentum");
  // Slots: all velocities, then all momentums, then all average gradients (three builds in Keras).
  md::Variable a = optim_test::make_variable(optim_test::kStart, "a"), b = optim_test::make_variable(optim_test::kStart, "b");
  md::optim::RMSprop two({.momentum = 0.5, .centered = true});
  two.build({a, b});
  std::vector<std::string> names;
  for (const md::Variable& v : two.variables()) names.push_back(v.name());
  CHECK(names == std::vector<std::string>{"iteration", "learning_rate", "a_velocity", "b_velocity", "a_momentum",
                                          "b_momentum", "a_average_gradient", "b_average_gradient"});
  md::optim::RMSprop plain;
  plain.build({a, b});
  CHECK(plain.variables().size() == 4);  // no momentum or average slots
}

TEST_CASE("Adagrad: three steps by hand", "[optim][adagrad]") {
  // Keras adagrad.py: accumulator starts at initial_accumulator_value;
  //   accumulator.assign_add(square(gradient))
  //   variable.assign_sub((lr * gradient) / sqrt(accumulator + epsilon))
  // Step 1 by hand (lr 0.1, acc0 0.1): acc = [0.35, 1.1, 4.1];
  //   w1 = [1 - 0.05/sqrt(0.35), -2 + 0.1/sqrt(1.1), 3 - 0.2/sqrt(4.1)] = [0.915485, -1.904654, 2.901227]
  md::optim::Adagrad first({.learning_rate = 0.1f});
  md::Variable w = optim_test::make_variable();
  first.apply({optim_test::tensor_of(optim_test::kGrads[0])}, {w});
  optim_test::check_values(w, {0.915485, -1.904654, 2.901227}, "step 1", 2e-6);

  md::optim::Adagrad opt({.learning_rate = 0.1f, .initial_accumulator_value = 0.1, .epsilon = 1e-7});
  Values acc(3, 0.1);
  optim_test::run_three_steps(
      opt,
      [&acc](Values& w_ref, const Values& g, int) {
        for (size_t i = 0; i < 3; ++i) {
          acc[i] += g[i] * g[i];
          w_ref[i] -= 0.1 * g[i] / std::sqrt(acc[i] + 1e-7);
        }
      },
      "Adagrad");
  // The accumulator slot holds initial value + sum of squares.
  const std::vector<md::Variable> vars = opt.variables();
  REQUIRE(vars.size() == 3);
  CHECK(vars[2].name() == "w_accumulator");
  const std::vector<float> stored = vars[2].value().to_vector();
  for (size_t i = 0; i < 3; ++i) CHECK(stored[i] == Approx(acc[i]).epsilon(1e-6));
}

TEST_CASE("RMSprop and Adagrad configs: Keras's keys, order, values; round trip", "[optim][rmsprop][adagrad][config]") {
  const md::optim::RMSprop rms({.name = "rmsprop"});
  CHECK(optim_test::keys_of(rms.get_config()) == optim_test::base_keys_plus({"rho", "momentum", "epsilon", "centered"}));
  CHECK(rms.get_config()["rho"] == 0.9);
  CHECK(rms.get_config()["momentum"] == 0.0);
  CHECK(rms.get_config()["epsilon"] == 1e-7);
  CHECK(rms.get_config()["centered"] == false);
  CHECK(rms.get_config()["learning_rate"].dump() == "0.0010000000474974513");
  optim_test::check_round_trip(md::optim::RMSprop({.rho = 0.8, .momentum = 0.5, .centered = true, .clipvalue = 0.5}));

  const md::optim::Adagrad ada({.name = "adagrad"});
  CHECK(optim_test::keys_of(ada.get_config()) ==
        optim_test::base_keys_plus({"initial_accumulator_value", "epsilon"}));
  CHECK(ada.get_config()["initial_accumulator_value"] == 0.1);
  CHECK(ada.get_config()["epsilon"] == 1e-7);
  optim_test::check_round_trip(md::optim::Adagrad({.initial_accumulator_value = 0.5, .weight_decay = 0.01}));
  CHECK(md::optim::Adagrad::from_config(md::optim::Adagrad({.initial_accumulator_value = 0.5}).get_config())
            .initial_accumulator_value() == 0.5);
}
