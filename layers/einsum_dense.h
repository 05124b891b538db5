#pragma once
// EinsumDense: y = activation(einsum(equation, x, kernel) + bias), Keras's EinsumDense. The
// kernel's shape comes from the equation and the input and output shapes; `bias_axes` names the
// output letters the bias spans (Keras's broadcasting rules).
//
//   md::layers::EinsumDense proj({.equation = "abc,cde->abde", .output_shape = {md::None, 4, 16},
//                                 .bias_axes = "de"});
//   md::Tensor y = proj(x);   // x (batch, T, 64) -> y (batch, T, 4, 16); kernel (64, 4, 16)
//
// Equations as Keras's: "[X],[Y]->[Z]", "...[X],[Y]->...[Z]" or "[X]...,[Y]->[Z]..." with every
// kernel letter in the input or the output. The product runs as one matmul
// (minidl/layers/einsum.h); a form it does not support fails with a ValueError naming it.
#include <optional>
#include <string>
#include <vector>

#include "minidl/layers/activations.h"
#include "minidl/layers/initializers.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

struct EinsumDenseOptions {
  std::string equation{};
  std::vector<int64_t> output_shape{};  // without the batch axis; md::None for axes taken from the input
  minidl::Activation activation = "linear";
  std::optional<std::string> bias_axes{};  // none: no bias
  Initializer kernel_initializer = "glorot_uniform";
  Initializer bias_initializer = "zeros";
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class EinsumDense : public LayerOf<EinsumDense> {
 public:
  using Options = EinsumDenseOptions;
  explicit EinsumDense(const EinsumDenseOptions& options);
  static EinsumDense from_config(const json& config);
  json get_config() const override;
  // Keras's: axes that output_shape leaves None stay None (also in symbolic calls).
  ShapeSpec compute_output_shape(const ShapeSpec& input_shape) override;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;

  const Variable& kernel() const { return state_->kernel; }
  const Variable& bias() const { return state_->bias; }  // undefined without bias_axes
  const EinsumDenseOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  EinsumDenseOptions options_;
  struct State {
    Variable kernel, bias;
  };
  Shared<State> state_;
};

}  // namespace minidl::layers
