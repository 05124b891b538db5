// Regularizers and constraints: Keras's names, defaults, formulas (Keras's docstring examples),
// errors and configs; Layer::losses (recomputed from the current weights, activity penalties of
// the last call only, none for frozen layers); fit/evaluate adding model.losses to the loss; the
// optimizer applying constraints after each step; a Dense with every option through
// run_layer_test. (Keras's numbers: tests/keras/regularization_fixture_test.cpp.)
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "layer_test_harness.h"

namespace md = minidl;
namespace R = md::regularizers;
namespace C = md::constraints;
using md::layers::Dense;

namespace {
float total(const std::vector<md::Tensor>& losses) {
  float sum = 0.0f;
  for (const md::Tensor& t : losses) sum += t.item();
  return sum;
}
}  // namespace

TEST_CASE("Regularizers: Keras's names, defaults and formulas", "[layers][regularizers]") {
  CHECK(R::serialize(*R::get("l1")) == md::json::parse(R"({"module": "keras.regularizers", "class_name": "L1",
        "config": {"l1": 0.009999999776482582}, "registered_name": null})"));
  CHECK(R::get("l2")->get_config() == md::json{{"l2", 0.01}});
  CHECK(R::get("l1l2")->get_config() == md::json{{"l1", 0.0}, {"l2", 0.0}});  // Keras's class defaults
  CHECK(R::get("l1_l2")->get_config() == md::json{{"l1", 0.01}, {"l2", 0.01}});  // tf.keras's function
  CHECK(R::get("orthogonal_regularizer")->get_config() ==
        md::json{{"factor", 0.009999999776482582}, {"mode", "rows"}});
  CHECK(R::get("L1L2")->class_name() == "L1L2");
  CHECK(R::get(md::json(nullptr)) == nullptr);
  // Keras's docstring: L2(2.)(ones(5, 5)) == 50.
  CHECK(R::L2(2.0)(md::Tensor::ones({5, 5})).item() == Approx(50.0f));
  CHECK(R::L1(0.5)(md::Tensor::from_vector({-1, 2, -3}, {3})).item() == Approx(3.0f));
  CHECK(R::L1L2(0.1, 0.2)(md::Tensor::from_vector({-1, 2}, {2})).item() == Approx(0.3f + 1.0f));
  // Orthogonal rows give 0; two parallel rows give factor * 0.5 * (1 + 1) / 1 pair (the product
  // matrix holds each pair twice).
  CHECK(R::OrthogonalRegularizer(1.0)(md::Tensor::from_vector({1, 0, 0, 2}, {2, 2})).item() == Approx(0.0f));
  CHECK(R::OrthogonalRegularizer(1.0)(md::Tensor::from_vector({1, 1, 2, 2}, {2, 2})).item() == Approx(1.0f));
  CHECK(R::OrthogonalRegularizer(1.0, "columns")(md::Tensor::from_vector({1, 2, 1, 2}, {2, 2})).item() ==
        Approx(1.0f));
}

TEST_CASE("Regularizers and constraints: Keras's errors", "[layers][regularizers][errors]") {
  CHECK_THROWS_WITH(R::get("l3"), "Could not interpret regularizer identifier: l3");
  CHECK_THROWS_WITH(R::L1(-1.0), "Invalid value for argument l1: expected a non-negative float.Received: l1=-1");
  CHECK_THROWS_WITH(R::L2(std::nan("")), Catch::Contains("Invalid value for argument l2"));
  CHECK_THROWS_WITH(R::OrthogonalRegularizer(0.1, "diagonal"),
                    "Invalid value for argument `mode`. Expected one of {\"rows\", \"columns\"}. Received: mode=diagonal");
  CHECK_THROWS_WITH(R::OrthogonalRegularizer()(md::Tensor::ones({2, 2, 2})),
                    "Inputs to OrthogonalRegularizer must have rank 2. Received: inputs.shape=(2, 2, 2)");
  CHECK_THROWS_WITH(C::get("positive"), "Could not interpret constraint identifier: positive");
  CHECK_THROWS_WITH(R::deserialize(md::json::parse(R"({"class_name": "L7", "config": {}})")),
                    Catch::StartsWith("Could not locate class 'L7'"));
  CHECK_THROWS_WITH(Dense::from_config({{"name", "d"}, {"units", 2}, {"kernel_regularizer", "l9"}}),
                    "Dense config, key 'kernel_regularizer': Could not interpret regularizer identifier: l9");
}

TEST_CASE("Constraints: Keras's names, defaults and formulas", "[layers][constraints]") {
  CHECK(C::get("max_norm")->get_config() == md::json{{"max_value", 2.0}, {"axis", 0}});
  CHECK(C::get("min_max_norm")->get_config() ==
        md::json{{"min_value", 0.0}, {"max_value", 1.0}, {"rate", 1.0}, {"axis", 0}});
  CHECK(C::get("unit_norm")->get_config() == md::json{{"axis", 0}});
  CHECK(C::get("non_neg")->get_config() == md::json::object());
  CHECK(C::MaxNorm(1.0, {0, 1, 2}).get_config()["axis"] == md::json::parse("[0, 1, 2]"));
  // Columns of norm 5 and 0.5: MaxNorm(1) scales the first to 1 and keeps the second.
  const md::Tensor w = md::Tensor::from_vector({3, 0.3f, 4, 0.4f}, {2, 2});
  const std::vector<float> m = C::MaxNorm(1.0)(w).to_vector();
  CHECK(m[0] == Approx(0.6f));
  CHECK(m[2] == Approx(0.8f));
  CHECK(m[1] == Approx(0.3f));
  CHECK(C::UnitNorm()(w).to_vector()[3] == Approx(0.8f));
  CHECK(C::MinMaxNorm(1.0, 2.0)(w).to_vector()[1] == Approx(0.6f));
  CHECK(C::NonNeg()(md::Tensor::from_vector({-1, 2}, {2})).to_vector() == std::vector<float>{0, 2});
}

TEST_CASE("Dense with every regularizer and constraint passes run_layer_test", "[layers][regularizers]") {
  lt::run_layer_test<Dense>({.units = 3,
                             .kernel_regularizer = R::L1L2(0.01, 0.02),
                             .bias_regularizer = "l2",
                             .activity_regularizer = R::L1(0.05),
                             .kernel_constraint = C::MaxNorm(1.5, {0}),
                             .bias_constraint = "non_neg"},
                            {.input_shape = {2, 4}, .expected_output_shape = {2, 3}, .expected_trainable_weights = 2,
                             .supports_masking = true});
  lt::run_layer_test<md::layers::Embedding>(
      {.input_dim = 5, .output_dim = 3, .embeddings_regularizer = "l1", .embeddings_constraint = C::UnitNorm(1)},
      {.input_shape = {2, 3}, .input_dtype = md::DType::int32, .int_input_high = 5,
       .expected_output_shape = {2, 3, 3}, .expected_trainable_weights = 1, .input_differentiable = false});
  lt::run_layer_test<md::layers::LayerNormalization>(
      {.gamma_regularizer = R::L2(0.5), .activity_regularizer = "l1", .beta_constraint = C::MinMaxNorm(0.1, 2.0, 0.5)},
      {.input_shape = {2, 3}, .expected_output_shape = {2, 3}, .expected_trainable_weights = 2,
       .supports_masking = true});
}

TEST_CASE("Layer::losses: Keras's docstring example, recomputed from the weights, the last call's activity",
          "[layers][regularizers][losses]") {
  // Keras's Regularizer docstring: kernel term 0.25, activity term (after / batch 5) 5.0.
  Dense dense({.units = 5, .kernel_initializer = "ones", .kernel_regularizer = R::L1(0.01),
               .activity_regularizer = R::L2(0.01)});
  dense(md::ops::multiply(md::Tensor::ones({5, 5}), 2.0f));
  CHECK(dense.losses().size() == 2);
  CHECK(total(dense.losses()) == Approx(5.25f));
  // The weight penalty follows the weights; the activity penalty is the last call's only.
  dense.kernel().assign(md::ops::multiply(md::Tensor::ones({5, 5}), 2.0f));
  CHECK(total(dense.losses()) == Approx(5.5f));
  dense(md::Tensor::zeros({3, 5}));
  CHECK(dense.losses().size() == 2);
  CHECK(total(dense.losses()) == Approx(0.5f));
  // A frozen layer's weights are not trainable weights: no penalty (its activity one stays).
  dense.set_trainable(false);
  CHECK(dense.losses().size() == 1);
  // Symbolic calls add none.
  Dense sym({.units = 2, .activity_regularizer = "l2"});
  sym(md::Input({4}));
  CHECK(sym.losses().empty());
  // The weight penalties carry gradients.
  Dense g({.units = 1, .use_bias = false, .kernel_initializer = "ones", .kernel_regularizer = R::L2(0.5)});
  g(md::Tensor::ones({1, 2}));
  md::GradientTape tape;
  const md::Tensor penalty = g.losses().at(0);
  CHECK(tape.gradient(penalty, std::vector<md::Variable>{g.kernel()}).at(0).to_vector() == std::vector<float>{1, 1});
}

TEST_CASE("fit and evaluate add model.losses to the compiled loss; the optimizer applies constraints",
          "[layers][regularizers][constraints][training]") {
  md::clear_session();
  md::random::set_global_seed(3);
  Dense hidden({.units = 4, .kernel_regularizer = R::L2(0.1), .kernel_constraint = C::NonNeg()});
  Dense out({.units = 1, .kernel_constraint = C::MaxNorm(0.5)});
  md::Sequential model({md::Input({3}), hidden, out});
  REQUIRE(model.losses().size() == 1);
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 0.5}), .loss = "mse"});
  const md::Tensor x = md::random::normal({8, 3}, 0.0f, 1.0f, 1);
  const md::Tensor y = md::random::normal({8, 1}, 0.0f, 1.0f, 2);
  // evaluate: mse + the kernel penalty.
  const float mse = md::ops::mean(md::ops::square(model.predict(x) - y)).item();
  const float penalty = R::L2(0.1)(hidden.kernel().value()).item();
  CHECK(model.evaluate(x, y, {.verbose = 0}).at("loss") == Approx(mse + penalty).epsilon(1e-5));
  model.fit(x, y, {.epochs = 3, .batch_size = 4, .verbose = 0});
  for (float v : hidden.kernel().value().to_vector()) CHECK(v >= 0.0f);
  const float norm = std::sqrt(md::ops::sum(md::ops::square(out.kernel().value())).item());
  CHECK(norm <= 0.5f + 1e-5f);
  // Optimizer::apply on its own applies them too.
  const md::Variable v(md::Tensor::from_vector({-1, 1}, {2}));
  v.set_constraint([](const md::Tensor& t) { return C::NonNeg()(t); });
  md::optim::SGD sgd({.learning_rate = 0.1});
  sgd.apply({md::Tensor::from_vector({1, 1}, {2})}, {v});
  CHECK(v.value().to_vector() == std::vector<float>{0.0f, 0.9f});
}

TEST_CASE("A user regularizer registers and round-trips", "[layers][regularizers][config]") {
  struct Half : R::Regularizer {
    md::Tensor operator()(const md::Tensor& x) const override { return md::ops::multiply(md::ops::sum(x), 0.5f); }
    std::string class_name() const override { return "Half"; }
    md::json get_config() const override { return md::json::object(); }
  };
  R::register_regularizer("Half", [](const md::json&) { return std::make_shared<Half>(); });
  const md::json object = R::serialize(Half());
  CHECK(object["registered_name"] == "Custom>Half");
  Dense dense({.units = 2, .kernel_initializer = "ones", .kernel_regularizer = Half()});
  Dense again = Dense::from_config(dense.get_config());
  again(md::Tensor::ones({1, 3}));
  CHECK(total(again.losses()) == Approx(3.0f));
}
