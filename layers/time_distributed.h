#pragma once
// TimeDistributed: applies a layer to every time step of (batch, time, ...) inputs (Keras's
// TimeDistributed), with the layer's weights shared across steps.
//   md::layers::TimeDistributed td(md::layers::Dense({.units = 8}));
//   md::Tensor y = td(x);      // (B, T, F) -> (B, T, 8)
// The steps are computed as one call of the layer on (batch * time, ...), which is the same
// computation for per-example layers (Dense, Conv2D, ...).
#include <memory>
#include <string>

#include "minidl/layers/layer.h"

namespace minidl::layers {

struct TimeDistributedOptions {
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class TimeDistributed : public LayerOf<TimeDistributed> {
 public:
  using Options = TimeDistributedOptions;
  explicit TimeDistributed(const Layer& layer, const TimeDistributedOptions& options = {});
  static TimeDistributed from_config(const json& config);
  json get_config() const override;
  bool supports_masking() const override { return true; }
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  using Layer::compute_output_spec;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;
  Layer& layer() const { return *layer_; }
  // Keras files the wrapped layer's weights at "<layer>/layer".
  std::vector<std::pair<std::string, std::shared_ptr<Layer>>> saved_sublayers() const override;

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  std::shared_ptr<Layer> layer_;
};

}  // namespace minidl::layers
