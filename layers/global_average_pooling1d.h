#pragma once
// GlobalAveragePooling1D: the mean over the steps axis of (batch, steps, features) inputs
// (Keras's GlobalAveragePooling1D). With a mask, only the unmasked steps are averaged.
//   md::layers::GlobalAveragePooling1D pool;                  // (B, T, D) -> (B, D)
//   md::layers::GlobalAveragePooling1D keep({.keepdims = true});  // (B, T, D) -> (B, 1, D)
//   md::Tensor y = pool(embedding(ids));   // Embedding(mask_zero) padding is ignored
#include <string>

#include "minidl/layers/layer.h"

namespace minidl::layers {

struct GlobalAveragePooling1DOptions {
  std::string data_format = "channels_last";  // (B, T, D); "channels_first" is (B, D, T)
  bool keepdims = false;
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class GlobalAveragePooling1D : public LayerOf<GlobalAveragePooling1D> {
 public:
  using Options = GlobalAveragePooling1DOptions;
  explicit GlobalAveragePooling1D(const GlobalAveragePooling1DOptions& options = {});
  static GlobalAveragePooling1D from_config(const json& config);
  json get_config() const override;
  bool supports_masking() const override { return true; }
  // The steps axis is gone, so is the mask: always none.
  Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;

  const GlobalAveragePooling1DOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  GlobalAveragePooling1DOptions options_;
};

}  // namespace minidl::layers
