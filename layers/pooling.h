#pragma once
// MaxPooling1D/2D and AveragePooling1D/2D (Keras's pooling layers): the max or the mean of each
// pool_size window, moved by strides over the spatial axes.
//   md::layers::MaxPooling2D pool;                                   // 2x2 windows, stride 2
//   md::Tensor y = pool(x);                                          // (64, 28, 28, 32) -> (64, 14, 14, 32)
//   md::layers::AveragePooling1D avg({.pool_size = {3}, .strides = {1}, .padding = "same"});
// pool_size and strides take one value (used on every spatial axis) or one per axis; strides {}
// means pool_size, as Keras's None. "same" padding averages only the real entries of a border
// window (Keras's rule). data_format "channels_last" is (batch, spatial..., channels).
#include <string>
#include <vector>

#include "minidl/layers/layer.h"

namespace minidl::layers {

// The options of the four layers; only pool_size's default differs: (2,) for MaxPooling1D,
// (2, 2) for MaxPooling2D, none (required) for the average poolings, as in Keras.
template <size_t kDefaultPoolDimensions>
struct BasicPoolingOptions {
  std::vector<int64_t> pool_size = std::vector<int64_t>(kDefaultPoolDimensions, 2);
  std::vector<int64_t> strides{};  // {} = pool_size
  std::string padding = "valid";   // or "same"
  std::string data_format = "channels_last";  // or "channels_first"; "" = channels_last
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};
using MaxPooling1DOptions = BasicPoolingOptions<1>;
using MaxPooling2DOptions = BasicPoolingOptions<2>;
using AveragePooling1DOptions = BasicPoolingOptions<0>;
using AveragePooling2DOptions = BasicPoolingOptions<0>;
using PoolingOptions = BasicPoolingOptions<0>;  // what BasePooling keeps

// Keras's BasePooling: what the four layers share (rank, mode, argument checks, config).
class BasePooling : public Layer {
 public:
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  // As Keras stores them: one value per spatial axis.
  const std::vector<int64_t>& pool_size() const { return pool_size_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  const std::string& padding() const { return padding_; }
  const std::string& data_format() const { return data_format_; }

 protected:
  BasePooling(const std::string& class_name, const PoolingOptions& options, size_t pool_dimensions, bool max);
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;
  // The options a subclass's from_config reads (Keras's keys).
  static PoolingOptions options_from_config(const json& config, const char* class_name);
  template <size_t K>
  static PoolingOptions common(const BasicPoolingOptions<K>& o) {
    return {o.pool_size, o.strides, o.padding, o.data_format, o.name, o.trainable, o.dtype};
  }

 private:
  std::vector<int64_t> pool_size_, strides_;
  std::string padding_, data_format_;
  bool max_;
};

class MaxPooling1D : public LayerOf<MaxPooling1D, BasePooling> {
 public:
  using Options = MaxPooling1DOptions;
  explicit MaxPooling1D(const MaxPooling1DOptions& options = {});
  static MaxPooling1D from_config(const json& config);
};

class MaxPooling2D : public LayerOf<MaxPooling2D, BasePooling> {
 public:
  using Options = MaxPooling2DOptions;
  explicit MaxPooling2D(const MaxPooling2DOptions& options = {});
  static MaxPooling2D from_config(const json& config);
};

class AveragePooling1D : public LayerOf<AveragePooling1D, BasePooling> {
 public:
  using Options = AveragePooling1DOptions;
  explicit AveragePooling1D(const AveragePooling1DOptions& options);
  static AveragePooling1D from_config(const json& config);
};

class AveragePooling2D : public LayerOf<AveragePooling2D, BasePooling> {
 public:
  using Options = AveragePooling2DOptions;
  explicit AveragePooling2D(const AveragePooling2DOptions& options);
  static AveragePooling2D from_config(const json& config);
};

}  // namespace minidl::layers
