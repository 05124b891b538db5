#pragma once
// Cropping1D / Cropping2D: entries removed from the start and end of the spatial axes (Keras's
// layers).
//   md::layers::Cropping1D crop1({.cropping = {1, 2}});           // (B, 6, C) -> (B, 3, C)
//   md::layers::Cropping2D crop2({.cropping = {{1, 0}, {2, 2}}});  // (B, 5, 8, C) -> (B, 4, 4, C)
// Cropping2D takes data_format; Cropping1D, as Keras's, works on (batch, steps, channels) only.
// Cropping as much as the axis holds or more is a ValueError (Keras's text).
#include <string>

#include "minidl/layers/layer.h"
#include "minidl/layers/reshaping_base.h"

namespace minidl::layers {

struct Cropping1DOptions {
  SidePair cropping = 1;
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Cropping1D : public LayerOf<Cropping1D, ReshapingLayer> {
 public:
  using Options = Cropping1DOptions;
  explicit Cropping1D(const Cropping1DOptions& options = {});
  static Cropping1D from_config(const json& config);
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  const Cropping1DOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  Cropping1DOptions options_;
};

struct Cropping2DOptions {
  SidePairs2D cropping = 0;
  std::string data_format = "channels_last";  // "" means channels_last
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Cropping2D : public LayerOf<Cropping2D, ReshapingLayer> {
 public:
  using Options = Cropping2DOptions;
  explicit Cropping2D(const Cropping2DOptions& options = {});
  static Cropping2D from_config(const json& config);
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  const Cropping2DOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  Cropping2DOptions options_;
};

}  // namespace minidl::layers
