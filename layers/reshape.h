#pragma once
// Reshape: gives each sample a new shape; the batch axis is kept (Keras's Reshape).
//   md::layers::Reshape reshape({.target_shape = {-1, 8}});   // one -1 is inferred
//   md::Tensor y = reshape(x);                                 // (B, 6, 4) -> (B, 3, 8)
// Works on symbolic inputs with an unknown (None) batch: Input({6, 4}) -> (None, 3, 8).
#include <string>

#include "minidl/layers/layer.h"

namespace minidl::layers {

struct ReshapeOptions {
  Shape target_shape{};  // without the batch axis; at most one -1
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Reshape : public LayerOf<Reshape> {
 public:
  using Options = ReshapeOptions;
  explicit Reshape(const ReshapeOptions& options);
  static Reshape from_config(const json& config);
  json get_config() const override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  using Layer::compute_output_spec;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;

  const ReshapeOptions& options() const { return options_; }

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  ReshapeOptions options_;
};

}  // namespace minidl::layers
