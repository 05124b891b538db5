#pragma once
// What the reshaping layers (ZeroPadding, Cropping, UpSampling) share: their base, and the
// (before, after) amounts of padding and cropping layers, given as Keras takes them: one
// number for both sides, a pair, or (for 2-D layers) one number or pair per spatial axis.
//   md::layers::ZeroPadding1D({.padding = 2});                 // (2, 2)
//   md::layers::ZeroPadding1D({.padding = {1, 3}});            // (1, 3)
//   md::layers::ZeroPadding2D({.padding = {1, 2}});            // height (1, 1), width (2, 2)
//   md::layers::ZeroPadding2D({.padding = {{1, 0}, {2, 3}}});  // ((top, bottom), (left, right))
#include <cstdint>
#include <string>
#include <vector>

#include "minidl/core/json.h"
#include "minidl/layers/layer.h"

namespace minidl {

class ConfigReader;

namespace layers {

// The base of the reshaping layers: their symbolic output is their compute_output_shape (their
// calls make constant tensors of the input's sizes, which a placeholder with unknown sizes has
// not got). A layer derives from LayerOf<Itself, ReshapingLayer>.
class ReshapingLayer : public Layer {
 public:
  ReshapingLayer(std::string class_name, std::string name, bool trainable, std::string dtype)
      : Layer(std::move(class_name), std::move(name), trainable, std::move(dtype)) {}
  using Layer::compute_output_spec;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;
};

struct SidePair {
  SidePair(int64_t both = 0) : before(both), after(both), symmetric(true) {}  // NOLINT: as Keras's int
  SidePair(int64_t before_, int64_t after_) : before(before_), after(after_) {}
  int64_t before, after;
  bool symmetric = false;  // given as one number (for Keras's error texts)
  int64_t total() const { return before + after; }
  json to_json() const { return json::array({before, after}); }
  // Keras's standardize_tuple(value, 2, name, allow_zero=True): both entries >= 0, else
  // ValueError with Keras's message.
  void check(const std::string& name) const;
};

struct SidePairs2D {
  SidePairs2D(int64_t both = 0) : height(both), width(both) {}  // NOLINT
  SidePairs2D(SidePair height_, SidePair width_) : height(height_), width(width_) {}
  SidePair height, width;
  json to_json() const { return json::array({height.to_json(), width.to_json()}); }
};

// A pair under `key` of a config: an integer or a list of two; ValueError (Keras's text) otherwise.
SidePair side_pair_from(const ConfigReader& r, const std::string& key, const json& value);
// ((a, b), (c, d)), (h, w) or one integer under `key`.
SidePairs2D side_pairs_2d_from(const ConfigReader& r, const std::string& key, const json& value);

}  // namespace layers
}  // namespace minidl
