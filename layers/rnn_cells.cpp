#include "minidl/layers/rnn_cells.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/core/random.h"
#include "minidl/layers/recurrent_config.h"
#include "minidl/layers/registration.h"

namespace minidl::layers {

namespace rc = recurrent_config;

// ---- RNNCell --------------------------------------------------------------------------------

std::vector<Tensor> RNNCell::get_initial_state(int64_t batch_size) const {
  std::vector<Tensor> out;
  for (int64_t size : state_size()) out.push_back(Tensor::zeros({batch_size, size}));
  return out;
}

Shape RNNCell::step_input_shape(const ShapeSpec& input_shape) {
  return input_shape.is_list() ? input_shape.shapes().at(0) : input_shape.shape();
}

namespace {

// [x, states...] of a cell called as a layer, checked against its state sizes.
std::vector<Tensor> cell_states(const RNNCell& cell, const CallArgs& args) {
  const std::vector<Tensor> inputs = args.inputs();
  const std::vector<int64_t> sizes = cell.state_size();
  if (inputs.size() != sizes.size() + 1) {
    throw ValueError(fmt::format("Cell '{}' takes [inputs, {} state tensor(s)]; received {} tensor(s).", cell.name(),
                                 sizes.size(), inputs.size()));
  }
  return {inputs.begin() + 1, inputs.end()};
}

// Whether an activation is the named Keras built-in (what a fused op computes).
bool is_named(const minidl::Activation& activation, const char* name) {
  return activations::serialize(activation) == json(name);
}

}  // namespace

std::vector<Tensor> RNNCell::call(const CallArgs& args, const CallContext& ctx) {
  const std::vector<Tensor> states = cell_states(*this, args);
  std::vector<Tensor> out = step(args.inputs().at(0), states, ctx.training);
  // A direct call is a sequence of one step: its dropout masks do not outlive it.
  end_sequence();
  return out;
}

std::vector<Tensor> RNNCell::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  const std::vector<Tensor> states = cell_states(*this, args);
  const int64_t batch = args.inputs().at(0).shape().at(0);
  std::vector<Tensor> out{Tensor::symbolic({batch, output_size()})};
  for (int64_t size : state_size()) out.push_back(Tensor::symbolic({batch, size}));
  return out;
}

// ---- GatedCell ------------------------------------------------------------------------------

GatedCell::GatedCell(const std::string& class_name, const std::string& name, bool trainable, const std::string& dtype,
                     int64_t units, int64_t gates, double dropout, double recurrent_dropout,
                     std::optional<uint64_t> seed)
    : RNNCell(class_name, name, trainable, dtype),
      units_(units),
      gates_(gates),
      dropout_(rc::clip_rate(dropout)),
      recurrent_dropout_(rc::clip_rate(recurrent_dropout)),
      seed_(seed) {
  if (units <= 0) {
    throw ValueError(
        fmt::format("Received an invalid value for argument `units`, expected a positive integer, got {}.", units));
  }
  // Keras's cells create their seed generator in the constructor.
  seed_generator(seed);
}

void GatedCell::make_weights(const ShapeSpec& input_shape, const WeightOptions& kernel,
                             const WeightOptions& recurrent, const Shape& bias_shape, const WeightOptions& bias) {
  const Shape shape = step_input_shape(input_shape);
  if (shape.empty() || shape.back() == None) {
    throw ValueError(fmt::format("{} '{}' needs a known last input dimension; received input shape {}.", class_name(),
                                 name(), shape_to_string(shape)));
  }
  state_->kernel = add_weight("kernel", {shape.back(), gates_ * units_}, kernel);
  state_->recurrent_kernel = add_weight("recurrent_kernel", {units_, gates_ * units_}, recurrent);
  if (!bias_shape.empty()) state_->bias = add_weight("bias", bias_shape, bias);
}

bool rate_applies(double rate) { return rate > 0.0 && rate < 1.0; }

std::vector<Tensor> GatedCell::draw_masks(const Shape& shape, double rate) {
  std::vector<Tensor> masks;
  for (int64_t k = 0; k < dropout_mask_count(); ++k) {
    masks.push_back(random::dropout_mask(shape, static_cast<float>(rate), seed_generator(seed_).next()));
  }
  return masks;
}

void GatedCell::begin_sequence(const Tensor& first_input, const std::vector<Tensor>& states, bool training) {
  end_sequence();
  if (!training) return;
  if (rate_applies(dropout_)) state_->dropout_masks = draw_masks(first_input.shape(), dropout_);
  if (rate_applies(recurrent_dropout_) && !states.empty()) {
    state_->recurrent_dropout_masks = draw_masks(states[0].shape(), recurrent_dropout_);
  }
}

void GatedCell::end_sequence() {
  state_->dropout_masks.clear();
  state_->recurrent_dropout_masks.clear();
}

std::vector<Tensor> RNNCell::fused_sequence(const Tensor& /*x*/, const std::vector<Tensor>& /*initial_state*/,
                                            bool /*go_backwards*/, bool /*training*/) {
  throw NotImplementedError(fmt::format("Cell '{}' ({}) has no fused sequence op; RNN steps it.", name(), class_name()));
}

bool GatedCell::fused_sequence_fits(bool training) const {
  return fused_activations() && !(training && recurrent_dropout_ > 0.0);
}

std::vector<Tensor> GatedCell::fused_sequence(const Tensor& x, const std::vector<Tensor>& initial_state,
                                              bool go_backwards, bool training) {
  // The call's one input mask (batch, features), drawn as the step loop would draw it, applied at
  // every step.
  begin_sequence(Tensor::zeros({x.dim(0), x.dim(-1)}), initial_state, training);
  if (state_->dropout_masks.size() > 1) {
    throw ValueError(fmt::format("{} '{}': a fused sequence takes one input dropout mask; this call has {}.",
                                 class_name(), name(), state_->dropout_masks.size()));
  }
  const Tensor dropped =
      state_->dropout_masks.empty() ? x : ops::multiply(x, ops::expand_dims(state_->dropout_masks[0], 1));
  std::vector<Tensor> out = sequence_op(dropped, initial_state, go_backwards);
  end_sequence();
  return out;
}

namespace {

std::vector<Tensor> times_each(const Tensor& t, const std::vector<Tensor>& masks) {
  if (masks.empty()) return {t};
  std::vector<Tensor> out;
  for (const Tensor& m : masks) out.push_back(ops::multiply(t, m));
  return out;
}

}  // namespace

std::vector<Tensor> GatedCell::dropped_inputs(const Tensor& x, bool training) {
  if (!training || !rate_applies(dropout_)) return {x};
  if (state_->dropout_masks.empty()) state_->dropout_masks = draw_masks(x.shape(), dropout_);
  return times_each(x, state_->dropout_masks);
}

std::vector<Tensor> GatedCell::dropped_states(const Tensor& h, bool training) {
  if (!training || !rate_applies(recurrent_dropout_)) return {h};
  if (state_->recurrent_dropout_masks.empty()) state_->recurrent_dropout_masks = draw_masks(h.shape(), recurrent_dropout_);
  return times_each(h, state_->recurrent_dropout_masks);
}

Tensor GatedCell::gate_products(const std::vector<Tensor>& operands, const Tensor& kernel, int64_t gates,
                                int64_t first_gate) const {
  const int64_t u = units_;
  const bool whole = first_gate == 0 && gates == gates_;
  if (operands.size() == 1) {
    return ops::matmul(operands[0], whole ? kernel : ops::slice(kernel, 1, first_gate * u, (first_gate + gates) * u));
  }
  std::vector<Tensor> parts;
  for (int64_t g = first_gate; g < first_gate + gates; ++g) {
    parts.push_back(ops::matmul(operands.at(static_cast<size_t>(g)), ops::slice(kernel, 1, g * u, (g + 1) * u)));
  }
  return ops::concatenate(parts, 1);
}

// ---- SimpleRNNCell --------------------------------------------------------------------------

SimpleRNNCell::SimpleRNNCell(const SimpleRNNCellOptions& o)
    : LayerOf("SimpleRNNCell", o.name, o.trainable, o.dtype, o.units, 1, o.dropout, o.recurrent_dropout, o.seed),
      options_(o) {}

void SimpleRNNCell::build_weights(const ShapeSpec& input_shape) {
  const auto& o = options_;
  make_weights(input_shape,
               {.initializer = o.kernel_initializer, .regularizer = o.kernel_regularizer,
                .constraint = o.kernel_constraint},
               {.initializer = o.recurrent_initializer, .regularizer = o.recurrent_regularizer,
                .constraint = o.recurrent_constraint},
               o.use_bias ? Shape{units_} : Shape{},
               {.initializer = o.bias_initializer, .regularizer = o.bias_regularizer, .constraint = o.bias_constraint});
}

std::vector<Tensor> SimpleRNNCell::step(const Tensor& x, const std::vector<Tensor>& states, bool training) {
  Tensor h = gate_products(dropped_inputs(x, training), state_->kernel.value(), 1);
  if (state_->bias.defined()) h = ops::add(h, state_->bias.value());
  h = ops::add(h, gate_products(dropped_states(states.at(0), training), state_->recurrent_kernel.value(), 1));
  const Tensor out = options_.activation(h);
  return {out, out};
}

bool SimpleRNNCell::fused_activations() const {
  return is_named(options_.activation, "tanh") || is_named(options_.activation, "relu") ||
         is_named(options_.activation, "sigmoid");
}

std::vector<Tensor> SimpleRNNCell::sequence_op(const Tensor& x, const std::vector<Tensor>& initial_state,
                                               bool go_backwards) const {
  return ops::simple_rnn_sequence(x, initial_state.at(0), state_->kernel.value(), state_->recurrent_kernel.value(),
                                  bias_value(), activations::serialize(options_.activation).get<std::string>(),
                                  go_backwards);
}

json SimpleRNNCell::get_config() const {
  json config = Layer::get_config();
  rc::write(config, options_, rc::Order::cell);
  return config;
}

SimpleRNNCell SimpleRNNCell::from_config(const json& config) {
  ConfigReader r(config, "SimpleRNNCell");
  SimpleRNNCellOptions o;
  rc::read(r, o);
  return SimpleRNNCell(o);
}

// ---- LSTMCell -------------------------------------------------------------------------------

LSTMCell::LSTMCell(const LSTMCellOptions& o)
    : LayerOf("LSTMCell", o.name, o.trainable, o.dtype, o.units, 4, o.dropout, o.recurrent_dropout, o.seed),
      options_(o) {}

void LSTMCell::build_weights(const ShapeSpec& input_shape) {
  const auto& o = options_;
  make_weights(input_shape,
               {.initializer = o.kernel_initializer, .regularizer = o.kernel_regularizer,
                .constraint = o.kernel_constraint},
               {.initializer = o.recurrent_initializer, .regularizer = o.recurrent_regularizer,
                .constraint = o.recurrent_constraint},
               o.use_bias ? Shape{4 * units_} : Shape{},
               {.initializer = o.bias_initializer, .regularizer = o.bias_regularizer, .constraint = o.bias_constraint});
  if (o.use_bias && o.unit_forget_bias) {
    // Keras's unit_forget_bias initializer: bias_initializer for i, ones for f, bias_initializer
    // for c and o.
    state_->bias.assign(ops::concatenate(
        {o.bias_initializer({units_}), Tensor::ones({units_}), o.bias_initializer({2 * units_})}, 0));
  }
}

std::vector<Tensor> LSTMCell::step(const Tensor& x, const std::vector<Tensor>& states, bool training) {
  const Tensor& c_prev = states.at(1);
  // With recurrent_dropout each gate's products see their own dropped x and h (Keras's
  // implementation 1); otherwise one product each.
  Tensor z = gate_products(dropped_inputs(x, training), state_->kernel.value(), 4);
  z = ops::add(z, gate_products(dropped_states(states.at(0), training), state_->recurrent_kernel.value(), 4));
  if (state_->bias.defined()) z = ops::add(z, state_->bias.value());
  const int64_t u = units_;
  const Tensor i = options_.recurrent_activation(ops::slice(z, 1, 0, u));
  const Tensor f = options_.recurrent_activation(ops::slice(z, 1, u, 2 * u));
  const Tensor g = options_.activation(ops::slice(z, 1, 2 * u, 3 * u));
  const Tensor o = options_.recurrent_activation(ops::slice(z, 1, 3 * u, 4 * u));
  const Tensor c = ops::add(ops::multiply(f, c_prev), ops::multiply(i, g));
  const Tensor h = ops::multiply(o, options_.activation(c));
  return {h, h, c};
}

bool LSTMCell::fused_activations() const {
  return is_named(options_.activation, "tanh") && is_named(options_.recurrent_activation, "sigmoid");
}

std::vector<Tensor> LSTMCell::sequence_op(const Tensor& x, const std::vector<Tensor>& initial_state,
                                          bool go_backwards) const {
  return ops::lstm_sequence(x, initial_state.at(0), initial_state.at(1), state_->kernel.value(),
                            state_->recurrent_kernel.value(), bias_value(), go_backwards);
}

json LSTMCell::get_config() const {
  json config = Layer::get_config();
  rc::write(config, options_, rc::Order::cell);
  return config;
}

LSTMCell LSTMCell::from_config(const json& config) {
  ConfigReader r(config, "LSTMCell");
  LSTMCellOptions o;
  rc::read(r, o);
  return LSTMCell(o);
}

// ---- GRUCell --------------------------------------------------------------------------------

GRUCell::GRUCell(const GRUCellOptions& o)
    : LayerOf("GRUCell", o.name, o.trainable, o.dtype, o.units, 3, o.dropout, o.recurrent_dropout, o.seed),
      options_(o) {}

void GRUCell::build_weights(const ShapeSpec& input_shape) {
  const auto& o = options_;
  Shape bias_shape;
  if (o.use_bias) bias_shape = o.reset_after ? Shape{2, 3 * units_} : Shape{3 * units_};
  make_weights(input_shape,
               {.initializer = o.kernel_initializer, .regularizer = o.kernel_regularizer,
                .constraint = o.kernel_constraint},
               {.initializer = o.recurrent_initializer, .regularizer = o.recurrent_regularizer,
                .constraint = o.recurrent_constraint},
               bias_shape,
               {.initializer = o.bias_initializer, .regularizer = o.bias_regularizer, .constraint = o.bias_constraint});
}

std::vector<Tensor> GRUCell::step(const Tensor& x, const std::vector<Tensor>& states, bool training) {
  const Tensor& h_prev = states.at(0);
  const int64_t u = units_;
  Tensor input_bias, recurrent_bias;
  if (state_->bias.defined() && options_.reset_after) {
    input_bias = ops::index(state_->bias.value(), 0);
    recurrent_bias = ops::index(state_->bias.value(), 1);
  } else if (state_->bias.defined()) {
    input_bias = state_->bias.value();
  }
  Tensor mx = gate_products(dropped_inputs(x, training), state_->kernel.value(), 3);
  if (input_bias.defined()) mx = ops::add(mx, input_bias);
  // h as the z, r and h gates see it ({h} or one dropped copy each).
  const std::vector<Tensor> h_rec = dropped_states(h_prev, training);
  const Tensor& h_h = h_rec.back();
  const Tensor& rk = state_->recurrent_kernel.value();
  const auto part = [u](const Tensor& t, int64_t k) { return ops::slice(t, -1, k * u, (k + 1) * u); };
  Tensor z, r, hh;
  if (options_.reset_after) {
    Tensor mh = gate_products(h_rec, rk, 3);
    if (recurrent_bias.defined()) mh = ops::add(mh, recurrent_bias);
    z = options_.recurrent_activation(ops::add(part(mx, 0), part(mh, 0)));
    r = options_.recurrent_activation(ops::add(part(mx, 1), part(mh, 1)));
    hh = options_.activation(ops::add(part(mx, 2), ops::multiply(r, part(mh, 2))));
  } else {
    const Tensor mh = gate_products(h_rec, rk, 2);
    z = options_.recurrent_activation(ops::add(part(mx, 0), part(mh, 0)));
    r = options_.recurrent_activation(ops::add(part(mx, 1), part(mh, 1)));
    hh = options_.activation(ops::add(part(mx, 2), gate_products({ops::multiply(r, h_h)}, rk, 1, 2)));
  }
  // h' = z * h + (1 - z) * hh
  const Tensor h = ops::add(ops::multiply(z, h_prev), ops::multiply(1.0f - z, hh));
  return {h, h};
}

bool GRUCell::fused_activations() const {
  return is_named(options_.activation, "tanh") && is_named(options_.recurrent_activation, "sigmoid");
}

std::vector<Tensor> GRUCell::sequence_op(const Tensor& x, const std::vector<Tensor>& initial_state,
                                         bool go_backwards) const {
  return ops::gru_sequence(x, initial_state.at(0), state_->kernel.value(), state_->recurrent_kernel.value(),
                           bias_value(), options_.reset_after, go_backwards);
}

json GRUCell::get_config() const {
  json config = Layer::get_config();
  rc::write(config, options_, rc::Order::cell);
  return config;
}

GRUCell GRUCell::from_config(const json& config) {
  ConfigReader r(config, "GRUCell");
  GRUCellOptions o;
  rc::read(r, o);
  return GRUCell(o);
}

MINIDL_REGISTER_BUILTIN_LAYER(SimpleRNNCell);
MINIDL_REGISTER_BUILTIN_LAYER(LSTMCell);
MINIDL_REGISTER_BUILTIN_LAYER(GRUCell);

}  // namespace minidl::layers
