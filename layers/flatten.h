#pragma once
// Flatten: collapses every axis but the batch axis into one (Keras's Flatten).
//   md::layers::Flatten flat;                 // or Flatten({.data_format = "channels_first"})
//   md::Tensor y = flat(x);                   // (B, 3, 5, 5) -> (B, 75); (B,) -> (B, 1)
// With channels_first the channel axis is moved last before flattening, so the result matches
// a channels_last model's.
#include <string>

#include "minidl/layers/layer.h"

namespace minidl::layers {

struct FlattenOptions {
  std::string data_format = "channels_last";  // or "channels_first"; "" means channels_last
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Flatten : public LayerOf<Flatten> {
 public:
  using Options = FlattenOptions;
  explicit Flatten(const FlattenOptions& options = {});
  static Flatten from_config(const json& config);
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  using Layer::compute_output_spec;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;

  const FlattenOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  FlattenOptions options_;
};

}  // namespace minidl::layers
