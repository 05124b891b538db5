#pragma once
// SpatialDropout1D / SpatialDropout2D: while training, drop whole feature maps (every entry of a
// channel in a sample, Keras's noise shape (B, 1, C) or (B, 1, 1, C)) with probability `rate`
// and scale the kept ones by 1 / (1 - rate); at inference they pass the input through.
//   md::layers::SpatialDropout2D drop({.rate = 0.25, .seed = 7});
//   md::Tensor y = drop(x, {.training = true});   // x: (B, H, W, C)
// Seeds as Dropout's: each training call draws the next seed of the layer's stream.
#include <cstdint>
#include <optional>
#include <string>

#include "minidl/layers/layer.h"

namespace minidl::layers {

struct SpatialDropout1DOptions {
  double rate = 0.0;  // in [0, 1]
  std::optional<uint64_t> seed{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class SpatialDropout1D : public LayerOf<SpatialDropout1D> {
 public:
  using Options = SpatialDropout1DOptions;
  explicit SpatialDropout1D(const SpatialDropout1DOptions& options);
  static SpatialDropout1D from_config(const json& config);
  // Keras's own config: rate, seed, name and dtype (as a string), without "trainable".
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override { return input_shape; }
  const SpatialDropout1DOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  SpatialDropout1DOptions options_;
};

struct SpatialDropout2DOptions {
  double rate = 0.0;
  std::string data_format = "channels_last";  // "" means channels_last
  std::optional<uint64_t> seed{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class SpatialDropout2D : public LayerOf<SpatialDropout2D> {
 public:
  using Options = SpatialDropout2DOptions;
  explicit SpatialDropout2D(const SpatialDropout2DOptions& options);
  static SpatialDropout2D from_config(const json& config);
  json get_config() const override;  // SpatialDropout1D's keys and data_format
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override { return input_shape; }
  const SpatialDropout2DOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  SpatialDropout2DOptions options_;
};

}  // namespace minidl::layers
