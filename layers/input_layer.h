#pragma once
// InputLayer and md::Input: where a functional graph starts.
//   md::Tensor x = md::Input({28, 28}, "pixels");     // symbolic, shape (None, 28, 28)
//   md::Tensor q = md::Input({md::None, 16});          // unknown sequence length
// md::Input creates an InputLayer and returns its output tensor (Keras's keras.Input).
#include <memory>
#include <optional>
#include <string>

#include "minidl/layers/layer.h"

namespace minidl {

namespace layers {

struct InputLayerOptions {
  Shape shape{};                         // without the batch dimension ...
  std::optional<int64_t> batch_size{};   // ... which is this, or None
  std::optional<Shape> batch_shape{};    // or the full shape, batch included (not with `shape`)
  std::string dtype = "float32";       // float32, int32 or bool
  bool sparse = false;
  bool ragged = false;
  bool optional = false;
  std::string name{};
};

class InputLayer : public LayerOf<InputLayer> {
 public:
  using Options = InputLayerOptions;
  // Creates the layer with its output tensor (a graph node with no inputs).
  static std::shared_ptr<InputLayer> create(const InputLayerOptions& options);
  static std::shared_ptr<InputLayer> from_config(const json& config);

  const Shape& batch_shape() const { return batch_shape_; }
  DType input_dtype() const { return dtype_; }
  json get_config() const override;
  // None: an InputLayer is built when it is made, as in Keras (no build_config is written).
  json get_build_config() const override { return nullptr; }

  explicit InputLayer(const InputLayerOptions& options);  // prefer create()
  // Gives a layer made with the constructor its output tensor, as create() does; Sequential
  // calls it so that Sequential({InputLayer({.shape = {4}}), ...}) works as in Keras.
  void attach_output();

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  Shape batch_shape_;
  DType dtype_ = DType::float32;
  struct State {
    // Its one node, held here as well as by the output tensor, so that the layer keeps its
    // output when nothing else does (Sequential keeps the layer, not the tensor). A node holds
    // its operation weakly, so this forms no cycle.
    std::shared_ptr<Node> node;
  };
  Shared<State> state_;
  bool sparse_ = false, ragged_ = false, optional_ = false;
};

}  // namespace layers

// A symbolic input of shape (None, *shape).
//   md::Input({28, 28});  md::Input({md::None, 16}, "value");
Tensor Input(const Shape& shape, const std::string& name = {}, DType dtype = DType::float32);

// The same from all of InputLayer's options, e.g. md::Input({.batch_shape = md::Shape{32, 10}}).
// A template only so that a braced shape such as md::Input({md::None, 3}) picks the overload
// above (a non-template wins a tie); a designated list can only be these options.
template <class Options = layers::InputLayerOptions>
Tensor Input(const Options& options) {
  return layers::InputLayer::create(options)->output();
}

}  // namespace minidl
