#pragma once
// GlobalAveragePooling1D: the mean over the steps axis of (batch, steps, features) inputs
// (Keras's GlobalAveragePooling1D). With a mask, only the unmasked steps are averaged.
//   md::layers::GlobalAveragePooling1D pool;                  // (B, T, D) -> (B, D)
//   md::layers::GlobalAveragePooling1D keep({.keepdims = true});  // (B, T, D) -> (B, 1, D)
//   md::Tensor y = pool(embedding(ids));   // Embedding(mask_zero) padding is ignored
#include <string>

#include "minidl/layers/global_pooling.h"

namespace minidl::layers {

using GlobalAveragePooling1DOptions = GlobalPoolingOptions;

class GlobalAveragePooling1D : public LayerOf<GlobalAveragePooling1D, BaseGlobalPooling> {
 public:
  using Options = GlobalAveragePooling1DOptions;
  explicit GlobalAveragePooling1D(const GlobalAveragePooling1DOptions& options = {});
  static GlobalAveragePooling1D from_config(const json& config);
  bool supports_masking() const override { return true; }
  // The steps axis is gone, so is the mask: always none.
  Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) override;

  const GlobalAveragePooling1DOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;
};

}  // namespace minidl::layers
