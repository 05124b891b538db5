#pragma once
// GlobalAveragePooling2D, GlobalMaxPooling1D and GlobalMaxPooling2D (Keras's global pooling
// layers): the mean or the max over every spatial axis, one value per channel.
//   md::layers::GlobalAveragePooling2D gap;                    // (B, H, W, C) -> (B, C)
//   md::layers::GlobalMaxPooling1D gmp({.keepdims = true});    // (B, T, C) -> (B, 1, C)
// Keras 3 gives none of these three a mask (GlobalAveragePooling1D, in its own file, has one).
#include <string>

#include "minidl/layers/layer.h"

namespace minidl::layers {

struct GlobalPoolingOptions {
  std::string data_format = "channels_last";  // (B, spatial..., C); "channels_first" is (B, C, spatial...)
  bool keepdims = false;                      // keep the spatial axes, as size 1
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

// Keras's BaseGlobalPooling: the input rank, data_format, keepdims, output shape and config.
class BaseGlobalPooling : public Layer {
 public:
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  const std::string& data_format() const { return options_.data_format; }
  bool keepdims() const { return options_.keepdims; }

 protected:
  BaseGlobalPooling(const std::string& class_name, const GlobalPoolingOptions& options, int64_t pool_dimensions);
  static GlobalPoolingOptions options_from_config(const json& config, const char* class_name);
  // The spatial axes of the input.
  std::vector<int64_t> spatial_axes() const;

  GlobalPoolingOptions options_;
  int64_t ndim_;  // the input rank: pool_dimensions + 2
};

class GlobalAveragePooling2D : public LayerOf<GlobalAveragePooling2D, BaseGlobalPooling> {
 public:
  using Options = GlobalPoolingOptions;
  explicit GlobalAveragePooling2D(const GlobalPoolingOptions& options = {});
  static GlobalAveragePooling2D from_config(const json& config);

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;
};

class GlobalMaxPooling1D : public LayerOf<GlobalMaxPooling1D, BaseGlobalPooling> {
 public:
  using Options = GlobalPoolingOptions;
  explicit GlobalMaxPooling1D(const GlobalPoolingOptions& options = {});
  static GlobalMaxPooling1D from_config(const json& config);

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;
};

class GlobalMaxPooling2D : public LayerOf<GlobalMaxPooling2D, BaseGlobalPooling> {
 public:
  using Options = GlobalPoolingOptions;
  explicit GlobalMaxPooling2D(const GlobalPoolingOptions& options = {});
  static GlobalMaxPooling2D from_config(const json& config);

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;
};

}  // namespace minidl::layers
