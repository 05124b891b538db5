#pragma once
// Bidirectional: runs a recurrent layer forwards and a copy of it backwards over the same
// sequence and merges the two outputs (Keras's Bidirectional).
//   md::layers::Bidirectional bi(md::layers::LSTM({.units = 16, .return_sequences = true}));
//   md::Tensor y = bi(x);      // (B, T, F) -> (B, T, 32) with merge_mode "concat"
// The forward layer is a copy of `layer` named "forward_<name>"; the backward one is
// `backward_layer` when given, else a copy with go_backwards flipped named "backward_<name>".
// With return_sequences the backward outputs are flipped back to time order before merging,
// and both layers output zeros on masked steps (Keras forces zero_output_for_mask).
// merge_mode "concat", "sum", "mul", "ave", or none (std::nullopt): then the two outputs are
// separate (call_all gives {forward, backward, states...}).
#include <optional>
#include <string>

#include "minidl/layers/rnn.h"

namespace minidl::layers {

struct BidirectionalOptions {
  std::optional<std::string> merge_mode = "concat";
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

class Bidirectional : public LayerOf<Bidirectional> {
 public:
  using Options = BidirectionalOptions;
  explicit Bidirectional(const RNN& layer, const BidirectionalOptions& options = {},
                         const RNN* backward_layer = nullptr);
  static Bidirectional from_config(const json& config);
  json get_config() const override;
  bool supports_masking() const override { return true; }
  Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) override;
  using Layer::compute_output_spec;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;

  // layer(x, initial_state=[forward states..., backward states...]).
  std::vector<Tensor> call_with_state(const Tensor& x, const std::vector<Tensor>& initial_state,
                                      const CallOptions& options = {});
  void reset_states();

  RNN& forward_layer() const { return *forward_; }
  RNN& backward_layer() const { return *backward_; }
  // Keras files them at "<layer>/forward_layer" and "<layer>/backward_layer".
  std::vector<std::pair<std::string, std::shared_ptr<Layer>>> saved_sublayers() const override;
  const BidirectionalOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

 private:
  // The merged outputs of the two directions' first outputs, then their states.
  std::vector<Tensor> merge(std::vector<Tensor> forward, std::vector<Tensor> backward) const;
  std::shared_ptr<RNN> forward_, backward_;
  BidirectionalOptions options_;
};

}  // namespace minidl::layers
