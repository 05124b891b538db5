#pragma once
// Learning-rate schedules with Keras's arguments, formulas and configs
// (keras.optimizers.schedules). An optimizer given a schedule asks it for the rate at every
// step, with step = the optimizer's iterations before the update (0 for the first step).
//
//   auto lr = md::optim::ExponentialDecay({.initial_learning_rate = 0.1, .decay_steps = 1000,
//                                          .decay_rate = 0.96, .staircase = true});
//   md::optim::SGD opt({.learning_rate = lr});
//   lr(2500);   // 0.1 * 0.96^2
//
// Rates are computed in double. Keras computes them in float32, so the two agree to float32
// precision; the optimizer narrows the rate to float32 before using it, as Keras does.
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "minidl/core/json.h"

namespace minidl::optim {

// Base of every schedule. A user schedule is one class plus (for configs) one registration:
//   struct Halving : md::optim::LearningRateSchedule {
//     Halving() : LearningRateSchedule("Halving") {}
//     double operator()(int64_t step) const override { return 0.1 / double(1 << (step / 100)); }
//     md::json get_config() const override { return md::json::object(); }
//   };
//   md::optim::register_schedule("Halving", [](const md::json&) { return std::make_shared<Halving>(); });
// Schedules are immutable, so optimizers and their copies share one instance.
class LearningRateSchedule {
 public:
  explicit LearningRateSchedule(std::string class_name) : class_name_(std::move(class_name)) {}
  virtual ~LearningRateSchedule() = default;

  virtual double operator()(int64_t step) const = 0;
  // Keras's keys and order. The base throws NotImplementedError (Keras's words): a schedule
  // without a config cannot be saved with its optimizer.
  virtual json get_config() const;

  const std::string& class_name() const { return class_name_; }

 protected:
  LearningRateSchedule(const LearningRateSchedule&) = default;
  LearningRateSchedule& operator=(const LearningRateSchedule&) = default;

 private:
  std::string class_name_;
};

// Fields without a usable default (std::nullopt, decay_steps 0) are the positional arguments
// Keras requires; leaving one unset is a ValueError naming it.
struct ExponentialDecayOptions {
  std::optional<double> initial_learning_rate{};
  int64_t decay_steps = 0;  // must be > 0
  std::optional<double> decay_rate{};
  bool staircase = false;  // true: the exponent is floor(step / decay_steps)
  std::string name = "ExponentialDecay";
};

// initial_learning_rate * decay_rate ^ (step / decay_steps).
//   md::optim::ExponentialDecay({.initial_learning_rate = 1e-2, .decay_steps = 10000, .decay_rate = 0.9})
class ExponentialDecay : public LearningRateSchedule {
 public:
  using Options = ExponentialDecayOptions;
  explicit ExponentialDecay(const ExponentialDecayOptions& options);
  static ExponentialDecay from_config(const json& config);

  double operator()(int64_t step) const override;
  json get_config() const override;

  double initial_learning_rate() const { return initial_learning_rate_; }
  int64_t decay_steps() const { return decay_steps_; }
  double decay_rate() const { return decay_rate_; }
  bool staircase() const { return staircase_; }
  const std::string& name() const { return name_; }

 private:
  double initial_learning_rate_;
  int64_t decay_steps_;
  double decay_rate_;
  bool staircase_;
  std::string name_;
};

struct CosineDecayOptions {
  std::optional<double> initial_learning_rate{};
  int64_t decay_steps = 0;  // must be > 0
  double alpha = 0.0;       // the floor, as a fraction of the rate the decay starts from
  std::string name = "CosineDecay";
  std::optional<double> warmup_target{};  // unset: no warmup, decay from initial_learning_rate
  int64_t warmup_steps = 0;
};

// Optional linear warmup from initial_learning_rate to warmup_target over warmup_steps, then
// cosine decay to alpha * (warmup_target or initial_learning_rate) over decay_steps (SGDR).
//   md::optim::CosineDecay({.initial_learning_rate = 0.0, .decay_steps = 1000,
//                           .warmup_target = 0.1, .warmup_steps = 100})
class CosineDecay : public LearningRateSchedule {
 public:
  using Options = CosineDecayOptions;
  explicit CosineDecay(const CosineDecayOptions& options);
  static CosineDecay from_config(const json& config);

  double operator()(int64_t step) const override;
  json get_config() const override;

  double initial_learning_rate() const { return initial_learning_rate_; }
  int64_t decay_steps() const { return decay_steps_; }
  double alpha() const { return alpha_; }
  const std::string& name() const { return name_; }
  std::optional<double> warmup_target() const { return warmup_target_; }
  int64_t warmup_steps() const { return warmup_steps_; }

 private:
  double decay(double step, double decay_from) const;

  double initial_learning_rate_;
  int64_t decay_steps_;
  double alpha_;
  std::string name_;
  std::optional<double> warmup_target_;
  int64_t warmup_steps_;
};

struct PiecewiseConstantDecayOptions {
  std::vector<int64_t> boundaries{};  // steps, meant to be strictly increasing
  std::vector<double> values{};       // one more than boundaries
  std::string name = "PiecewiseConstant";
};

// values[0] while step <= boundaries[0], values[1] while step <= boundaries[1], ...,
// values.back() after the last boundary.
//   md::optim::PiecewiseConstantDecay({.boundaries = {100000, 110000}, .values = {1.0, 0.5, 0.1}})
// Computed as Keras does, as a sum of one indicator per interval, so boundaries that are not
// increasing give Keras's (odd) values rather than an error.
class PiecewiseConstantDecay : public LearningRateSchedule {
 public:
  using Options = PiecewiseConstantDecayOptions;
  explicit PiecewiseConstantDecay(const PiecewiseConstantDecayOptions& options);
  static PiecewiseConstantDecay from_config(const json& config);

  double operator()(int64_t step) const override;
  json get_config() const override;

  const std::vector<int64_t>& boundaries() const { return boundaries_; }
  const std::vector<double>& values() const { return values_; }
  const std::string& name() const { return name_; }

 private:
  std::vector<int64_t> boundaries_;
  std::vector<double> values_;
  std::string name_;
};

// Keras's envelope: {"module": "keras.optimizers.schedules", "class_name": "ExponentialDecay",
// "config": {...}, "registered_name": null}. Registered user schedules get module
// "minidl.custom" and registered_name "Custom>Name", unregistered ones their class name.
json serialize(const LearningRateSchedule& schedule);

// Rebuilds a schedule from serialize()'s envelope or Keras 2's {"class_name", "config"}.
// Unknown classes raise Keras's "Could not locate class ..." ValueError.
std::shared_ptr<LearningRateSchedule> deserialize_schedule(const json& object);

using ScheduleFactory = std::function<std::shared_ptr<LearningRateSchedule>(const json& config)>;
// Makes a user schedule class deserializable (inside optimizer configs too). Registering a
// name again replaces the factory.
void register_schedule(const std::string& class_name, ScheduleFactory factory);

}  // namespace minidl::optim
