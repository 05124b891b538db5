#pragma once
// ZeroPadding1D / ZeroPadding2D: zeros added before and after the spatial axes (Keras's layers).
//   md::layers::ZeroPadding1D pad1({.padding = {1, 2}});           // (B, 5, C) -> (B, 8, C)
//   md::layers::ZeroPadding2D pad2({.padding = {{1, 0}, {2, 2}}});  // (B, 4, 4, C) -> (B, 5, 8, C)
// data_format picks the spatial axes: channels_last (B, ..., C) or channels_first (B, C, ...).
// The gradient is the input-sized window of the output's.
#include <string>

#include "minidl/layers/layer.h"
#include "minidl/layers/reshaping_base.h"

namespace minidl::layers {

struct ZeroPadding1DOptions {
  SidePair padding = 1;
  std::string data_format = "channels_last";  // "" means channels_last
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class ZeroPadding1D : public LayerOf<ZeroPadding1D, ReshapingLayer> {
 public:
  using Options = ZeroPadding1DOptions;
  explicit ZeroPadding1D(const ZeroPadding1DOptions& options = {});
  static ZeroPadding1D from_config(const json& config);
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  const ZeroPadding1DOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  ZeroPadding1DOptions options_;
};

struct ZeroPadding2DOptions {
  SidePairs2D padding = 1;
  std::string data_format = "channels_last";
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class ZeroPadding2D : public LayerOf<ZeroPadding2D, ReshapingLayer> {
 public:
  using Options = ZeroPadding2DOptions;
  explicit ZeroPadding2D(const ZeroPadding2DOptions& options = {});
  static ZeroPadding2D from_config(const json& config);
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  const ZeroPadding2DOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  ZeroPadding2DOptions options_;
};

// x with `pad.before` zeros before and `pad.after` after along `axis` (differentiable in x).
Tensor zero_pad(const Tensor& x, int64_t axis, const SidePair& pad);

}  // namespace minidl::layers
