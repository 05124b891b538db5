#pragma once
// Dropout: while training, zeroes each input entry with probability `rate` and scales the rest
// by 1 / (1 - rate) (inverted dropout); at inference it passes its input through.
//   md::layers::Dropout drop({.rate = 0.5, .seed = 1337});
//   md::Tensor y = drop(x, {.training = true});
// Each training call draws a fresh seed from the layer's seed stream (Keras's SeedGenerator),
// so a seeded layer repeats the same sequence of masks.
#include <cstdint>
#include <optional>
#include <string>

#include "minidl/layers/layer.h"

namespace minidl::layers {

struct DropoutOptions {
  double rate = 0.0;                       // in [0, 1]
  std::optional<Shape> noise_shape{};      // Keras's noise_shape; minidl supports only unset (null)
  std::optional<uint64_t> seed{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Dropout : public LayerOf<Dropout> {
 public:
  using Options = DropoutOptions;
  explicit Dropout(const DropoutOptions& options);
  static Dropout from_config(const json& config);
  json get_config() const override;
  bool supports_masking() const override { return true; }
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override { return input_shape; }

  const DropoutOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  DropoutOptions options_;
};

}  // namespace minidl::layers
