#pragma once
// Recurrent cells: one time step of a recurrent layer (Keras's SimpleRNNCell, LSTMCell, GRUCell),
// and RNNCell, the base a user-written cell derives from. md::layers::RNN runs a cell over time.
//
//   md::layers::LSTMCell cell({.units = 8});
//   auto out = cell.call_all({x_t, h, c});   // x_t (batch, in); out = {h', h', c'}
//   md::layers::RNN rnn(cell, {.return_sequences = true});
//
// Weights have Keras's layouts: kernel (in, gates * units), recurrent_kernel (units, gates *
// units), bias (gates * units), with the gates in Keras's order (LSTM i, f, c, o; GRU z, r, h);
// GRU's bias is (2, 3 * units) with reset_after (input bias, then recurrent bias).
// dropout/recurrent_dropout follow Keras 3's DropoutRNNCell: the masks are drawn once per call of
// the RNN (begin_sequence) and reused at every step, then dropped (end_sequence). A training call
// draws one input mask (batch, features) shared by every gate, except when recurrent_dropout is
// set: then LSTM/GRU run Keras's "implementation 1" and draw one input mask and one recurrent mask
// (batch, units) per gate (4 for LSTM, 3 for GRU), each gate's product seeing its own dropped copy
// of x and h. SimpleRNN draws one of each.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "minidl/layers/activations.h"
#include "minidl/layers/initializers.h"
#include "minidl/layers/layer.h"

namespace minidl::layers {

// The base of every cell. A cell called as a layer takes the list [x, states...] and returns
// [output, new states...]; RNN calls step() directly.
//   class MinimalCell : public md::LayerOf<MinimalCell, md::layers::RNNCell> { ... step() ... };
class RNNCell : public Layer {
 public:
  using Layer::Layer;
  // One size per state tensor (Keras's state_size); each state is (batch, size).
  virtual std::vector<int64_t> state_size() const = 0;
  // The width of step()'s output (Keras's output_size); the first state's by default.
  virtual int64_t output_size() const { return state_size().at(0); }
  // Zeros, one (batch, size) tensor per state (Keras's get_initial_state).
  virtual std::vector<Tensor> get_initial_state(int64_t batch_size) const;
  // One step: x (batch, features) and the states give {output, new states...}.
  virtual std::vector<Tensor> step(const Tensor& x, const std::vector<Tensor>& states, bool training) = 0;
  // Called by RNN before and after the steps of one sequence (dropout masks live in between).
  virtual void begin_sequence(const Tensor& /*first_input*/, const std::vector<Tensor>& /*states*/,
                              bool /*training*/) {}
  virtual void end_sequence() {}
  // A fused sequence op (md::ops::lstm_sequence and friends) in place of the steps, for the cells
  // that have one: whether this call fits it, and the whole sequence through it, {outputs (batch,
  // time, output_size) in processing order, final states...}. A user-written cell has none.
  virtual bool fused_sequence_fits(bool /*training*/) const { return false; }
  virtual std::vector<Tensor> fused_sequence(const Tensor& x, const std::vector<Tensor>& initial_state,
                                             bool go_backwards, bool training);
  // The feature shape a step sees, from a build shape: the first shape of a list (the cell
  // called on [x, states...]) or the shape itself.
  static Shape step_input_shape(const ShapeSpec& input_shape);

 protected:
  std::vector<Tensor> call(const CallArgs& args, const CallContext& ctx) override;
  using Layer::compute_output_spec;
  std::vector<Tensor> compute_output_spec(const CallArgs& args, const CallContext& ctx) override;
};

struct SimpleRNNCellOptions {
  int64_t units = 0;
  minidl::Activation activation = "tanh";
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer recurrent_initializer = "orthogonal";
  Initializer bias_initializer = "zeros";
  RegularizerArg kernel_regularizer{};
  RegularizerArg recurrent_regularizer{};
  RegularizerArg bias_regularizer{};
  ConstraintArg kernel_constraint{};
  ConstraintArg recurrent_constraint{};
  ConstraintArg bias_constraint{};
  double dropout = 0.0;            // clipped to [0, 1], as Keras does
  double recurrent_dropout = 0.0;
  std::optional<uint64_t> seed{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

struct LSTMCellOptions {
  int64_t units = 0;
  minidl::Activation activation = "tanh";
  minidl::Activation recurrent_activation = "sigmoid";
  bool use_bias = true;
  Initializer kernel_initializer = "glorot_uniform";
  Initializer recurrent_initializer = "orthogonal";
  Initializer bias_initializer = "zeros";
  bool unit_forget_bias = true;  // the forget gate's bias starts at one
  RegularizerArg kernel_regularizer{};
  RegularizerArg recurrent_regularizer{};
  RegularizerArg bias_regularizer{};
  ConstraintArg kernel_constraint{};
  ConstraintArg recurrent_constraint{};
  ConstraintArg bias_constraint{};
  double dropout = 0.0;
  double recurrent_dropout = 0.0;
  std::optional<uint64_t> seed{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

struct GRUCellOptions {
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
  ConstraintArg kernel_constraint{};
  ConstraintArg recurrent_constraint{};
  ConstraintArg bias_constraint{};
  double dropout = 0.0;
  double recurrent_dropout = 0.0;
  bool reset_after = true;  // Keras 3's default (cuDNN/oneDNN lbr_gru form): r applies after the matmul
  std::optional<uint64_t> seed{};
  std::string name{};
  bool trainable = true;
  std::string dtype = "float32";
};

// What the three built-in cells share: their weights, their dropout masks and how they are made.
class GatedCell : public RNNCell {
 public:
  const Variable& kernel() const { return state_->kernel; }
  const Variable& recurrent_kernel() const { return state_->recurrent_kernel; }
  const Variable& bias() const { return state_->bias; }  // undefined without use_bias
  int64_t units() const { return units_; }
  double dropout() const { return dropout_; }
  double recurrent_dropout() const { return recurrent_dropout_; }
  // How many masks of each kind a training call draws: one per gate with recurrent_dropout
  // (Keras's implementation 1), else one.
  int64_t dropout_mask_count() const { return recurrent_dropout_ != 0.0 ? gates_ : 1; }
  // This call's masks (empty outside a training call with that dropout); each is 0 or
  // 1 / (1 - rate), the input ones (batch, features), the recurrent ones (batch, units).
  const std::vector<Tensor>& dropout_masks() const { return state_->dropout_masks; }
  const std::vector<Tensor>& recurrent_dropout_masks() const { return state_->recurrent_dropout_masks; }
  void begin_sequence(const Tensor& first_input, const std::vector<Tensor>& states, bool training) override;
  void end_sequence() override;
  // The fused op fits Keras's default activations (fused_activations()) without recurrent dropout
  // in training (one input mask serves every step; recurrent masks need the steps).
  bool fused_sequence_fits(bool training) const override;
  std::vector<Tensor> fused_sequence(const Tensor& x, const std::vector<Tensor>& initial_state, bool go_backwards,
                                     bool training) override;

 protected:
  GatedCell(const std::string& class_name, const std::string& name, bool trainable, const std::string& dtype,
            int64_t units, int64_t gates, double dropout, double recurrent_dropout, std::optional<uint64_t> seed);
  // Creates kernel, recurrent_kernel and (when `bias_shape` is not empty) bias.
  void make_weights(const ShapeSpec& input_shape, const WeightOptions& kernel, const WeightOptions& recurrent,
                    const Shape& bias_shape, const WeightOptions& bias);
  // x and h as each gate sees them: {x} without dropout, else x times each of the call's masks
  // (drawn now when a training step comes without begin_sequence, as Keras's get_dropout_mask).
  std::vector<Tensor> dropped_inputs(const Tensor& x, bool training);
  std::vector<Tensor> dropped_states(const Tensor& h, bool training);
  // operands[g] @ kernel's gate g, side by side ((batch, gates * units)); one product when
  // every gate sees the same operand. `first_gate` offsets into kernel's gates.
  Tensor gate_products(const std::vector<Tensor>& operands, const Tensor& kernel, int64_t gates,
                       int64_t first_gate = 0) const;
  // This cell's fused op: whether its activations are ones the op computes, and the op itself on
  // x with the input dropout already applied.
  virtual bool fused_activations() const = 0;
  virtual std::vector<Tensor> sequence_op(const Tensor& x, const std::vector<Tensor>& initial_state,
                                          bool go_backwards) const = 0;
  // The bias's value, or an undefined tensor without use_bias.
  Tensor bias_value() const { return state_->bias.defined() ? state_->bias.value() : Tensor(); }

  int64_t units_;
  int64_t gates_;
  double dropout_, recurrent_dropout_;
  std::optional<uint64_t> seed_;
  struct State {
    Variable kernel, recurrent_kernel, bias;
    std::vector<Tensor> dropout_masks, recurrent_dropout_masks;
  };
  Shared<State> state_;

 private:
  std::vector<Tensor> draw_masks(const Shape& shape, double rate);
};

// h' = activation(x @ kernel + h @ recurrent_kernel + bias) (Keras's SimpleRNNCell).
class SimpleRNNCell : public LayerOf<SimpleRNNCell, GatedCell> {
 public:
  using Options = SimpleRNNCellOptions;
  explicit SimpleRNNCell(const SimpleRNNCellOptions& options);
  static SimpleRNNCell from_config(const json& config);
  json get_config() const override;
  std::vector<int64_t> state_size() const override { return {units_}; }
  std::vector<Tensor> step(const Tensor& x, const std::vector<Tensor>& states, bool training) override;
  const SimpleRNNCellOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  bool fused_activations() const override;
  std::vector<Tensor> sequence_op(const Tensor& x, const std::vector<Tensor>& initial_state,
                                  bool go_backwards) const override;

 private:
  SimpleRNNCellOptions options_;
};

// Keras's LSTMCell: states {h, c}; z = x @ kernel + h @ recurrent_kernel + bias split into
// i, f, c, o; c' = f * c + i * activation(z_c), h' = o * activation(c') with the gates through
// recurrent_activation.
class LSTMCell : public LayerOf<LSTMCell, GatedCell> {
 public:
  using Options = LSTMCellOptions;
  explicit LSTMCell(const LSTMCellOptions& options);
  static LSTMCell from_config(const json& config);
  json get_config() const override;
  std::vector<int64_t> state_size() const override { return {units_, units_}; }
  int64_t output_size() const override { return units_; }
  std::vector<Tensor> step(const Tensor& x, const std::vector<Tensor>& states, bool training) override;
  const LSTMCellOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  bool fused_activations() const override;
  std::vector<Tensor> sequence_op(const Tensor& x, const std::vector<Tensor>& initial_state,
                                  bool go_backwards) const override;

 private:
  LSTMCellOptions options_;
};

// Keras's GRUCell: gates z, r, h; h' = z * h + (1 - z) * activation(x_h + r * (h @ U_h + b_h))
// with reset_after, activation(x_h + (r * h) @ U_h) without.
class GRUCell : public LayerOf<GRUCell, GatedCell> {
 public:
  using Options = GRUCellOptions;
  explicit GRUCell(const GRUCellOptions& options);
  static GRUCell from_config(const json& config);
  json get_config() const override;
  std::vector<int64_t> state_size() const override { return {units_}; }
  std::vector<Tensor> step(const Tensor& x, const std::vector<Tensor>& states, bool training) override;
  const GRUCellOptions& options() const { return options_; }

 protected:
  void build_weights(const ShapeSpec& input_shape) override;
  bool fused_activations() const override;
  std::vector<Tensor> sequence_op(const Tensor& x, const std::vector<Tensor>& initial_state,
                                  bool go_backwards) const override;

 private:
  GRUCellOptions options_;
};

}  // namespace minidl::layers
