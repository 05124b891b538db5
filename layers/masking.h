#pragma once
// Masking: marks the time steps whose features all equal `mask_value` as masked (Keras's
// Masking). The output is the input with those steps zeroed; its mask, (batch, time), tells
// later layers (LSTM, GRU, ...) to skip them.
//   md::layers::Masking masking({.mask_value = 0.0});
//   md::Tensor y = masking(x);      // x (B, T, F); y.keras_mask(): (B, T), any(x != 0, axis=-1)
#include <string>

#include "minidl/layers/layer.h"

namespace minidl::layers {

struct MaskingOptions {
  double mask_value = 0.0;
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Masking : public LayerOf<Masking> {
 public:
  using Options = MaskingOptions;
  explicit Masking(const MaskingOptions& options = {});
  static Masking from_config(const json& config);
  json get_config() const override;
  bool supports_masking() const override { return true; }
  Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override { return input_shape; }
  using Layer::compute_output_spec;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;
  const MaskingOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  // any(x != mask_value, axis=-1, keepdims): true where a step has a feature to keep.
  Tensor keep(const Tensor& x) const;
  MaskingOptions options_;
};

}  // namespace minidl::layers
