#pragma once
// Internal to the recurrent layers: the config keys their options structs share, written and
// read once for the three cells and the three layers (whose Keras key orders differ a little).
#include <algorithm>
#include <optional>
#include <string>

#include "minidl/core/config_reader.h"
#include "minidl/layers/activations.h"
#include "minidl/layers/initializers.h"
#include "minidl/layers/regularizers.h"

namespace minidl::layers::recurrent_config {

enum class Order { cell, layer };

inline json seed_json(const std::optional<uint64_t>& seed) { return seed ? json(*seed) : json(nullptr); }

// Keras clips dropout rates into [0, 1] in the cell's constructor.
inline double clip_rate(double rate) { return std::min(1.0, std::max(0.0, rate)); }

// Appends the cell keys of `o` to `config` in Keras's order for a cell or for a layer (the layer
// moves unit_forget_bias after the initializers, adds activity_regularizer, and SimpleRNN writes
// no seed).
template <class O>
void write(json& config, const O& o, Order order, const RegularizerArg* activity = nullptr, bool with_seed = true) {
  config["units"] = o.units;
  config["activation"] = activations::serialize(o.activation);
  if constexpr (requires { o.recurrent_activation; }) {
    config["recurrent_activation"] = activations::serialize(o.recurrent_activation);
  }
  config["use_bias"] = o.use_bias;
  if constexpr (requires { o.unit_forget_bias; }) {
    if (order == Order::cell) config["unit_forget_bias"] = o.unit_forget_bias;
  }
  config["kernel_initializer"] = o.kernel_initializer.serialize();
  config["recurrent_initializer"] = o.recurrent_initializer.serialize();
  config["bias_initializer"] = o.bias_initializer.serialize();
  if constexpr (requires { o.unit_forget_bias; }) {
    if (order == Order::layer) config["unit_forget_bias"] = o.unit_forget_bias;
  }
  config["kernel_regularizer"] = o.kernel_regularizer.serialize();
  config["recurrent_regularizer"] = o.recurrent_regularizer.serialize();
  config["bias_regularizer"] = o.bias_regularizer.serialize();
  if (order == Order::layer) config["activity_regularizer"] = activity ? activity->serialize() : json(nullptr);
  config["kernel_constraint"] = o.kernel_constraint.serialize();
  config["recurrent_constraint"] = o.recurrent_constraint.serialize();
  config["bias_constraint"] = o.bias_constraint.serialize();
  config["dropout"] = clip_rate(o.dropout);
  config["recurrent_dropout"] = clip_rate(o.recurrent_dropout);
  if constexpr (requires { o.reset_after; }) config["reset_after"] = o.reset_after;
  if (with_seed) config["seed"] = seed_json(o.seed);
}

// Reads the cell keys into `o` (the defaults of O stay where a key is absent or null).
template <class O>
void read(const ConfigReader& r, O& o) {
  o.units = r.required<int64_t>("units");
  if (r.has("activation")) o.activation = activations::from_config(r, "activation");
  if constexpr (requires { o.recurrent_activation; }) {
    if (r.has("recurrent_activation")) o.recurrent_activation = activations::from_config(r, "recurrent_activation");
  }
  o.use_bias = r.optional<bool>("use_bias", true);
  if constexpr (requires { o.unit_forget_bias; }) o.unit_forget_bias = r.optional<bool>("unit_forget_bias", true);
  if constexpr (requires { o.reset_after; }) o.reset_after = r.optional<bool>("reset_after", true);
  if (r.has("kernel_initializer")) o.kernel_initializer = Initializer::deserialize(r.at("kernel_initializer"));
  if (r.has("recurrent_initializer")) o.recurrent_initializer = Initializer::deserialize(r.at("recurrent_initializer"));
  if (r.has("bias_initializer")) o.bias_initializer = Initializer::deserialize(r.at("bias_initializer"));
  o.kernel_regularizer = RegularizerArg::from_config(r, "kernel_regularizer");
  o.recurrent_regularizer = RegularizerArg::from_config(r, "recurrent_regularizer");
  o.bias_regularizer = RegularizerArg::from_config(r, "bias_regularizer");
  o.kernel_constraint = ConstraintArg::from_config(r, "kernel_constraint");
  o.recurrent_constraint = ConstraintArg::from_config(r, "recurrent_constraint");
  o.bias_constraint = ConstraintArg::from_config(r, "bias_constraint");
  o.dropout = r.optional<double>("dropout", 0.0);
  o.recurrent_dropout = r.optional<double>("recurrent_dropout", 0.0);
  o.seed = r.maybe<uint64_t>("seed");
  // Keras 2's LSTM/GRU wrote `implementation` (1 or 2): the same numbers either way here.
  r.ignore("implementation");
  o.name = r.name();
  o.trainable = r.trainable();
  o.dtype = r.dtype();
}

}  // namespace minidl::layers::recurrent_config
