// The built-in callbacks (keras/src/callbacks): EarlyStopping, TerminateOnNaN, CSVLogger,
// LearningRateScheduler.
#include "minidl/models/callbacks.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <fstream>

#include "minidl/core/error.h"
#include "minidl/models/detail/data_parallel.h"
#include "minidl/models/model.h"

namespace minidl {

Model& Callback::model() const {
  if (model_ == nullptr) {
    throw ValueError("This callback is not attached to a model: fit() and evaluate() attach the callbacks they get.");
  }
  return *model_;
}

namespace {

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

}  // namespace

std::string resolve_monitor_mode(const std::string& monitor, const std::string& mode) {
  if (mode == "min" || mode == "max") return mode;
  if (mode != "auto") {
    throw ValueError(fmt::format("mode must be one of 'auto', 'min' or 'max'; received mode={}.", mode));
  }
  std::string name = monitor;
  if (name.rfind("val_", 0) == 0) name = name.substr(4);
  if (name == "loss" || ends_with(name, "_loss") || ends_with(name, "crossentropy") || ends_with(name, "error") ||
      name == "mse" || name == "mae" || name == "huber") {
    return "min";
  }
  if (name == "accuracy" || name == "acc" || ends_with(name, "_accuracy")) return "max";
  // Keras's message when it cannot tell the direction of a metric.
  throw ValueError(fmt::format(
      "EarlyStopping callback received monitor={} but Keras isn't able to automatically determine whether that "
      "metric should be maximized or minimized. Pass `mode='max'` in order to do early stopping based on the highest "
      "metric value, or pass `mode='min'` in order to use the lowest value.",
      monitor));
}

// ---- the monitored metric ------------------------------------------------------------------------

namespace detail {

MetricMonitor::MetricMonitor(std::string callback, std::string monitor, std::string mode)
    : callback_(std::move(callback)), monitor_(std::move(monitor)), mode_(std::move(mode)) {
  if (mode_ != "auto" && mode_ != "min" && mode_ != "max") {
    throw ValueError(fmt::format("mode must be one of 'auto', 'min' or 'max'; received mode={}.", mode_));
  }
  if (mode_ != "auto") minimize_ = mode_ == "min";
}

std::optional<double> MetricMonitor::read(const Logs& logs) {
  const std::optional<double> value = logs.find(monitor_);
  if (!value) {
    std::vector<std::string> names;
    bool any_validation = false;
    for (const auto& item : logs.items()) {
      names.push_back(item.first);
      any_validation = any_validation || item.first.starts_with("val_");
    }
    const bool needs_validation =
        monitor_.starts_with("val_") && !any_validation && logs.contains(monitor_.substr(4));
    if (!needs_validation) {
      throw ValueError(fmt::format("{}: monitor='{}' is not a metric of this model. Available metrics are: {}.",
                                   callback_, monitor_, fmt::join(names, ", ")));
    }
    if (!warned_) {
      fmt::print(stderr,
                 "Warning: {} monitors '{}', which needs validation data: pass validation_split or validation_data "
                 "to fit(). Until then it does nothing. Available metrics are: {}.\n",
                 callback_, monitor_, fmt::join(names, ", "));
      warned_ = true;
    }
    return std::nullopt;
  }
  if (!minimize_) minimize_ = resolve_monitor_mode(monitor_, mode_) == "min";
  return value;
}

bool MetricMonitor::improved(double value, double reference, double min_delta) const {
  return minimize_.value_or(true) ? value + min_delta < reference : value - min_delta > reference;
}

}  // namespace detail

// ---- EarlyStopping -------------------------------------------------------------------------------

EarlyStopping::EarlyStopping(EarlyStoppingOptions options)
    : options_(std::move(options)), monitor_("EarlyStopping", options_.monitor, options_.mode) {
  options_.min_delta = std::fabs(options_.min_delta);
}

void EarlyStopping::on_train_begin(const Logs& /*logs*/) {
  wait_ = 0;
  stopped_epoch_ = 0;
  best_epoch_ = 0;
  best_.reset();
  best_weights_.clear();
  monitor_.reset();
}

void EarlyStopping::on_epoch_end(int epoch, const Logs& logs) {
  const std::optional<double> current = monitor_.read(logs);
  if (!current) return;
  if (epoch < options_.start_from_epoch) return;
  if (options_.restore_best_weights && best_weights_.empty()) {
    best_weights_ = model().get_weights();
    best_epoch_ = epoch;
  }
  ++wait_;
  if (!best_ || monitor_.improved(*current, *best_, options_.min_delta)) {
    best_ = *current;
    best_epoch_ = epoch;
    if (options_.restore_best_weights) best_weights_ = model().get_weights();
    // The wait restarts only when the baseline is beaten too.
    if (!options_.baseline || monitor_.improved(*current, *options_.baseline, options_.min_delta)) wait_ = 0;
    return;
  }
  if (wait_ >= options_.patience && epoch > 0) {
    stopped_epoch_ = epoch;
    model().set_stop_training(true);
  }
}

void EarlyStopping::on_train_end(const Logs& /*logs*/) {
  if (stopped_epoch_ > 0 && options_.verbose > 0) fmt::print("Epoch {}: early stopping\n", stopped_epoch_ + 1);
  if (options_.restore_best_weights && !best_weights_.empty()) {
    if (options_.verbose > 0) {
      fmt::print("Restoring model weights from the end of the best epoch: {}.\n", best_epoch_ + 1);
    }
    model().set_weights(best_weights_);
  }
}

// ---- CSVLogger -----------------------------------------------------------------------------------

CSVLogger::CSVLogger(std::string filename, std::string separator, bool append)
    : filename_(std::move(filename)), separator_(std::move(separator)), append_(append) {}

void CSVLogger::on_train_begin(const Logs& /*logs*/) {
  // Appending to an existing, non-empty file continues it without a second header.
  header_written_ = false;
  keys_.clear();
  if (append_) {
    std::ifstream existing(filename_);
    header_written_ = existing && existing.peek() != std::ifstream::traits_type::eof();
  }
  if (!distribution::detail::is_chief()) return;  // data-parallel: process 0 logs
  std::ofstream out(filename_, append_ ? std::ios::app : std::ios::trunc);
  if (!out) throw IOError(fmt::format("CSVLogger cannot open '{}' for writing.", filename_));
}

void CSVLogger::on_epoch_end(int epoch, const Logs& logs) {
  if (keys_.empty()) {
    for (const auto& item : logs.items()) keys_.push_back(item.first);
    std::sort(keys_.begin(), keys_.end());  // Keras writes the keys sorted
  }
  if (!distribution::detail::is_chief()) return;
  std::ofstream out(filename_, std::ios::app);
  if (!out) throw IOError(fmt::format("CSVLogger cannot write to '{}'.", filename_));
  if (!header_written_) {
    out << "epoch";
    for (const auto& key : keys_) out << separator_ << key;
    out << "\n";
    header_written_ = true;
  }
  out << epoch;
  for (const auto& key : keys_) {
    const std::optional<double> v = logs.find(key);
    out << separator_ << (v ? fmt::format("{}", *v) : std::string("NA"));
  }
  out << "\n";
}

// ---- TerminateOnNaN ------------------------------------------------------------------------------

void TerminateOnNaN::on_train_batch_end(int64_t batch, const Logs& logs) {
  if (!logs.contains("loss")) return;
  const double loss = logs.at("loss");
  if (std::isfinite(loss)) return;
  if (options_.raise_error) {
    throw FloatingPointError(fmt::format(
        "NaN or Inf loss encountered at batch {}. Loss value: {}. Terminating training immediately.", batch, loss));
  }
  if (distribution::detail::is_chief()) fmt::print("Batch {}: Invalid loss, terminating training\n", batch);
  model().set_stop_training(true);
}

// ---- LearningRateScheduler -----------------------------------------------------------------------

LearningRateScheduler::LearningRateScheduler(std::function<double(int, double)> schedule, int verbose)
    : schedule_(std::move(schedule)), verbose_(verbose) {
  if (!schedule_) throw ValueError("LearningRateScheduler needs a schedule function.");
}

void LearningRateScheduler::on_epoch_begin(int epoch, const Logs& /*logs*/) {
  const auto optimizer = model().optimizer();
  if (!optimizer) throw ValueError("LearningRateScheduler needs a compiled model (it sets the optimizer's rate).");
  const double lr = schedule_(epoch, optimizer->learning_rate());
  if (!std::isfinite(lr)) {
    throw ValueError(fmt::format("The output of the \"schedule\" function should be a float. Got: {}", lr));
  }
  optimizer->set_learning_rate(static_cast<float>(lr));
  if (verbose_ > 0) {
    fmt::print("\nEpoch {}: LearningRateScheduler setting learning rate to {}.\n", epoch + 1, lr);
  }
}

}  // namespace minidl
