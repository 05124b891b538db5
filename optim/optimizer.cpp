#include "minidl/optim/optimizer.h"

#include "minidl/core/compute.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "minidl/core/error.h"
#include "minidl/core/naming.h"
#include "minidl/optim/detail/optimizer_config.h"

namespace minidl::optim {
namespace {

const char* const kLearningRateTypeMessage =
    "Argument `learning_rate` should be float, or an instance of LearningRateSchedule, or a callable (that takes "
    "in the current iteration value and returns the corresponding learning rate value). Received instead: "
    "learning_rate={}";

std::string optimizer_describe_variable(const Variable& v) {
  return fmt::format("<Variable path={}, shape={}, dtype={}>", v.path(), shape_to_string(v.shape()),
                     dtype_name(v.dtype()));
}

// Sum of squares in double: the norm of a large gradient then does not depend on the order of
// float32 additions.
double optimizer_sum_of_squares(const Tensor& t) {
  const float* p = t.data();
  const int64_t n = t.size();
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(p[i]) * static_cast<double>(p[i]);
  return sum;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// LearningRate

float LearningRate::value() const {
  if (schedule_) throw ValueError("This learning rate is a schedule, not a float; evaluate it at a step instead.");
  return value_;
}

void LearningRate::check_schedule() const {
  if (!schedule_) throw ValueError(fmt::format(fmt::runtime(kLearningRateTypeMessage), "None"));
}

// ---------------------------------------------------------------------------------------------
// State shared by copies

struct Optimizer::State {
  Variable iterations;     // int32 scalar "iteration"
  Variable learning_rate;  // float32 scalar; undefined while a schedule is used
  std::shared_ptr<const LearningRateSchedule> schedule;
  bool built = false;
  std::vector<Variable> built_variables;
  std::unordered_map<uint64_t, size_t> index_by_id;
  std::vector<Variable> slot_order;  // every slot, in creation order
  std::map<std::string, std::vector<Variable>> slots;
  std::unordered_set<uint64_t> excluded_ids;
  std::vector<std::string> excluded_names;
  bool warned_missing_gradients = false;
};

Optimizer::Optimizer(std::string class_name, const OptimizerOptions& options)
    : class_name_(std::move(class_name)),
      weight_decay_(options.weight_decay),
      clipnorm_(options.clipnorm),
      clipvalue_(options.clipvalue),
      global_clipnorm_(options.global_clipnorm),
      state_(std::make_shared<State>()) {
  const int clip_args = int(clipnorm_.has_value()) + int(clipvalue_.has_value()) + int(global_clipnorm_.has_value());
  if (clip_args > 1) {
    throw ValueError(fmt::format(
        "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. Received: clipnorm={}, "
        "clipvalue={}, global_clipnorm={}",
        python_repr(clipnorm_), python_repr(clipvalue_), python_repr(global_clipnorm_)));
  }
  name_ = options.name.empty() ? auto_name(class_name_) : options.name;
  state_->iterations = Variable(Tensor::scalar(0.0f, DType::int32), "iteration", /*trainable=*/false);
  state_->iterations.set_path(name_ + "/iteration");
  if (options.learning_rate.is_schedule()) {
    state_->schedule = options.learning_rate.schedule();
  } else {
    state_->learning_rate = Variable(Tensor::scalar(options.learning_rate.value()), "learning_rate", false);
    state_->learning_rate.set_path(name_ + "/learning_rate");
  }
}

// ---------------------------------------------------------------------------------------------
// Building and slots

void Optimizer::build(const std::vector<Variable>& variables) {
  State& s = *state_;
  if (s.built) return;
  std::unordered_map<uint64_t, size_t> index_by_id;
  for (size_t i = 0; i < variables.size(); ++i) {
    if (!variables[i].defined()) {
      throw ValueError(fmt::format("Optimizer '{}' was given an undefined (default-constructed) variable at "
                                   "position {}.",
                                   name_, i));
    }
    index_by_id[variables[i].id()] = i;
  }
  s.index_by_id = std::move(index_by_id);
  s.built_variables = variables;
  build_slots(variables);
  s.built = true;
}

bool Optimizer::built() const { return state_->built; }

void Optimizer::build_slots(const std::vector<Variable>& /*variables*/) {}

std::vector<Variable> Optimizer::add_optimizer_variables(const std::vector<Variable>& variables,
                                                         const std::string& slot, float initial_value) {
  add_optimizer_variables(variables, std::vector<std::string>{slot}, initial_value);
  return state_->slots.at(slot);
}

void Optimizer::add_optimizer_variables(const std::vector<Variable>& variables,
                                        const std::vector<std::string>& slots, float initial_value) {
  State& s = *state_;
  for (const Variable& variable : variables) {
    std::string prefix = variable.path();
    std::replace(prefix.begin(), prefix.end(), '/', '_');
    for (const std::string& slot : slots) {
      const std::string slot_name = prefix + "_" + slot;
      Variable v(Tensor::full(variable.shape(), initial_value, variable.dtype()), slot_name, /*trainable=*/false);
      v.set_path(name_ + "/" + slot_name);
      s.slot_order.push_back(v);
      s.slots[slot].push_back(v);
    }
  }
}

const Variable& Optimizer::slot(const std::string& slot, size_t index) const {
  auto it = state_->slots.find(slot);
  if (it == state_->slots.end() || index >= it->second.size()) {
    throw ValueError(fmt::format("Optimizer '{}' has no slot '{}' for variable {} (was it built?).", name_, slot,
                                 index));
  }
  return it->second[index];
}

size_t Optimizer::variable_index(const Variable& variable) const {
  auto it = state_->index_by_id.find(variable.id());
  if (it == state_->index_by_id.end()) {
    throw ValueError(fmt::format(
        "Unknown variable: {}. This optimizer can only be called for the variables it was originally built with. "
        "When working with a new set of variables, you should recreate a new optimizer instance.",
        optimizer_describe_variable(variable)));
  }
  return it->second;
}

float* Optimizer::mutable_values(const Variable& variable) { return writable(variable).mutable_data(); }

const Tensor& Optimizer::writable(const Variable& variable) {
  const Tensor& value = variable.value();
  value.impl()->storage->bump_version();
  return value;
}

// ---------------------------------------------------------------------------------------------
// apply

void Optimizer::apply(const std::vector<Tensor>& grads, const std::vector<Variable>& variables) {
  if (grads.size() != variables.size()) {
    throw ValueError(fmt::format(
        "Optimizer '{}' received {} gradients for {} variables; apply() needs one gradient per variable, in the "
        "same order (an undefined md::Tensor for a variable without a gradient).",
        name_, grads.size(), variables.size()));
  }
  if (grads.empty()) return;  // Keras: an empty gradient list is a no-op
  for (size_t i = 0; i < variables.size(); ++i) {
    if (!variables[i].defined()) {
      throw ValueError(fmt::format("Optimizer '{}' was given an undefined (default-constructed) variable at "
                                   "position {}.",
                                   name_, i));
    }
  }
  build(variables);
  for (const Variable& v : variables) variable_index(v);  // throws for unknown variables

  const auto pairs = filter_gradients(grads, variables);
  std::vector<Tensor> kept_grads;
  std::vector<Variable> kept_vars;
  kept_grads.reserve(pairs.size());
  kept_vars.reserve(pairs.size());
  for (const auto& [g, v] : pairs) {
    kept_grads.push_back(g);
    kept_vars.push_back(v);
  }

  const float lr = learning_rate();
  kept_grads = clip_gradients(kept_grads);
  apply_weight_decay(kept_vars, lr);
  update_steps(kept_grads, kept_vars, lr);
  // Keras's optimizer.apply: each updated variable's constraint (attached by the layer that made
  // it) projects the new value.
  for (const Variable& v : kept_vars) {
    if (v.constraint()) v.assign(v.constraint()(v.value()));
  }
  mutable_values(state_->iterations)[0] += 1.0f;
}

void Optimizer::update_steps(const std::vector<Tensor>& gradients, const std::vector<Variable>& variables,
                             float learning_rate) {
  for (size_t i = 0; i < variables.size(); ++i) update_step(gradients[i], variables[i], learning_rate);
}

void Optimizer::apply(const std::vector<Tensor>& grads) {
  if (grads.empty()) return;
  if (!state_->built) {
    throw ValueError(
        "When passing `grads` without `variables`, the optimizer must already be built on a list of variables. "
        "Call `optimizer.build(trainable_variables)` first.");
  }
  if (grads.size() != state_->built_variables.size()) {
    throw ValueError(fmt::format(
        "When passing `grads` as a list of gradient tensors, the gradients must match `optimizer.variables` "
        "one-to-one. Received a list of {} gradients, but the optimizer is tracking {} trainable variables.",
        grads.size(), state_->built_variables.size()));
  }
  const std::vector<Variable> variables = state_->built_variables;
  apply(grads, variables);
}

void Optimizer::apply_gradients(const std::vector<std::pair<Tensor, Variable>>& grads_and_vars) {
  std::vector<Tensor> grads;
  std::vector<Variable> variables;
  for (const auto& [g, v] : grads_and_vars) {
    grads.push_back(g);
    variables.push_back(v);
  }
  apply(grads, variables);
}

std::vector<std::pair<Tensor, Variable>> Optimizer::filter_gradients(const std::vector<Tensor>& grads,
                                                                     const std::vector<Variable>& variables) const {
  std::vector<std::pair<Tensor, Variable>> kept;
  std::vector<std::string> missing;
  for (size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = grads[i];
    const Variable& v = variables[i];
    if (!g.defined()) {
      missing.push_back("'" + v.path() + "'");
      continue;
    }
    if (g.is_symbolic()) {
      throw ValueError(fmt::format("The gradient for variable '{}' is symbolic (shape {}); an optimizer needs "
                                   "concrete gradients.",
                                   v.path(), shape_to_string(g.shape())));
    }
    if (g.shape() != v.shape()) {
      throw ShapeError(fmt::format("The gradient for variable '{}' (position {}) has shape {}, but the variable "
                                   "has shape {}.",
                                   v.path(), i, shape_to_string(g.shape()), shape_to_string(v.shape())));
    }
    kept.emplace_back(g, v);
  }
  if (kept.empty()) throw ValueError("No gradients provided for any variable.");
  if (!missing.empty() && !state_->warned_missing_gradients) {
    // Keras warns (once per call site, by Python's warning filter); minidl once per optimizer.
    state_->warned_missing_gradients = true;
    std::string list;
    for (size_t i = 0; i < missing.size(); ++i) list += (i ? ", " : "") + missing[i];
    fmt::print(stderr,
               "UserWarning: Gradients do not exist for variables [{}] when minimizing the loss. If using "
               "`model.compile()`, did you forget to provide a `loss` argument?\n",
               list);
  }
  return kept;
}

std::vector<Tensor> Optimizer::clip_gradients(const std::vector<Tensor>& grads) const {
  // Keras tests `if self.clipnorm and self.clipnorm > 0`: a clip of 0 means no clipping.
  if (clipnorm_ && *clipnorm_ > 0) {
    const float c = static_cast<float>(*clipnorm_);
    std::vector<Tensor> out;
    for (const Tensor& g : grads) {
      // g * c / max(||g||, c); an all-zero gradient has norm 0 and is left as it is.
      const float l2sum = static_cast<float>(optimizer_sum_of_squares(g));
      const float l2norm = l2sum > 0 ? std::sqrt(l2sum) : l2sum;
      const float denominator = std::max(l2norm, c);
      Tensor clipped = Tensor::empty(g.shape(), g.dtype());
      const float* src = g.data();
      float* dst = clipped.mutable_data();
      const int64_t n = g.size();
      for (int64_t i = 0; i < n; ++i) dst[i] = (src[i] * c) / denominator;
      out.push_back(clipped);
    }
    return out;
  }
  if (global_clipnorm_ && *global_clipnorm_ > 0) {
    const float c = static_cast<float>(*global_clipnorm_);
    double total = 0.0;
    for (const Tensor& g : grads) total += optimizer_sum_of_squares(g);
    const float use_norm = std::sqrt(static_cast<float>(total));
    // c * min(1/norm, 1/c): 1 when the norm is within c; (norm - norm) turns an inf or NaN
    // norm into a NaN scale, as Keras does.
    float scale = c * std::min(1.0f / use_norm, 1.0f / c);
    scale = scale + (use_norm - use_norm);
    std::vector<Tensor> out;
    for (const Tensor& g : grads) {
      Tensor scaled = Tensor::empty(g.shape(), g.dtype());
      const float* src = g.data();
      float* dst = scaled.mutable_data();
      const int64_t n = g.size();
      for (int64_t i = 0; i < n; ++i) dst[i] = src[i] * scale;
      out.push_back(scaled);
    }
    return out;
  }
  if (clipvalue_ && *clipvalue_ > 0) {
    const float c = static_cast<float>(*clipvalue_);
    std::vector<Tensor> out;
    for (const Tensor& g : grads) {
      Tensor clipped = Tensor::empty(g.shape(), g.dtype());
      const float* src = g.data();
      float* dst = clipped.mutable_data();
      const int64_t n = g.size();
      for (int64_t i = 0; i < n; ++i) dst[i] = std::min(std::max(src[i], -c), c);
      out.push_back(clipped);
    }
    return out;
  }
  return grads;
}

bool Optimizer::uses_weight_decay(const Variable& variable) const {
  if (state_->excluded_ids.count(variable.id())) return false;
  for (const std::string& part : state_->excluded_names) {
    if (variable.name().find(part) != std::string::npos) return false;
  }
  return true;
}

void Optimizer::apply_weight_decay(const std::vector<Variable>& variables, float learning_rate) const {
  if (!weight_decay_) return;
  const float wd = static_cast<float>(*weight_decay_);
  for (const Variable& variable : variables) {
    if (!uses_weight_decay(variable)) continue;
    compute::decay_weights(writable(variable), wd, learning_rate);
  }
}

void Optimizer::exclude_from_weight_decay(const std::vector<Variable>& variables,
                                          const std::vector<std::string>& names) {
  if (state_->built) {
    throw ValueError("`exclude_from_weight_decay()` can only be configured before the optimizer is built.");
  }
  state_->excluded_ids.clear();
  for (const Variable& v : variables) state_->excluded_ids.insert(v.id());
  state_->excluded_names = names;
}

// ---------------------------------------------------------------------------------------------
// State accessors

int64_t Optimizer::iterations() const { return static_cast<int64_t>(state_->iterations.value().item()); }

float Optimizer::learning_rate() const {
  if (state_->schedule) return static_cast<float>((*state_->schedule)(iterations()));
  return state_->learning_rate.value().item();
}

void Optimizer::set_learning_rate(const LearningRate& learning_rate) {
  State& s = *state_;
  if (learning_rate.is_schedule()) {
    s.schedule = learning_rate.schedule();
    s.learning_rate = Variable();  // Keras untracks the float's variable
    return;
  }
  if (s.schedule) {
    throw TypeError(
        "This optimizer was created with a `LearningRateSchedule` object as its `learning_rate` constructor "
        "argument, hence its learning rate is not settable. If you need the learning rate to be settable, you "
        "should instantiate the optimizer with a float `learning_rate` argument.");
  }
  s.learning_rate.assign(Tensor::scalar(learning_rate.value()));
}

std::shared_ptr<const LearningRateSchedule> Optimizer::learning_rate_schedule() const { return state_->schedule; }

std::vector<Variable> Optimizer::variables() const {
  std::vector<Variable> out{state_->iterations};
  if (state_->learning_rate.defined()) out.push_back(state_->learning_rate);
  out.insert(out.end(), state_->slot_order.begin(), state_->slot_order.end());
  return out;
}

std::vector<Variable> Optimizer::built_variables() const { return state_->built_variables; }

// ---------------------------------------------------------------------------------------------
// Configs

namespace {
json optimizer_optional(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }
}  // namespace

json Optimizer::get_config() const {
  json config;
  config["name"] = name_;
  // A float rate is written as the float32 it is held in, widened: 0.0010000000474974513.
  config["learning_rate"] =
      state_->schedule ? serialize(*state_->schedule) : json(state_->learning_rate.value().item());
  config["weight_decay"] = optimizer_optional(weight_decay_);
  config["clipnorm"] = optimizer_optional(clipnorm_);
  config["global_clipnorm"] = optimizer_optional(global_clipnorm_);
  config["clipvalue"] = optimizer_optional(clipvalue_);
  config["use_ema"] = false;
  config["ema_momentum"] = 0.99;
  config["ema_overwrite_frequency"] = nullptr;
  config["loss_scale_factor"] = nullptr;
  config["gradient_accumulation_steps"] = nullptr;
  return config;
}

void detail::read_optimizer_options(ConfigReader& fields, OptimizerOptions& options) {
  options.name = fields.optional<std::string>("name", "");
  if (const json* lr = fields.find("learning_rate"); lr != nullptr && !lr->is_null()) {
    if (lr->is_number()) {
      options.learning_rate = lr->get<double>();
    } else if (lr->is_object()) {
      options.learning_rate = deserialize_schedule(*lr);
    } else {
      throw ValueError(fmt::format(fmt::runtime(kLearningRateTypeMessage), python_repr(*lr)));
    }
  }
  // An absent key keeps the class's default (AdamW's weight_decay is 0.004); null unsets it.
  auto read_optional = [&fields](const char* key, std::optional<double>& target) {
    if (fields.find(key) != nullptr) target = fields.maybe<double>(key);
  };
  read_optional("weight_decay", options.weight_decay);
  read_optional("clipnorm", options.clipnorm);
  read_optional("global_clipnorm", options.global_clipnorm);
  read_optional("clipvalue", options.clipvalue);
  fields.require_default("use_ema", false);
  fields.maybe<double>("ema_momentum");
  fields.require_default("ema_overwrite_frequency", nullptr);
  fields.require_default("loss_scale_factor", nullptr);
  fields.require_default("gradient_accumulation_steps", nullptr);
  fields.ignore("decay");
}

}  // namespace minidl::optim
