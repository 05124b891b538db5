#include "minidl/optim/schedules.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <numbers>

#include "minidl/core/class_table.h"
#include "minidl/core/error.h"
#include "minidl/core/config_reader.h"
#include "minidl/core/keras_envelope.h"

namespace minidl::optim {
namespace {

ClassTable<LearningRateSchedule>& schedule_table() {
  static ClassTable<LearningRateSchedule> table(
      "learning rate schedule", "keras.optimizers.schedules",
      {{"ExponentialDecay",
        [](const json& c) { return std::make_shared<ExponentialDecay>(ExponentialDecay::from_config(c)); }},
       {"CosineDecay", [](const json& c) { return std::make_shared<CosineDecay>(CosineDecay::from_config(c)); }},
       {"PiecewiseConstantDecay", [](const json& c) {
          return std::make_shared<PiecewiseConstantDecay>(PiecewiseConstantDecay::from_config(c));
        }}});
  return table;
}

double schedule_required(const std::optional<double>& value, const char* class_name, const char* key) {
  if (!value) {
    throw ValueError(fmt::format("{} requires `{}` (a float); it was not set.", class_name, key));
  }
  return *value;
}

void schedule_check_decay_steps(int64_t decay_steps) {
  if (decay_steps <= 0) {
    throw ValueError(fmt::format("Argument `decay_steps` must be > 0. Received: decay_steps={}", decay_steps));
  }
}

}  // namespace

json LearningRateSchedule::get_config() const {
  throw NotImplementedError(fmt::format(
      "Learning rate schedule '{}' must override `get_config()` in order to be serializable.", class_name_));
}

// ---------------------------------------------------------------------------------------------
// ExponentialDecay

ExponentialDecay::ExponentialDecay(const ExponentialDecayOptions& options)
    : LearningRateSchedule("ExponentialDecay"),
      initial_learning_rate_(
          schedule_required(options.initial_learning_rate, "ExponentialDecay", "initial_learning_rate")),
      decay_steps_(options.decay_steps),
      decay_rate_(schedule_required(options.decay_rate, "ExponentialDecay", "decay_rate")),
      staircase_(options.staircase),
      name_(options.name) {
  schedule_check_decay_steps(decay_steps_);
}

double ExponentialDecay::operator()(int64_t step) const {
  double p = static_cast<double>(step) / static_cast<double>(decay_steps_);
  if (staircase_) p = std::floor(p);
  return initial_learning_rate_ * std::pow(decay_rate_, p);
}

json ExponentialDecay::get_config() const {
  return json{{"initial_learning_rate", initial_learning_rate_},
              {"decay_steps", decay_steps_},
              {"decay_rate", decay_rate_},
              {"staircase", staircase_},
              {"name", name_}};
}

ExponentialDecay ExponentialDecay::from_config(const json& config) {
  ConfigReader f(config, "ExponentialDecay");
  ExponentialDecayOptions o;
  o.initial_learning_rate = f.required<double>("initial_learning_rate");
  o.decay_steps = f.required<int64_t>("decay_steps");
  o.decay_rate = f.required<double>("decay_rate");
  o.staircase = f.optional<bool>("staircase", false);
  o.name = f.optional<std::string>("name", "ExponentialDecay");
  f.reject_unread();
  return ExponentialDecay(o);
}

// ---------------------------------------------------------------------------------------------
// CosineDecay

CosineDecay::CosineDecay(const CosineDecayOptions& options)
    : LearningRateSchedule("CosineDecay"),
      initial_learning_rate_(schedule_required(options.initial_learning_rate, "CosineDecay", "initial_learning_rate")),
      decay_steps_(options.decay_steps),
      alpha_(options.alpha),
      name_(options.name),
      warmup_target_(options.warmup_target),
      warmup_steps_(options.warmup_steps) {
  schedule_check_decay_steps(decay_steps_);
}

double CosineDecay::decay(double step, double decay_from) const {
  const double completed_fraction = step / static_cast<double>(decay_steps_);
  const double cosine_decayed = 0.5 * (1.0 + std::cos(std::numbers::pi * completed_fraction));
  return decay_from * ((1.0 - alpha_) * cosine_decayed + alpha_);
}

double CosineDecay::operator()(int64_t step_count) const {
  const double step = static_cast<double>(step_count);
  const double decay_steps = static_cast<double>(decay_steps_);
  if (!warmup_target_) return decay(std::min(step, decay_steps), initial_learning_rate_);
  const double warmup_steps = static_cast<double>(warmup_steps_);
  const double clamped = std::min(step, decay_steps + warmup_steps);
  if (clamped < warmup_steps) {
    return (*warmup_target_ - initial_learning_rate_) * (clamped / warmup_steps) + initial_learning_rate_;
  }
  return decay(clamped - warmup_steps, *warmup_target_);
}

json CosineDecay::get_config() const {
  return json{{"initial_learning_rate", initial_learning_rate_},
              {"decay_steps", decay_steps_},
              {"alpha", alpha_},
              {"name", name_},
              {"warmup_target", warmup_target_ ? json(*warmup_target_) : json(nullptr)},
              {"warmup_steps", warmup_steps_}};
}

CosineDecay CosineDecay::from_config(const json& config) {
  ConfigReader f(config, "CosineDecay");
  CosineDecayOptions o;
  o.initial_learning_rate = f.required<double>("initial_learning_rate");
  o.decay_steps = f.required<int64_t>("decay_steps");
  o.alpha = f.optional<double>("alpha", 0.0);
  o.name = f.optional<std::string>("name", "CosineDecay");
  o.warmup_target = f.maybe<double>("warmup_target");
  o.warmup_steps = f.optional<int64_t>("warmup_steps", 0);
  f.reject_unread();
  return CosineDecay(o);
}

// ---------------------------------------------------------------------------------------------
// PiecewiseConstantDecay

PiecewiseConstantDecay::PiecewiseConstantDecay(const PiecewiseConstantDecayOptions& options)
    : LearningRateSchedule("PiecewiseConstantDecay"),
      boundaries_(options.boundaries),
      values_(options.values),
      name_(options.name) {
  if (boundaries_.size() + 1 != values_.size()) {
    throw ValueError(fmt::format(
        "The length of boundaries should be 1 less than the length of values. Received: boundaries={} of length "
        "{}, and values={} of length {}.",
        python_repr(json(boundaries_)), boundaries_.size(), python_repr(json(values_)),
        values_.size()));
  }
}

double PiecewiseConstantDecay::operator()(int64_t step) const {
  // Keras's sum of indicators: values[0] for step <= b[0], values[-1] for step > b[-1], and
  // values[i] for b[i-1] < step <= b[i].
  if (boundaries_.empty()) return values_.front();
  double result = 0.0;
  if (step <= boundaries_.front()) result += values_.front();
  if (step > boundaries_.back()) result += values_.back();
  for (size_t i = 1; i < boundaries_.size(); ++i) {
    if (step > boundaries_[i - 1] && step <= boundaries_[i]) result += values_[i];
  }
  return result;
}

json PiecewiseConstantDecay::get_config() const {
  return json{{"boundaries", boundaries_}, {"values", values_}, {"name", name_}};
}

PiecewiseConstantDecay PiecewiseConstantDecay::from_config(const json& config) {
  ConfigReader f(config, "PiecewiseConstantDecay");
  PiecewiseConstantDecayOptions o;
  for (const json& b : f.required_array("boundaries")) o.boundaries.push_back(f.integer_value("boundaries", b));
  for (const json& v : f.required_array("values")) {
    if (!v.is_number()) f.throw_mistyped("values", "a list of numbers", f.required_array("values"));
    o.values.push_back(v.get<double>());
  }
  o.name = f.optional<std::string>("name", "PiecewiseConstant");
  f.reject_unread();
  return PiecewiseConstantDecay(o);
}

// ---------------------------------------------------------------------------------------------
// Serialization

json serialize(const LearningRateSchedule& schedule) {
  return schedule_table().serialize(schedule.class_name(), schedule.get_config());
}

std::shared_ptr<LearningRateSchedule> deserialize_schedule(const json& object) {
  return schedule_table().deserialize(object);
}

void register_schedule(const std::string& class_name, ScheduleFactory factory) {
  schedule_table().add(class_name, std::move(factory));
}

}  // namespace minidl::optim
