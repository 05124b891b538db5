// BatchNormalization: run_layer_test (training and inference), batch vs moving statistics, the
// moving-statistics update (in calls and in Model::fit), trainable = false, masks, configs and
// errors with Keras's texts.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>

#include "layer_test_harness.h"

namespace md = minidl;
using Catch::Contains;
using md::layers::BatchNormalization;

TEST_CASE("BatchNormalization passes run_layer_test", "[layers][normalization]") {
  SECTION("inference") {
    lt::run_layer_test<BatchNormalization>({}, {.input_shape = {2, 3},
                                                .expected_output_shape = {2, 3},
                                                .expected_trainable_weights = 2,
                                                .expected_non_trainable_weights = 2,
                                                .supports_masking = true});
  }
  SECTION("training, axis 1 of 4-D, no center") {
    lt::run_layer_test<BatchNormalization>({.axis = 1, .center = false},
                                           {.input_shape = {3, 2, 4, 2},
                                            .training = true,
                                            .expected_output_shape = {3, 2, 4, 2},
                                            .expected_trainable_weights = 1,
                                            .expected_non_trainable_weights = 2,
                                            .supports_masking = true});
  }
  SECTION("training, masked: the mask passes through") {
    const md::Tensor mask = lt::bools({1, 1, 0, 1, 0, 1}, {2, 3});
    lt::run_layer_test<BatchNormalization>({.scale = false},
                                           {.input_shape = {2, 3, 4},
                                            .training = true,
                                            .input_masks = {mask},
                                            .expected_output_shape = {2, 3, 4},
                                            .expected_trainable_weights = 1,
                                            .expected_non_trainable_weights = 2,
                                            .supports_masking = true,
                                            .expected_output_mask = mask});
  }
}

TEST_CASE("BatchNormalization: batch statistics in training, moving ones in inference", "[layers][normalization]") {
  BatchNormalization bn({.momentum = 0.5});
  const md::Tensor x = md::Tensor::from_vector({1, 10, 3, 20, 5, 60}, {3, 2});
  // Inference before any step: moving mean 0, variance 1: y = x / sqrt(1 + eps).
  lt::check_values(bn(x), {1 / std::sqrt(1.001f), 10 / std::sqrt(1.001f), 3 / std::sqrt(1.001f),
                           20 / std::sqrt(1.001f), 5 / std::sqrt(1.001f), 60 / std::sqrt(1.001f)},
                   1e-6, "inference");
  CHECK(bn.moving_mean().value().to_vector() == std::vector<float>{0, 0});
  // Training: the batch's mean (3, 30) and biased variance (8/3, 1400/3).
  const md::Tensor y = bn(x, {.training = true});
  const float r0 = 1 / std::sqrt(8.0f / 3 + 1e-3f);
  lt::check_values(md::ops::slice(y, 1, 0, 1), {-2 * r0, 0, 2 * r0}, 1e-5, "training");
  lt::check_values(bn.moving_mean().value(), {1.5f, 15.0f}, 1e-6, "moving mean after one step");
  lt::check_values(bn.moving_variance().value(), {0.5f + 4.0f / 3, 0.5f + 700.0f / 3}, 1e-5, "moving variance");
  bn(x, {.training = true});
  lt::check_values(bn.moving_mean().value(), {2.25f, 22.5f}, 1e-6, "moving mean after two steps");
}

TEST_CASE("BatchNormalization with trainable = false runs in inference mode", "[layers][normalization]") {
  BatchNormalization bn({.trainable = false});
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const md::Tensor y = bn(x, {.training = true});
  lt::check_values(y, {1 / std::sqrt(1.001f), 2 / std::sqrt(1.001f), 3 / std::sqrt(1.001f), 4 / std::sqrt(1.001f)},
                   1e-6, "moving statistics");
  CHECK(bn.moving_mean().value().to_vector() == std::vector<float>{0, 0});
  CHECK(bn.trainable_weights().empty());
  CHECK(bn.non_trainable_weights().size() == 4);
}

TEST_CASE("BatchNormalization's moving statistics move in Model::fit, not in evaluate", "[layers][normalization][fit]") {
  md::clear_session();
  md::Tensor input = md::Input({3});
  BatchNormalization bn({.momentum = 0.0});  // the moving statistics become the last batch's
  md::Tensor h = bn(input);
  md::Model model(input, md::layers::Dense({.units = 1})(h));
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 0.0f}), .loss = "mse"});
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3, 3, 2, 1, 5, 8, 2, 7, 0, 2}, {4, 3});
  const md::Tensor target = md::Tensor::zeros({4, 1});
  model.evaluate(x, target, {.verbose = 0});
  CHECK(bn.moving_mean().value().to_vector() == std::vector<float>{0, 0, 0});
  model.fit(x, target, {.epochs = 1, .batch_size = 4, .verbose = 0, .shuffle = false});
  lt::check_values(bn.moving_mean().value(), {4.0f, 3.0f, 2.0f}, 1e-6, "moving mean = the batch's");
  lt::check_values(bn.moving_variance().value(), {5.0f, 9.0f, 0.5f}, 1e-5, "moving variance = the batch's (biased)");
  CHECK(model.non_trainable_weights().size() == 2);
  CHECK(model.trainable_weights().size() == 4);
}

TEST_CASE("BatchNormalization with a mask takes statistics over the unmasked steps", "[layers][normalization][mask]") {
  BatchNormalization bn({.momentum = 0.0});
  const md::Tensor x = md::Tensor::from_vector({1, 100, 3, 5}, {2, 2, 1});
  const md::Tensor mask = lt::bools({1, 0, 1, 1}, {2, 2});
  const md::Tensor y = bn(x, {.mask = {mask}, .training = true});
  // Unmasked entries 1, 3, 5: mean 3, biased variance 8/3 (Keras adds 1e-7 to the count).
  lt::check_values(bn.moving_mean().value(), {3.0f}, 1e-6, "masked mean");
  lt::check_values(bn.moving_variance().value(), {8.0f / 3}, 1e-5, "masked variance");
  CHECK(y.keras_mask().defined());
  CHECK_THROWS_WITH(bn(x, {.mask = {lt::bools({1, 0, 1, 1}, {4})}, .training = true}),
                    "The mask provided should be one dimension less than the inputs. Received: mask.shape=(4,), "
                    "inputs.shape=(2, 2, 1)");
}

TEST_CASE("BatchNormalization config is Keras's", "[layers][normalization][config]") {
  md::clear_session();
  const md::json config = BatchNormalization().get_config();
  const md::json zeros = md::Initializer("zeros").serialize(), ones = md::Initializer("ones").serialize();
  const md::json expected = {{"name", "batch_normalization"},
                             {"trainable", true},
                             {"dtype", lt::dtype_policy()},
                             {"axis", -1},
                             {"momentum", 0.99},
                             {"epsilon", 0.001},
                             {"center", true},
                             {"scale", true},
                             {"beta_initializer", zeros},
                             {"gamma_initializer", ones},
                             {"moving_mean_initializer", zeros},
                             {"moving_variance_initializer", ones},
                             {"beta_regularizer", nullptr},
                             {"gamma_regularizer", nullptr},
                             {"beta_constraint", nullptr},
                             {"gamma_constraint", nullptr},
                             {"synchronized", false},
                             {"renorm", false},
                             {"renorm_clipping", nullptr},
                             {"renorm_momentum", 0.99}};
  CHECK(config == expected);
}

TEST_CASE("BatchNormalization rejects what it does not support, with Keras's texts", "[layers][normalization][errors]") {
  md::json config = BatchNormalization({.name = "bn"}).get_config();
  config["synchronized"] = true;
  CHECK_THROWS_WITH(BatchNormalization::from_config(config),
                    "Argument synchronized=True is only supported with the TensorFlow backend.");
  config["synchronized"] = false;
  config["renorm_clipping"] = {{"rmax", 3.0}};
  CHECK_THROWS_WITH(BatchNormalization::from_config(config), Contains("renorm_clipping"));
  config["renorm_clipping"] = nullptr;
  // gamma_regularizer=L2(0.01): layer.losses holds 0.01 * sum(gamma ** 2) = 0.01 * channels (gamma
  // starts at ones).
  config["gamma_regularizer"] = {{"module", "keras.regularizers"}, {"class_name", "L2"},
                                 {"config", {{"l2", 0.01}}}, {"registered_name", nullptr}};
  BatchNormalization regularized = BatchNormalization::from_config(config);
  CHECK(regularized.get_config() == config);
  (void)regularized(md::Tensor::ones({2, 3}));
  REQUIRE(regularized.losses().size() == 1);
  CHECK(regularized.losses()[0].item() == Approx(0.03f));
  BatchNormalization bn({.axis = 3});
  CHECK_THROWS_WITH(bn(md::Tensor::ones({2, 3})),
                    "Axis 3 is out of bounds for input shape (2, 3). Received: axis=3");
}
