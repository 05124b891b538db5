#pragma once
// Merge: the base of the layers that combine a list of inputs (Keras's Merge): Add,
// Concatenate. It checks the input shapes when it builds (Keras's error texts), lines up
// inputs of different ranks by inserting axes after the batch axis, and ORs the input masks
// (the output step is kept when any input keeps it).
//   md::Tensor y = md::layers::Add()({a, b});
// Subclasses implement merge_function().
#include <memory>
#include <string>
#include <vector>

#include "minidl/layers/layer.h"

namespace minidl::layers {

class Merge : public Layer {
 public:
  bool supports_masking() const override { return true; }
  // Keras's Merge.compute_mask: none unless every input has a mask, else their logical OR.
  Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) override;
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  using Layer::compute_output_spec;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;

 protected:
  Merge(std::string class_name, std::string name, bool trainable, std::string dtype);
  virtual Tensor merge_function(const std::vector<Tensor>& inputs) = 0;
  // Keras's Merge.build: shape validation only (no weights).
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;
  // Checks that mask and inputs are lists of the same length (Keras's texts).
  void check_mask_arguments(const CallArgs& args, const std::vector<Tensor>& masks) const;

  struct State {
    bool reshape_required = false;  // whether inputs of different ranks must be lined up
  };
  Shared<State> state_;
};

}  // namespace minidl::layers
