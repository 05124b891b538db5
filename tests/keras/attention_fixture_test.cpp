// Golden fixtures from real Keras: Attention and AdditiveAttention over the grid of issue 12
// (use_scale, score_mode, query/value masks, causal mask, return_attention_scores, key given or
// not, Tq != Tv, Dv != D, fully masked rows, extra batch axes, dropout 0 / inference), replayed
// value for value and gradient for gradient (tests/keras/layer_case.h says how).
// Sources, written by tools/keras_reference/generate_fixtures.py:
//   tests/data/keras/attention_keras3.h5: --backend jax, Keras 3.15.1 on JAX 0.10.2 (CPU);
//   tests/data/keras/attention_tf216.h5:  --backend tensorflow, tf.keras of TensorFlow 2.16.2
//                                         (which is Keras 3.15.1 on TensorFlow).
#include <catch2/catch.hpp>

#include "keras/layer_case.h"

namespace {

// Keras 3.15 attaches a layer's output mask only as far as compute_mask's result reaches when
// zipped with the flat outputs (Layer._set_mask_metadata): with return_attention_scores and a
// query mask, the output carries the mask and the scores carry none. minidl once masked both;
// these cases check the scores separately.
bool scores_unmasked_in_keras(const kf::FixtureFile& file, const std::string& name) {
  return file.exists(name + "/outputs/1") && file.exists(name + "/output_masks/0") &&
         !file.exists(name + "/output_masks/1");
}

void check_attention_file(const std::string& file_name, const std::string& backend) {
  const kf::FixtureFile file(file_name);
  CHECK(file.attribute("", "backend") == backend);
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) {
      kf::check_layer_case(file, name, {.later_output_masks = !scores_unmasked_in_keras(file, name)});
    }
  }
}

void check_scores_masks(const std::string& file_name) {
  const kf::FixtureFile file(file_name);
  size_t count = 0;
  for (const std::string& name : kf::required_cases(file)) {
    if (!scores_unmasked_in_keras(file, name)) continue;
    ++count;
    DYNAMIC_SECTION(name) { kf::check_later_output_masks(file, name); }
  }
  CHECK(count > 0);
}

void check_attention_configs(const std::string& file_name) {
  const kf::FixtureFile file(file_name);
  for (const std::string& name : kf::required_cases(file)) {
    DYNAMIC_SECTION(name) { kf::check_layer_config(file, name); }
  }
}

}  // namespace

TEST_CASE("Keras fixtures: attention grid, Keras 3.15 on JAX", "[keras][attention]") {
  check_attention_file("attention_keras3.h5", "jax");
}

TEST_CASE("Keras fixtures: attention grid, tf.keras 2.16 (Keras 3.15 on TensorFlow)", "[keras][attention]") {
  check_attention_file("attention_tf216.h5", "tensorflow");
}

TEST_CASE("Keras fixtures: attention layers write Keras's configs back", "[keras][attention][config]") {
  SECTION("Keras 3.15 on JAX") { check_attention_configs("attention_keras3.h5"); }
  SECTION("tf.keras 2.16") { check_attention_configs("attention_tf216.h5"); }
}

TEST_CASE("Keras fixtures: the attention scores carry no mask (Keras zips output masks with outputs)",
          "[keras][attention]") {
  SECTION("Keras 3.15 on JAX") { check_scores_masks("attention_keras3.h5"); }
  SECTION("tf.keras 2.16") { check_scores_masks("attention_tf216.h5"); }
}
