#pragma once
// The demo's model (examples/fashion_mnist_attention.cpp): each 28x28 image is a sequence of 28
// rows.
//
//   rows (28, 28) -> Dense(128) -> + learned row positions -> relu = h
//   -> AdditiveAttention([h, h]) + h -> LayerNormalization -> Dense(128, relu)
//   -> GlobalAveragePooling1D -> Dense(10)
//
// Attention and average pooling ignore the order of the rows, so a learned position vector is
// added to each projected row (RowPosition: a custom layer in ten lines). The interop check
// (tools/interop) saves this model for Keras, and tests/keras loads Keras's copy of it, whose
// RowPosition is tools/keras_reference/fixtures/custom_layers.py.
//
// The header registers RowPosition (MINIDL_REGISTER_LAYER): include it from one source file of
// a program.
#include <minidl/minidl.h>

#include <string>

namespace fashion_mnist_attention {

namespace md = minidl;

struct RowPositionOptions {
  std::string name{};
};

// Adds a learned vector per sequence position: y[b, t, :] = x[b, t, :] + position[t, :].
class RowPosition : public md::LayerOf<RowPosition> {
 public:
  explicit RowPosition(const RowPositionOptions& options = {}) : LayerOf("RowPosition", options.name) {}
  static RowPosition from_config(const md::json& config) { return RowPosition({.name = config.value("name", "")}); }

 protected:
  void build_weights(const md::ShapeSpec& input_shape) override {
    const md::Shape& s = input_shape.shape();
    state_->position = add_weight("position", {s[s.size() - 2], s.back()},
                                  md::Initializer::random_normal(0.0, 0.02));
  }
  std::vector<md::Tensor> call(const md::CallArgs& args, const md::CallContext&) override {
    return {args.input() + state_->position.value()};
  }

 private:
  struct State {
    md::Variable position;
  };
  md::Shared<State> state_;
};
MINIDL_REGISTER_LAYER(RowPosition);

// The uncompiled model, its layers named as the demo names them.
inline md::Model build_model() {
  const md::Tensor rows = md::Input({28, 28}, "image_rows");
  md::Tensor h = md::layers::Dense({.units = 128, .name = "row_projection"})(rows);
  h = md::layers::Activation({.activation = "relu", .name = "row_features"})(RowPosition({.name = "row_position"})(h));
  const md::Tensor a = md::layers::AdditiveAttention({.name = "self_attention"})({h, h});
  h = md::layers::LayerNormalization({.name = "attention_norm"})(md::layers::Add({.name = "residual"})({h, a}));
  h = md::layers::Dense({.units = 128, .activation = "relu", .name = "token_mlp"})(h);
  h = md::layers::GlobalAveragePooling1D({.name = "pool"})(h);
  const md::Tensor logits = md::layers::Dense({.units = 10, .name = "logits"})(h);
  return md::Model(rows, logits, "fashion_mnist_attention");
}

}  // namespace fashion_mnist_attention
