#pragma once
// UpSampling1D / UpSampling2D: spatial axes enlarged by integer factors (Keras's layers).
//   md::layers::UpSampling1D up1({.size = 3});                    // (B, 4, C) -> (B, 12, C)
//   md::layers::UpSampling2D up2({.size = {2, 3}, .interpolation = "bilinear"});
//                                                                 // (B, 4, 5, C) -> (B, 8, 15, C)
// "nearest" repeats each entry (Keras's ops.repeat); "bilinear" is Keras 3's image resize on
// JAX: half-pixel centres, each output a linear blend of its two nearest inputs per axis, edges
// held (antialiasing changes nothing when enlarging).
#include <string>

#include "minidl/layers/layer.h"
#include "minidl/layers/reshaping_base.h"

namespace minidl::layers {

struct UpSampling1DOptions {
  int64_t size = 2;
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class UpSampling1D : public LayerOf<UpSampling1D, ReshapingLayer> {
 public:
  using Options = UpSampling1DOptions;
  explicit UpSampling1D(const UpSampling1DOptions& options = {});
  static UpSampling1D from_config(const json& config);
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  const UpSampling1DOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  UpSampling1DOptions options_;
};

// One factor for both axes, or (height, width).
struct UpSamplingSize {
  UpSamplingSize(int64_t both = 2) : height(both), width(both), symmetric(true) {}  // NOLINT
  UpSamplingSize(int64_t h, int64_t w) : height(h), width(w) {}
  int64_t height, width;
  bool symmetric = false;
};

struct UpSampling2DOptions {
  UpSamplingSize size = 2;
  std::string data_format = "channels_last";  // "" means channels_last
  std::string interpolation = "nearest";      // or "bilinear"
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class UpSampling2D : public LayerOf<UpSampling2D, ReshapingLayer> {
 public:
  using Options = UpSampling2DOptions;
  explicit UpSampling2D(const UpSampling2DOptions& options = {});
  static UpSampling2D from_config(const json& config);
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  const UpSampling2DOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  UpSampling2DOptions options_;
};

}  // namespace minidl::layers
