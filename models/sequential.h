#pragma once
// Sequential: a plain stack of single-input layers (Keras's Sequential). It builds its graph
// when the input shape is known: from a leading md::Input, an explicit build(), or the first
// call.
//   md::Sequential model({md::layers::Dense({.units = 256, .activation = "relu"}),
//                         md::layers::Dense({.units = 10})});
//   md::Tensor logits = model(x);          // builds from x's shape
//   model.add(md::layers::Dropout({.rate = 0.1f}));
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "minidl/models/model.h"

namespace minidl {

// A layer for Sequential: any layer object (copied as a handle that shares its state), a
// shared_ptr to one, or an md::Input tensor (its InputLayer).
class LayerRef {
 public:
  LayerRef(const Layer& layer);                     // NOLINT: implicit by design
  LayerRef(std::shared_ptr<Layer> layer);           // NOLINT
  LayerRef(const Tensor& input);                    // NOLINT
  const std::shared_ptr<Layer>& get() const { return layer_; }

 private:
  std::shared_ptr<Layer> layer_;
};

class Sequential : public LayerOf<Sequential, Model> {
 public:
  explicit Sequential(std::initializer_list<LayerRef> layers = {}, const std::string& name = {});
  explicit Sequential(const std::vector<LayerRef>& layers, const std::string& name = {});
  // Copies are handles to the same Sequential (a copy into an md::Model is its functional
  // model: models/model.h).
  Sequential(const Sequential& other);
  Sequential& operator=(const Sequential& other);
  // Keras's Sequential config; Keras 2's form loads too (models/keras2_config.h).
  static Sequential from_config(const json& config);

  // Appends a layer; throws for a duplicate name or a second input layer (Keras's texts).
  void add(const LayerRef& layer);
  // Removes the last layer.
  void pop();
  // The layers, without the InputLayer (as Keras's Sequential.layers).
  std::vector<std::shared_ptr<Layer>> layers() const;

  json get_config() const override;
  json get_build_config() const override;
  std::string module() const override { return "keras"; }
  std::optional<std::string> registered_name() const override { return std::nullopt; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  void rebuild();
  struct Stack {
    std::vector<std::shared_ptr<Layer>> layers;  // the InputLayer first, when there is one
  };
  Shared<Stack> stack_;
};

}  // namespace minidl
