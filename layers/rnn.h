#pragma once
// Recurrent layers: RNN runs any cell (layers/rnn_cells.h) over the time axis of (batch, time,
// features) inputs, as Keras's RNN; SimpleRNN, LSTM and GRU are RNN over their built-in cell with
// the cell's options in their own config, as Keras's.
//
//   md::layers::LSTM lstm({.units = 32, .return_sequences = true});
//   md::Tensor y = lstm(x);                                   // (B, T, F) -> (B, T, 32)
//   auto [y2, h, c] = ...lstm2.call_with_state(x, {h0, c0});  // with return_state: {y, h, c}
//   md::layers::RNN rnn(MyCell(...), {.go_backwards = true}); // a user-written cell
//
// Masks (Embedding(mask_zero), Masking) are honoured: a masked step keeps the previous states,
// and its output is the previous output (zeros with zero_output_for_mask, which Bidirectional
// sets for return_sequences), as Keras's backend rnn. The output mask is the input mask with
// return_sequences, none otherwise. With go_backwards the sequence output is in processing
// order (reversed), as Keras's.
//
// The composed path (each step written with md::ops, unrolled inside one call) is differentiable
// to any order; it is the reference. Over the built-in cells (SimpleRNN, LSTM, GRU, or RNN over
// their cells) a call takes the cell's fused sequence op instead (md::ops::lstm_sequence and
// friends: one op for the whole sequence, forward and backward) when fused_sequence_allowed()
// says it fits: Keras's default activations (tanh and sigmoid; SimpleRNN also relu), no mask, and
// no recurrent dropout in training. Input dropout, initial states, go_backwards and stateful run
// on both paths. ComposedRecurrenceGuard forces the composed path (tests compare the two).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minidl/layers/rnn_cells.h"

namespace minidl::layers {

struct RNNOptions {
  bool return_sequences = false;  // the whole sequence (batch, time, units), else the last output
  bool return_state = false;      // also the final states, as extra outputs
  bool go_backwards = false;      // process the sequence from the last step to the first
  bool stateful = false;          // the final states of one call start the next (fixed batch size)
  bool unroll = false;            // accepted for Keras's configs; the loop is always unrolled
  bool zero_output_for_mask = false;
  RegularizerArg activity_regularizer{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

// While alive, SimpleRNN, LSTM and GRU called on this thread run the composed cell loop even where
// the fused sequence op fits (the tests replay every Keras fixture through both paths).
//   { md::layers::ComposedRecurrenceGuard composed; y = lstm(x); }
class ComposedRecurrenceGuard {
 public:
  ComposedRecurrenceGuard();
  ~ComposedRecurrenceGuard();
  ComposedRecurrenceGuard(const ComposedRecurrenceGuard&) = delete;
  ComposedRecurrenceGuard& operator=(const ComposedRecurrenceGuard&) = delete;
  static bool active();
};

class RNN : public LayerOf<RNN> {
 public:
  using Options = RNNOptions;
  // `cell` is shared, as in Keras (the RNN uses that cell and its weights).
  explicit RNN(const RNNCell& cell, const RNNOptions& options = {});
  static RNN from_config(const json& config);
  json get_config() const override;
  bool supports_masking() const override { return true; }
  Tensor compute_mask(const CallArgs& args, const std::vector<Tensor>& masks) override;
  using Layer::compute_output_spec;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;

  // layer(x, initial_state=[...]): all the outputs ({y} or {y, states...} with return_state).
  std::vector<Tensor> call_with_state(const Tensor& x, const std::vector<Tensor>& initial_state,
                                      const CallOptions& options = {});
  // stateful: the current states (empty before the first build), and their reset to zeros.
  std::vector<Tensor> states() const;
  void reset_states();
  void reset_state() { reset_states(); }

  // Whether a call with this mask runs the cell's fused sequence op (RNNCell::fused_sequence_fits:
  // the built-in cells with Keras's default activations, no recurrent dropout in training) rather
  // than stepping the cell: never with a mask or under ComposedRecurrenceGuard.
  bool fused_sequence_allowed(const Tensor& mask, bool training) const;
  // Whether the last concrete call ran a fused sequence op (false: the composed cell loop).
  bool last_call_fused() const { return state_->last_call_fused; }

  RNNCell& cell() const { return *cell_; }
  // Keras files the cell's weights at "<rnn>/cell".
  std::vector<std::pair<std::string, std::shared_ptr<Layer>>> saved_sublayers() const override;
  const RNNOptions& rnn_options() const { return options_; }

 protected:
  // For SimpleRNN/LSTM/GRU: the cell they create, and their Keras class name.
  RNN(std::shared_ptr<RNNCell> cell, const RNNOptions& options, const std::string& class_name);
  void build_weights(const ShapeSpec& input_shape) override;
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;

  struct SequenceResult {
    Tensor outputs;      // (batch, time, output_size) in processing order; undefined without return_sequences
    Tensor last_output;  // (batch, output_size)
    std::vector<Tensor> states;
  };
  // Runs the cell over x (batch, time, features) from `initial_state`, with `mask` (batch, time)
  // or undefined: the cell's fused sequence op where fused_sequence_allowed, else run_cell_loop.
  SequenceResult run_sequence(const Tensor& x, const std::vector<Tensor>& initial_state, const Tensor& mask,
                              bool training);
  // The composed path: the cell's step() once per time step.
  SequenceResult run_cell_loop(const Tensor& x, const std::vector<Tensor>& initial_state, const Tensor& mask,
                               bool training);
  // The RNN keys of get_config (Keras's order), after the base layer's.
  json rnn_config() const;
  static RNNOptions read_rnn_options(const ConfigReader& r);

 private:
  std::shared_ptr<RNNCell> cell_;
  RNNOptions options_;
  struct State {
    std::vector<Tensor> states;  // stateful only; not weights (Keras keeps them untracked)
    bool last_call_fused = false;
  };
  Shared<State> state_;
};

struct SimpleRNNOptions {
  int64_t units = 0;
  minidl::Activation activation = "tanh";
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer recurrent_initializer = "orthogonal";
  Initializer bias_initializer = "zeros";
  RegularizerArg kernel_regularizer{};
  RegularizerArg recurrent_regularizer{};
  RegularizerArg bias_regularizer{};
  RegularizerArg activity_regularizer{};
  ConstraintArg kernel_constraint{};
  ConstraintArg recurrent_constraint{};
  ConstraintArg bias_constraint{};
  double dropout = 0.0;
  double recurrent_dropout = 0.0;
  std::optional<uint64_t> seed{};  // used, but not written (Keras's SimpleRNN config has no seed)
  bool return_sequences = false;
  bool return_state = false;
  bool go_backwards = false;
  bool stateful = false;
  bool unroll = false;
  bool zero_output_for_mask = false;
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

struct LSTMOptions {
  int64_t units = 0;
  minidl::Activation activation = "tanh";
  minidl::Activation recurrent_activation = "sigmoid";
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer recurrent_initializer = "orthogonal";
  Initializer bias_initializer = "zeros";
  bool unit_forget_bias = true;
  RegularizerArg kernel_regularizer{};
  RegularizerArg recurrent_regularizer{};
  RegularizerArg bias_regularizer{};
  RegularizerArg activity_regularizer{};
  ConstraintArg kernel_constraint{};
  ConstraintArg recurrent_constraint{};
  ConstraintArg bias_constraint{};
  double dropout = 0.0;
  double recurrent_dropout = 0.0;
  std::optional<uint64_t> seed{};
  bool return_sequences = false;
  bool return_state = false;
  bool go_backwards = false;
  bool stateful = false;
  bool unroll = false;
  bool zero_output_for_mask = false;
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

struct GRUOptions {
  int64_t units = 0;
  minidl::Activation activation = "tanh";
  minidl::Activation recurrent_activation = "sigmoid";
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer recurrent_initializer = "orthogonal";
  Initializer bias_initializer = "zeros";
  RegularizerArg kernel_regularizer{};
  RegularizerArg recurrent_regularizer{};
  RegularizerArg bias_regularizer{};
  RegularizerArg activity_regularizer{};
  ConstraintArg kernel_constraint{};
  ConstraintArg recurrent_constraint{};
  ConstraintArg bias_constraint{};
  double dropout = 0.0;
  double recurrent_dropout = 0.0;
  bool reset_after = true;
  std::optional<uint64_t> seed{};
  bool return_sequences = false;
  bool return_state = false;
  bool go_backwards = false;
  bool stateful = false;
  bool unroll = false;
  bool zero_output_for_mask = false;
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

// Keras's SimpleRNN: RNN over a SimpleRNNCell named "simple_rnn_cell".
//   md::layers::SimpleRNN rnn({.units = 16});
class SimpleRNN : public LayerOf<SimpleRNN, RNN> {
 public:
  using Options = SimpleRNNOptions;
  explicit SimpleRNN(const SimpleRNNOptions& options);
  static SimpleRNN from_config(const json& config);
  json get_config() const override;
  SimpleRNNCell& simple_rnn_cell() const { return static_cast<SimpleRNNCell&>(cell()); }
  const SimpleRNNOptions& options() const { return options_; }

 private:
  SimpleRNNOptions options_;
};

// Keras's LSTM: RNN over an LSTMCell named "lstm_cell"; weights lstm/lstm_cell/{kernel,
// recurrent_kernel, bias} with the gates i, f, c, o.
//   md::layers::LSTM lstm({.units = 128, .activation = "relu"});
class LSTM : public LayerOf<LSTM, RNN> {
 public:
  using Options = LSTMOptions;
  explicit LSTM(const LSTMOptions& options);
  static LSTM from_config(const json& config);
  json get_config() const override;
  LSTMCell& lstm_cell() const { return static_cast<LSTMCell&>(cell()); }
  const LSTMOptions& options() const { return options_; }

 private:
  LSTMOptions options_;
};

// Keras's GRU (reset_after true by default): RNN over a GRUCell named "gru_cell".
//   md::layers::GRU gru({.units = 64, .reset_after = false});
class GRU : public LayerOf<GRU, RNN> {
 public:
  using Options = GRUOptions;
  explicit GRU(const GRUOptions& options);
  static GRU from_config(const json& config);
  json get_config() const override;
  GRUCell& gru_cell() const { return static_cast<GRUCell&>(cell()); }
  const GRUOptions& options() const { return options_; }

 private:
  GRUOptions options_;
};

}  // namespace minidl::layers
