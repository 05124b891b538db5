#include "minidl/layers/bidirectional.h"

#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/error.h"
#include "minidl/layers/registration.h"
#include "minidl/layers/serialization.h"

namespace minidl::layers {

namespace {

const char* py_bool(bool v) { return v ? "True" : "False"; }

std::string remove_prefix(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0 ? s.substr(prefix.size()) : s;
}

// A fresh copy of `layer` from its config (Keras's serialize + deserialize), renamed and with
// Bidirectional's settings; unbuilt, so that it builds inside Bidirectional's name scope.
std::shared_ptr<RNN> copy_rnn(const RNN& layer, const std::optional<std::string>& name, std::optional<bool> go_backwards) {
  json object = serialize(layer);
  object.erase("build_config");
  json& config = object["config"];
  if (name) config["name"] = *name;
  if (go_backwards) config["go_backwards"] = *go_backwards;
  // Keras forces zero_output_for_mask = return_sequences on both directions.
  config["zero_output_for_mask"] = layer.rnn_options().return_sequences;
  auto copy = std::dynamic_pointer_cast<RNN>(deserialize(object));
  if (!copy) throw ValueError("Bidirectional: the copy of layer '" + layer.name() + "' is not a recurrent layer.");
  return copy;
}

void verify_pair(const RNN& forward, const RNN& backward) {
  const RNNOptions& f = forward.rnn_options();
  const RNNOptions& b = backward.rnn_options();
  if (f.go_backwards == b.go_backwards) {
    throw ValueError(fmt::format(
        "Forward layer and backward layer should have different `go_backwards` value. Received: "
        "forward_layer.go_backwards {}, backward_layer.go_backwards={}",
        py_bool(f.go_backwards), py_bool(b.go_backwards)));
  }
  const auto same = [](const char* attribute, bool fv, bool bv) {
    if (fv != bv) {
      throw ValueError(fmt::format(
          "Forward layer and backward layer are expected to have the same value for attribute \"{}\", got \"{}\" for "
          "forward layer and \"{}\" for backward layer",
          attribute, py_bool(fv), py_bool(bv)));
    }
  };
  same("stateful", f.stateful, b.stateful);
  same("return_sequences", f.return_sequences, b.return_sequences);
  same("return_state", f.return_state, b.return_state);
}

}  // namespace

Bidirectional::Bidirectional(const RNN& layer, const BidirectionalOptions& options, const RNN* backward_layer)
    : LayerOf("Bidirectional", options.name, options.trainable, options.dtype), options_(options) {
  if (options.merge_mode && *options.merge_mode != "sum" && *options.merge_mode != "mul" &&
      *options.merge_mode != "ave" && *options.merge_mode != "concat") {
    throw ValueError(fmt::format(
        "Invalid merge mode. Received: {}. Merge mode should be one of {{\"sum\", \"mul\", \"ave\", \"concat\", None}}",
        *options.merge_mode));
  }
  forward_ = copy_rnn(layer, "forward_" + remove_prefix(layer.name(), "forward_"), std::nullopt);
  // A given backward layer is copied too (minidl layers keep their options fixed), under its own name.
  backward_ = backward_layer != nullptr
                  ? copy_rnn(*backward_layer, std::nullopt, std::nullopt)
                  : copy_rnn(layer, "backward_" + remove_prefix(layer.name(), "backward_"), !layer.rnn_options().go_backwards);
  verify_pair(*forward_, *backward_);
  track(*forward_);
  track(*backward_);
}

void Bidirectional::build_weights(const ShapeSpec& input_shape) {
  forward_->build(input_shape);
  backward_->build(input_shape);
}

std::vector<Tensor> Bidirectional::call_with_state(const Tensor& x, const std::vector<Tensor>& initial_state,
                                                   const CallOptions& options) {
  CallArgs args = CallArgs::of(x);
  if (!options.mask.empty()) args.set_kwarg("mask", args.ref(options.mask[0]));
  if (!initial_state.empty()) args.set_kwarg("initial_state", args.ref(initial_state));
  return invoke(args, options.training);
}

void Bidirectional::reset_states() {
  forward_->reset_states();
  backward_->reset_states();
}

std::vector<Tensor> Bidirectional::merge(std::vector<Tensor> forward, std::vector<Tensor> backward) const {
  const Tensor y = forward.at(0);
  Tensor y_rev = backward.at(0);
  if (forward_->rnn_options().return_sequences && y_rev.is_concrete()) {
    // The backward layer's sequence is in processing order: flip it back to time order.
    const int64_t steps = y_rev.shape().at(1);
    std::vector<int32_t> reversed(static_cast<size_t>(steps));
    for (int64_t t = 0; t < steps; ++t) reversed[static_cast<size_t>(t)] = static_cast<int32_t>(steps - 1 - t);
    y_rev = ops::take(y_rev, Tensor::from_vector(reversed, {steps}), 1);
  }
  std::vector<Tensor> out;
  const std::string mode = options_.merge_mode.value_or("");
  if (mode == "concat") {
    if (y.is_symbolic()) {
      Shape s = y.shape();
      if (s.back() != None) s.back() *= 2;
      out.push_back(Tensor::symbolic(s));
    } else {
      out.push_back(ops::concatenate({y, y_rev}, -1));
    }
  } else if (mode == "sum") {
    out.push_back(y.is_symbolic() ? y : ops::add(y, y_rev));
  } else if (mode == "mul") {
    out.push_back(y.is_symbolic() ? y : ops::multiply(y, y_rev));
  } else if (mode == "ave") {
    out.push_back(y.is_symbolic() ? y : ops::divide(ops::add(y, y_rev), 2.0f));
  } else {
    out.push_back(y);
    out.push_back(y_rev);
  }
  out.insert(out.end(), forward.begin() + 1, forward.end());
  out.insert(out.end(), backward.begin() + 1, backward.end());
  return out;
}

std::vector<Tensor> Bidirectional::call(const CallArgs& args, const CallContext& ctx) {
  const Tensor x = args.inputs().at(0);
  const std::vector<Tensor> initial_state = args.kwarg_tensors("initial_state");
  std::vector<Tensor> forward_state, backward_state;
  if (!initial_state.empty()) {
    const size_t half = initial_state.size() / 2;
    forward_state.assign(initial_state.begin(), initial_state.begin() + static_cast<std::ptrdiff_t>(half));
    backward_state.assign(initial_state.begin() + static_cast<std::ptrdiff_t>(half), initial_state.end());
  }
  const Tensor mask = ctx.mask();
  const CallOptions options{.mask = mask.defined() ? std::vector<Tensor>{mask} : std::vector<Tensor>{},
                            .training = ctx.training};
  return merge(forward_->call_with_state(x, forward_state, options),
               backward_->call_with_state(x, backward_state, options));
}

std::vector<Tensor> Bidirectional::compute_output_spec(const CallArgs& args, const CallContext& ctx) {
  return merge(forward_->compute_output_spec(args, ctx), backward_->compute_output_spec(args, ctx));
}

Tensor Bidirectional::compute_mask(const CallArgs& /*args*/, const std::vector<Tensor>& masks) {
  if (!forward_->rnn_options().return_sequences || masks.empty()) return Tensor();
  return masks[0];
}

json Bidirectional::get_config() const {
  json config = Layer::get_config();
  config["merge_mode"] = options_.merge_mode ? json(*options_.merge_mode) : json(nullptr);
  config["layer"] = serialize(*forward_);
  config["backward_layer"] = serialize(*backward_);
  return config;
}

Bidirectional Bidirectional::from_config(const json& config) {
  ConfigReader r(config, "Bidirectional");
  BidirectionalOptions o;
  o.merge_mode = r.maybe<std::string>("merge_mode");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
  r.reject_non_null({"weights"});
  const auto unbuilt = [&](const char* key) {
    json object = r.at(key);
    object.erase("build_config");
    auto layer = std::dynamic_pointer_cast<RNN>(deserialize(object));
    if (!layer) throw ValueError(fmt::format("Bidirectional config: '{}' must be a recurrent layer.", key));
    return layer;
  };
  if (!r.has("layer")) throw ValueError("Bidirectional config: missing key 'layer'.");
  const std::shared_ptr<RNN> layer = unbuilt("layer");
  const std::shared_ptr<RNN> backward = r.has("backward_layer") ? unbuilt("backward_layer") : nullptr;
  Bidirectional out(*layer, o, backward.get());
  // Keras's deserialization builds the inner layers from their build_config: so does this one,
  // inside its own name scope.
  const json& inner = r.at("layer");
  if (inner.contains("build_config") && inner["build_config"].contains("input_shape")) {
    out.build(ShapeSpec::from_json(inner["build_config"]["input_shape"]));
  }
  return out;
}

MINIDL_REGISTER_BUILTIN_LAYER(Bidirectional);

std::vector<std::pair<std::string, std::shared_ptr<Layer>>> Bidirectional::saved_sublayers() const {
  return {{"forward_layer", forward_}, {"backward_layer", backward_}};
}

}  // namespace minidl::layers
