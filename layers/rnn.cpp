#include "minidl/layers/rnn.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/recurrent_config.h"
#include "minidl/layers/registration.h"
#include "minidl/layers/serialization.h"

namespace minidl::layers {

namespace rc = recurrent_config;

namespace {

// The RNN arguments of a layer's options (SimpleRNN/LSTM/GRU carry them beside the cell's).
template <class L>
RNNOptions rnn_options_of(const L& o) {
  return {.return_sequences = o.return_sequences,
          .return_state = o.return_state,
          .go_backwards = o.go_backwards,
          .stateful = o.stateful,
          .unroll = o.unroll,
          .zero_output_for_mask = o.zero_output_for_mask,
          .activity_regularizer = o.activity_regularizer,
          .name = o.name,
          .trainable = o.trainable,
          .dtype = o.dtype};
}

// The cell's arguments of a layer's options, for the cell Keras names `name`.
template <class C, class L>
C cell_options_of(const L& o, const char* name) {
  C c;
  c.units = o.units;
  c.activation = o.activation;
  if constexpr (requires { c.recurrent_activation; }) c.recurrent_activation = o.recurrent_activation;
  if constexpr (requires { c.unit_forget_bias; }) c.unit_forget_bias = o.unit_forget_bias;
  if constexpr (requires { c.reset_after; }) c.reset_after = o.reset_after;
  c.use_bias = o.use_bias;
  c.kernel_initializer = o.kernel_initializer;
  c.recurrent_initializer = o.recurrent_initializer;
  c.bias_initializer = o.bias_initializer;
  c.kernel_regularizer = o.kernel_regularizer;
  c.recurrent_regularizer = o.recurrent_regularizer;
  c.bias_regularizer = o.bias_regularizer;
  c.kernel_constraint = o.kernel_constraint;
  c.recurrent_constraint = o.recurrent_constraint;
  c.bias_constraint = o.bias_constraint;
  c.dropout = o.dropout;
  c.recurrent_dropout = o.recurrent_dropout;
  c.seed = o.seed;
  c.name = name;
  c.trainable = o.trainable;
  c.dtype = o.dtype;
  return c;
}

// A layer's options from its config: the cell keys, the RNN keys and activity_regularizer.
template <class L>
L layer_options_from(const json& config, const char* class_name) {
  ConfigReader r(config, class_name);
  L o;
  rc::read(r, o);
  o.activity_regularizer = RegularizerArg::from_config(r, "activity_regularizer");
  o.return_sequences = r.optional<bool>("return_sequences", false);
  o.return_state = r.optional<bool>("return_state", false);
  o.go_backwards = r.optional<bool>("go_backwards", false);
  o.stateful = r.optional<bool>("stateful", false);
  o.unroll = r.optional<bool>("unroll", false);
  o.zero_output_for_mask = r.optional<bool>("zero_output_for_mask", false);
  // Keras's LSTM/GRU take use_cudnn, which it does not write; minidl has no cuDNN.
  r.ignore("use_cudnn");
  return o;
}

thread_local int composed_recurrence_guards = 0;

std::shared_ptr<RNNCell> shared_cell(const RNNCell& cell) {
  return std::static_pointer_cast<RNNCell>(const_cast<RNNCell&>(cell).shared_self());
}

}  // namespace

// ---- RNN ------------------------------------------------------------------------------------

ComposedRecurrenceGuard::ComposedRecurrenceGuard() { ++composed_recurrence_guards; }
ComposedRecurrenceGuard::~ComposedRecurrenceGuard() { --composed_recurrence_guards; }
bool ComposedRecurrenceGuard::active() { return composed_recurrence_guards > 0; }

RNN::RNN(const RNNCell& cell, const RNNOptions& options) : RNN(shared_cell(cell), options, "RNN") {}

RNN::RNN(std::shared_ptr<RNNCell> cell, const RNNOptions& options, const std::string& class_name)
    : LayerOf(class_name, options.name, options.trainable, options.dtype), cell_(std::move(cell)), options_(options) {
  if (cell_->state_size().empty()) {
    throw ValueError(
        "The RNN cell should have a `state_size` attribute (single integer or list of integers, one integer per RNN "
        "state). Received: cell=" + cell_->name());
  }
  set_activity_regularizer(options.activity_regularizer);
  set_input_spec({.min_ndim = 3});
  track(*cell_);
}

void RNN::build_weights(const ShapeSpec& input_shape) {
  const Shape& shape = input_shape.is_list() ? input_shape.shapes().at(0) : input_shape.shape();
  Shape step_shape{shape.at(0)};
  step_shape.insert(step_shape.end(), shape.begin() + 2, shape.end());
  cell_->build(ShapeSpec(step_shape));
  if (options_.stateful) {
    if (shape[0] == None) {
      throw ValueError(fmt::format(
          "When using `stateful=True` in a RNN, the batch size must be static. Found dynamic batch size: "
          "sequence.shape={}",
          shape_to_string(shape)));
    }
    state_->states = cell_->get_initial_state(shape[0]);
  }
}

std::vector<Tensor> RNN::states() const { return state_->states; }

void RNN::reset_states() {
  for (Tensor& s : state_->states) s = Tensor::zeros(s.shape());
}

std::vector<Tensor> RNN::call_with_state(const Tensor& x, const std::vector<Tensor>& initial_state,
                                         const CallOptions& options) {
  CallArgs args = CallArgs::of(x);
  if (!options.mask.empty()) args.set_kwarg("mask", args.ref(options.mask[0]));
  if (!initial_state.empty()) args.set_kwarg("initial_state", args.ref(initial_state));
  return invoke(args, options.training);
}

Tensor RNN::compute_mask(const CallArgs& /*args*/, const std::vector<Tensor>& masks) {
  if (!options_.return_sequences || masks.empty()) return Tensor();
  return masks[0];
}

std::vector<Tensor> RNN::compute_output_spec(const CallArgs& args, const CallContext& /*ctx*/) {
  const Shape& shape = args.inputs().at(0).shape();
  const int64_t batch = shape.at(0);
  std::vector<Tensor> out;
  const int64_t width = cell_->output_size();
  out.push_back(options_.return_sequences ? Tensor::symbolic({batch, shape.at(1), width})
                                          : Tensor::symbolic({batch, width}));
  if (options_.return_state) {
    for (int64_t size : cell_->state_size()) out.push_back(Tensor::symbolic({batch, size}));
  }
  return out;
}

std::vector<Tensor> RNN::call(const CallArgs& args, const CallContext& ctx) {
  const Tensor x = args.inputs().at(0);
  const int64_t batch = x.shape().at(0);
  std::vector<Tensor> initial_state = args.kwarg_tensors("initial_state");
  if (options_.stateful && !state_->states.empty() && batch != state_->states[0].shape().at(0)) {
    throw ValueError(fmt::format(
        "If an RNN is stateful, the batch size of the input sequences must be the same as the batch size of the "
        "initial state. \n- Expected batch size: {}\n- Received batch size: {}",
        state_->states[0].shape().at(0), batch));
  }
  if (initial_state.empty()) initial_state = options_.stateful ? state_->states : cell_->get_initial_state(batch);
  const std::vector<int64_t> sizes = cell_->state_size();
  if (initial_state.size() != sizes.size()) {
    throw ValueError(fmt::format("Layer '{}' expects {} initial state tensor(s) (one per state of its cell); received {}.",
                                 name(), sizes.size(), initial_state.size()));
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (initial_state[i].shape() != Shape{batch, sizes[i]}) {
      throw ValueError(fmt::format("Layer '{}': initial state {} must have shape {}; received {}.", name(), i,
                                   shape_to_string({batch, sizes[i]}), shape_to_string(initial_state[i].shape())));
    }
  }
  const SequenceResult result = run_sequence(x, initial_state, ctx.mask(), ctx.training);
  // Keras assigns the final states to its state variables: values only, no gradient history.
  if (options_.stateful) {
    state_->states.clear();
    for (const Tensor& s : result.states) state_->states.push_back(s.clone());
  }
  std::vector<Tensor> out{options_.return_sequences ? result.outputs : result.last_output};
  if (options_.return_state) out.insert(out.end(), result.states.begin(), result.states.end());
  return out;
}

bool RNN::fused_sequence_allowed(const Tensor& mask, bool training) const {
  return !mask.defined() && !ComposedRecurrenceGuard::active() && cell_->fused_sequence_fits(training);
}

RNN::SequenceResult RNN::run_sequence(const Tensor& x, const std::vector<Tensor>& initial_state, const Tensor& mask,
                                      bool training) {
  if (!fused_sequence_allowed(mask, training)) return run_cell_loop(x, initial_state, mask, training);
  // The fused op's outputs {sequence, h[, c]}, in processing order.
  std::vector<Tensor> outputs = cell_->fused_sequence(x, initial_state, options_.go_backwards, training);
  state_->last_call_fused = true;
  SequenceResult result;
  if (options_.return_sequences) result.outputs = outputs.at(0);
  result.last_output = outputs.at(1);
  result.states.assign(outputs.begin() + 1, outputs.end());
  return result;
}

RNN::SequenceResult RNN::run_cell_loop(const Tensor& x, const std::vector<Tensor>& initial_state, const Tensor& mask,
                                       bool training) {
  const int64_t batch = x.shape().at(0), steps = x.shape().at(1);
  if (steps <= 0) {
    throw ValueError(fmt::format("Layer '{}' needs at least one time step; received input shape {}.", name(),
                                 shape_to_string(x.shape())));
  }
  if (mask.defined() && mask.shape() != Shape{batch, steps}) {
    throw ValueError(fmt::format("Layer '{}': the mask must have shape {} (batch, time); received {}.", name(),
                                 shape_to_string({batch, steps}), shape_to_string(mask.shape())));
  }
  state_->last_call_fused = false;
  const Tensor mask_f = mask.defined() ? ops::cast(mask, DType::float32) : Tensor();
  auto input_at = [&](int64_t t) { return ops::squeeze(ops::slice(x, 1, t, t + 1), 1); };
  std::vector<Tensor> states = initial_state;
  SequenceResult result;
  std::vector<Tensor> outputs;
  cell_->begin_sequence(input_at(options_.go_backwards ? steps - 1 : 0), states, training);
  for (int64_t k = 0; k < steps; ++k) {
    const int64_t t = options_.go_backwards ? steps - 1 - k : k;
    std::vector<Tensor> stepped = cell_->step(input_at(t), states, training);
    Tensor output = stepped.at(0);
    std::vector<Tensor> next(stepped.begin() + 1, stepped.end());
    if (next.size() != states.size()) {
      throw ValueError(fmt::format("Cell '{}' returned {} state(s) for {} input state(s).", cell_->name(), next.size(),
                                   states.size()));
    }
    if (mask_f.defined()) {
      // Keras's backend rnn: a masked step keeps the states, and outputs the previous first state
      // (zeros with zero_output_for_mask).
      const Tensor keep = ops::cast(ops::slice(mask_f, 1, t, t + 1), DType::bool_);  // (batch, 1)
      output = ops::where(keep, output, options_.zero_output_for_mask ? Tensor::scalar(0.0f) : states.at(0));
      for (size_t i = 0; i < next.size(); ++i) next[i] = ops::where(keep, next[i], states[i]);
    }
    states = std::move(next);
    if (options_.return_sequences) outputs.push_back(output);
    result.last_output = output;
  }
  cell_->end_sequence();
  if (options_.return_sequences) result.outputs = ops::stack(outputs, 1);
  result.states = std::move(states);
  return result;
}

json RNN::rnn_config() const {
  return json{{"return_sequences", options_.return_sequences}, {"return_state", options_.return_state},
              {"go_backwards", options_.go_backwards},         {"stateful", options_.stateful},
              {"unroll", options_.unroll},                     {"zero_output_for_mask", options_.zero_output_for_mask}};
}

json RNN::get_config() const {
  json config = Layer::get_config();
  const json keys = rnn_config();
  for (const auto& [key, value] : keys.items()) config[key] = value;
  config["cell"] = serialize(*cell_);
  return config;
}

RNNOptions RNN::read_rnn_options(const ConfigReader& r) {
  RNNOptions o;
  o.return_sequences = r.optional<bool>("return_sequences", false);
  o.return_state = r.optional<bool>("return_state", false);
  o.go_backwards = r.optional<bool>("go_backwards", false);
  o.stateful = r.optional<bool>("stateful", false);
  o.unroll = r.optional<bool>("unroll", false);
  o.zero_output_for_mask = r.optional<bool>("zero_output_for_mask", false);
  o.activity_regularizer = RegularizerArg::from_config(r, "activity_regularizer");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  return o;
}

RNN RNN::from_config(const json& config) {
  ConfigReader r(config, "RNN");
  const RNNOptions o = read_rnn_options(r);
  if (!r.has("cell")) throw ValueError("RNN config: missing key 'cell' (the serialized cell).");
  json cell_object = r.at("cell");
  if (cell_object.is_array()) {
    throw NotImplementedError("RNN config: a list of cells (Keras's StackedRNNCells) is not supported by minidl.");
  }
  const std::shared_ptr<Layer> cell = deserialize(cell_object);
  auto rnn_cell = std::dynamic_pointer_cast<RNNCell>(cell);
  if (!rnn_cell) {
    throw ValueError(fmt::format("Argument `cell` should be an RNN cell (derived from md::layers::RNNCell). Received: "
                                 "cell={}",
                                 cell->class_name()));
  }
  return RNN(*rnn_cell, o);
}

// ---- SimpleRNN, LSTM, GRU -------------------------------------------------------------------

namespace {

// Layer::get_config, the RNN keys, then the cell's keys in the layer's Keras order.
template <class O>
json recurrent_layer_config(json config, const json& rnn_keys, const O& options, const RegularizerArg& activity,
                            bool with_seed) {
  config.erase("activity_regularizer");  // written in its Keras place below
  for (const auto& [key, value] : rnn_keys.items()) config[key] = value;
  rc::write(config, options, rc::Order::layer, &activity, with_seed);
  return config;
}

}  // namespace

SimpleRNN::SimpleRNN(const SimpleRNNOptions& o)
    : LayerOf(std::make_shared<SimpleRNNCell>(cell_options_of<SimpleRNNCellOptions>(o, "simple_rnn_cell")),
              rnn_options_of(o), "SimpleRNN"),
      options_(o) {
  set_input_spec({.ndim = 3});
}

json SimpleRNN::get_config() const {
  return recurrent_layer_config(Layer::get_config(), rnn_config(), options_, options_.activity_regularizer, false);
}

SimpleRNN SimpleRNN::from_config(const json& config) {
  return SimpleRNN(layer_options_from<SimpleRNNOptions>(config, "SimpleRNN"));
}


LSTM::LSTM(const LSTMOptions& o)
    : LayerOf(std::make_shared<LSTMCell>(cell_options_of<LSTMCellOptions>(o, "lstm_cell")), rnn_options_of(o), "LSTM"),
      options_(o) {
  set_input_spec({.ndim = 3});
}

json LSTM::get_config() const {
  return recurrent_layer_config(Layer::get_config(), rnn_config(), options_, options_.activity_regularizer, true);
}

LSTM LSTM::from_config(const json& config) { return LSTM(layer_options_from<LSTMOptions>(config, "LSTM")); }


GRU::GRU(const GRUOptions& o)
    : LayerOf(std::make_shared<GRUCell>(cell_options_of<GRUCellOptions>(o, "gru_cell")), rnn_options_of(o), "GRU"),
      options_(o) {
  set_input_spec({.ndim = 3});
}

json GRU::get_config() const {
  return recurrent_layer_config(Layer::get_config(), rnn_config(), options_, options_.activity_regularizer, true);
}

GRU GRU::from_config(const json& config) { return GRU(layer_options_from<GRUOptions>(config, "GRU")); }


MINIDL_REGISTER_BUILTIN_LAYER(RNN);
MINIDL_REGISTER_BUILTIN_LAYER(SimpleRNN);
MINIDL_REGISTER_BUILTIN_LAYER(LSTM);
MINIDL_REGISTER_BUILTIN_LAYER(GRU);

std::vector<std::pair<std::string, std::shared_ptr<Layer>>> RNN::saved_sublayers() const {
  return {{"cell", cell_}};
}

}  // namespace minidl::layers
