// Dense: run_layer_test on several configurations, Keras's config, values and errors.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
using md::layers::Dense;

TEST_CASE("Dense passes run_layer_test", "[layers][dense]") {
  SECTION("2-D input, with bias") {
    lt::run_layer_test<Dense>({.units = 3, .activation = "tanh"},
                              {.input_shape = {2, 4},
                               .expected_output_shape = {2, 3},
                               .expected_trainable_weights = 2,
                               .supports_masking = true});
  }
  SECTION("3-D input, no bias, mask passes through") {
    const md::Tensor mask = md::Tensor::from_vector({1, 0, 1, 1, 1, 0}, {2, 3}, md::DType::bool_);
    lt::run_layer_test<Dense>({.units = 5, .use_bias = false},
                              {.input_shape = {2, 3, 4},
                               .input_masks = {mask},
                               .expected_output_shape = {2, 3, 5},
                               .expected_trainable_weights = 1,
                               .supports_masking = true,
                               .expected_output_mask = mask});
  }
  SECTION("relu (not smooth at 0: no finite differences)") {
    lt::run_layer_test<Dense>({.units = 2, .activation = "relu"},
                              {.input_shape = {3, 2},
                               .expected_output_shape = {3, 2},
                               .expected_trainable_weights = 2,
                               .supports_masking = true,
                               .gradcheck = false});
  }
}
