#pragma once
// Concatenate: joins a list of inputs along `axis` (Keras's Concatenate).
//   md::layers::Concatenate concat;                  // axis -1
//   md::Tensor y = concat({a, b});                   // (B, T, 3), (B, T, 5) -> (B, T, 8)
//   md::layers::Concatenate({.axis = 1})({a, b});    // (B, 4, D), (B, 4, D) -> (B, 8, D)
// Output mask (when some input has one): the inputs' masks, with all-true masks for unmasked
// inputs, broadcast to the input shapes, concatenated along `axis` and reduced with "any"
// over the last axis, as Keras does.
#include <string>

#include "minidl/layers/merge.h"

namespace minidl::layers {

struct ConcatenateOptions {
  int64_t axis = -1;
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Concatenate : public LayerOf<Concatenate, Merge> {
 public:
  using Options = ConcatenateOptions;
  explicit Concatenate(const ConcatenateOptions& options = {});
  static Concatenate from_config(const json& config);
  json get_config() const override;
  Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;

  const ConcatenateOptions& options() const { return options_; }

 protected:
  // Keras's Concatenate.build: every dim but the concatenation axis must match (None matches).
  void build_weights(const ShapeSpec& input_shape) override;
  Tensor merge_function(const std::vector<Tensor>& inputs) override;

 private:
  ConcatenateOptions options_;
};

}  // namespace minidl::layers
