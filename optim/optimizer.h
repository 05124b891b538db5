#pragma once
// The optimizer base class: Keras 3's BaseOptimizer (keras/src/optimizers/base_optimizer.py)
// with its shared arguments, apply() pipeline, slot variables, configs and error messages.
//
//   md::optim::Adam opt({.learning_rate = 1e-3f});
//   md::GradientTape tape;
//   md::Tensor loss = ...;
//   opt.apply(tape.gradient(loss, model.trainable_variables()), model.trainable_variables());
//
// apply(grads, vars) runs Keras's steps in Keras's order: build the slots on first use; skip
// variables whose gradient is undefined (Keras's None); clip (clipnorm, global_clipnorm or
// clipvalue); decoupled weight decay var -= var * weight_decay * lr for every optimizer that
// sets weight_decay; the optimizer's update; iterations += 1. The learning rate of a step is
// the schedule's value at `iterations` before the increment (0 for the first step).
//
// Updates are written straight into the variables' storage (bumping their versions, as
// Variable::assign does) and are never recorded on a GradientTape.
//
// Copies of an optimizer share its state (iterations, learning rate, slots, the variables it
// was built with), as copies of a Layer share its weights: the copy a model keeps after
// compile() and the object the user holds are the same optimizer. For an independent optimizer
// with the same settings, use from_config(get_config()) or md::optim::deserialize(serialize(opt)).
#include <concepts>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "minidl/autograd/variable.h"
#include "minidl/core/json.h"
#include "minidl/core/tensor.h"
#include "minidl/optim/schedules.h"

namespace minidl::optim {

// An optimizer's learning_rate argument: a float, or a schedule evaluated at every step.
//   .learning_rate = 1e-3f
//   .learning_rate = md::optim::CosineDecay({.initial_learning_rate = 0.1, .decay_steps = 1000})
//   .learning_rate = 1           // any number: int, float or double (a variable too)
// A number is kept as float32, as Keras keeps it in a float32 variable (its config then reads
// 0.0010000000474974513).
class LearningRate {
 public:
  template <class T>
    requires std::is_arithmetic_v<T> && (!std::is_same_v<T, bool>)
  LearningRate(T value) : value_(static_cast<float>(value)) {}  // NOLINT: implicit on purpose
  template <class S>
    requires std::derived_from<S, LearningRateSchedule>
  LearningRate(std::shared_ptr<S> schedule) : schedule_(std::move(schedule)) {  // NOLINT
    check_schedule();
  }
  template <class S>
    requires std::derived_from<std::remove_cvref_t<S>, LearningRateSchedule>
  LearningRate(S&& schedule)  // NOLINT: a schedule object is copied into a shared one
      : schedule_(std::make_shared<std::remove_cvref_t<S>>(std::forward<S>(schedule))) {}

  bool is_schedule() const { return schedule_ != nullptr; }
  // The float (throws ValueError for a schedule).
  float value() const;
  const std::shared_ptr<const LearningRateSchedule>& schedule() const { return schedule_; }

 private:
  void check_schedule() const;
  float value_ = 0.0f;
  std::shared_ptr<const LearningRateSchedule> schedule_;
};

// The arguments every optimizer shares (Keras's BaseOptimizer arguments that minidl supports;
// use_ema, loss_scale_factor and gradient_accumulation_steps are not implemented).
struct OptimizerOptions {
  LearningRate learning_rate = 0.001f;
  std::optional<double> weight_decay{};
  // At most one of the three clip arguments may be set (Keras's ValueError otherwise).
  std::optional<double> clipnorm{};         // per gradient: g * c / max(||g||, c)
  std::optional<double> clipvalue{};        // per element: clip(g, -c, c)
  std::optional<double> global_clipnorm{};  // all gradients scaled so their joint norm is <= c
  std::string name{};                       // empty: Keras's auto name (sgd, adam, adam_w, ...)
};

// Base of every optimizer. A user optimizer overrides build_slots (optional), update_step,
// get_config (when it has settings of its own) and clone:
//   class SignSGD : public md::optim::Optimizer {
//    public:
//     explicit SignSGD(const md::optim::OptimizerOptions& o) : Optimizer("SignSGD", o) {}
//     std::shared_ptr<Optimizer> clone() const override { return std::make_shared<SignSGD>(*this); }
//    protected:
//     void update_step(const md::Tensor& g, const md::Variable& v, float lr) override { ... }
//   };
class Optimizer {
 public:
  virtual ~Optimizer() = default;

  // Keras's class name ("Adam") and the instance name ("adam", "adam_1", ... or the one given).
  const std::string& class_name() const { return class_name_; }
  const std::string& name() const { return name_; }

  // One gradient per variable, in the same order; an undefined Tensor skips its variable.
  // Throws ValueError when the counts differ, when no gradient is defined ("No gradients
  // provided for any variable."), or for a variable the optimizer was not built with; ShapeError
  // when a gradient's shape is not its variable's. Empty lists are a no-op (iterations stays).
  // Skipped variables are reported once per optimizer on stderr, in Keras's UserWarning words:
  // a missing gradient usually means a disconnected layer or a forgotten loss.
  void apply(const std::vector<Tensor>& grads, const std::vector<Variable>& variables);
  // The variables of the first apply() (or build()), in that order.
  void apply(const std::vector<Tensor>& grads);
  void apply_gradients(const std::vector<std::pair<Tensor, Variable>>& grads_and_vars);

  // Creates the slot variables for `variables` (apply() does this on first use). Later calls
  // do nothing: an optimizer serves the variables it was first built with.
  void build(const std::vector<Variable>& variables);
  bool built() const;

  // Steps taken so far (Keras's `iterations`). Held in an int32 variable, which minidl stores
  // as float32, so it counts exactly up to 2^24 (16.7 million) steps.
  int64_t iterations() const;
  // The rate the next step will use: the float, or the schedule at iterations().
  float learning_rate() const;
  // A float replaces the current float; a schedule replaces either. Setting a float on an
  // optimizer built with a schedule is a TypeError (Keras's words).
  void set_learning_rate(const LearningRate& learning_rate);
  // The schedule, or null when the rate is a float.
  std::shared_ptr<const LearningRateSchedule> learning_rate_schedule() const;

  std::optional<double> weight_decay() const { return weight_decay_; }
  std::optional<double> clipnorm() const { return clipnorm_; }
  std::optional<double> clipvalue() const { return clipvalue_; }
  std::optional<double> global_clipnorm() const { return global_clipnorm_; }

  // Keras's optimizer.variables, the state to save: `iteration`, then `learning_rate` (only for
  // a float rate), then the slots in the order build created them (e.g. Adam: momentum and
  // velocity interleaved per variable, then velocity_hat per variable with amsgrad). Slot
  // names follow Keras: "<variable path with / as _>_<slot>", e.g. "dense_kernel_momentum";
  // their paths are "<optimizer name>/<slot name>".
  std::vector<Variable> variables() const;
  // The model variables the optimizer was built with.
  std::vector<Variable> built_variables() const;

  // Exempts variables from weight decay: these ones, and those whose name contains one of the
  // strings (Keras searches the names with a regex of the alternatives; minidl matches plain
  // substrings). Only before the optimizer is built.
  void exclude_from_weight_decay(const std::vector<Variable>& variables = {},
                                 const std::vector<std::string>& names = {});

  // Keras's keys and order: name, learning_rate (a float, or the schedule's envelope),
  // weight_decay, clipnorm, global_clipnorm, clipvalue, use_ema, ema_momentum,
  // ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps, then the
  // subclass's keys.
  virtual json get_config() const;

  // A copy as the most-derived type, sharing the state (see the note at the top).
  virtual std::shared_ptr<Optimizer> clone() const = 0;

 protected:
  // `options.name` empty: auto_name(class_name). Throws ValueError (Keras's text) when more
  // than one clip argument is set.
  Optimizer(std::string class_name, const OptimizerOptions& options);
  Optimizer(const Optimizer&) = default;
  Optimizer& operator=(const Optimizer&) = default;

  // Creates the subclass's slots (add_optimizer_variables), once, at build time.
  virtual void build_slots(const std::vector<Variable>& variables);
  // Updates one variable (and its slots) from its (clipped) gradient. `gradient` has the
  // variable's shape; learning_rate is this step's rate.
  virtual void update_step(const Tensor& gradient, const Variable& variable, float learning_rate) = 0;
  // Updates every variable of one apply() (gradients already filtered and clipped, weight decay
  // applied). The default calls update_step for each in order; an optimizer whose update is
  // elementwise may override it to update them all in one pass (Adam: one parallel region per
  // step instead of one per variable), with the same result.
  virtual void update_steps(const std::vector<Tensor>& gradients, const std::vector<Variable>& variables,
                            float learning_rate);

  // One zero-filled (or `initial_value`) slot per variable, registered under `slot`.
  std::vector<Variable> add_optimizer_variables(const std::vector<Variable>& variables, const std::string& slot,
                                                float initial_value = 0.0f);
  // Several slots created variable by variable (all of variable 0's, then variable 1's, ...),
  // the order Keras's add_optimizer_variables uses for a list of names.
  void add_optimizer_variables(const std::vector<Variable>& variables, const std::vector<std::string>& slots,
                               float initial_value = 0.0f);
  // The slot `slot` of the index-th built variable.
  const Variable& slot(const std::string& slot, size_t index) const;
  // The position of `variable` in the built list (Keras's _get_variable_index).
  size_t variable_index(const Variable& variable) const;

  // Writable elements of a variable or slot; bumps its storage version so that tapes that
  // saved the old value notice the change.
  static float* mutable_values(const Variable& variable);
  // The same as a tensor handle, for the update kernels of core/compute.h (version bumped).
  static const Tensor& writable(const Variable& variable);

 private:
  struct State;
  std::vector<std::pair<Tensor, Variable>> filter_gradients(const std::vector<Tensor>& grads,
                                                            const std::vector<Variable>& variables) const;
  std::vector<Tensor> clip_gradients(const std::vector<Tensor>& grads) const;
  void apply_weight_decay(const std::vector<Variable>& variables, float learning_rate) const;
  bool uses_weight_decay(const Variable& variable) const;

  std::string class_name_;
  std::string name_;
  std::optional<double> weight_decay_;
  std::optional<double> clipnorm_;
  std::optional<double> clipvalue_;
  std::optional<double> global_clipnorm_;
  std::shared_ptr<State> state_;
};

}  // namespace minidl::optim
