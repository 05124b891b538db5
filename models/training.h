#pragma once
// What Model::compile / fit / evaluate / predict take and return (Keras's arguments and
// defaults), and the per-epoch logs and History they produce.
//
//   model.compile({.optimizer = md::optim::Adam({.learning_rate = 1e-3f}),
//                  .loss = "sparse_categorical_crossentropy",
//                  .metrics = {"accuracy"}});
//   md::History h = model.fit(x, y, {.epochs = 5, .batch_size = 64, .validation_split = 0.1});
//   h["val_accuracy"].back();
//   md::Logs results = model.evaluate(x_test, y_test);     // results.at("loss")
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "minidl/core/json.h"
#include "minidl/core/tensor.h"
#include "minidl/optim/losses.h"
#include "minidl/optim/metrics.h"
#include "minidl/optim/optimizer.h"

namespace minidl {

class Callback;

// The model's inputs: one tensor, or one per model input ({q, v}).
struct ModelInputs {
  ModelInputs(const Tensor& x) : tensors{x} {}  // NOLINT: implicit, as Keras takes either
  ModelInputs(std::vector<Tensor> xs) : tensors(std::move(xs)) {}  // NOLINT
  ModelInputs(std::initializer_list<Tensor> xs) : tensors(xs) {}
  std::vector<Tensor> tensors;
};

// An optimizer given by name ("adam"), by value (md::optim::Adam({...})) or shared.
struct OptimizerArg {
  OptimizerArg(const char* name);         // NOLINT
  OptimizerArg(const std::string& name);  // NOLINT
  OptimizerArg(std::shared_ptr<optim::Optimizer> optimizer);  // NOLINT
  OptimizerArg(const optim::Optimizer& optimizer);            // NOLINT: shares its state
  std::shared_ptr<optim::Optimizer> optimizer;
};

// A loss given by name ("mse", "sparse_categorical_crossentropy") or as an object.
struct LossArg {
  LossArg() = default;
  LossArg(const char* name);                          // NOLINT
  LossArg(const std::string& name);                   // NOLINT
  LossArg(std::shared_ptr<losses::Loss> loss);        // NOLINT
  LossArg(const losses::Loss& loss);                  // NOLINT
  std::shared_ptr<losses::Loss> loss;
  std::string identifier;  // the string given (decides what "accuracy" means), or the class name
};

// A metric given by name ("accuracy", "mae") or as an object.
struct MetricArg {
  MetricArg(const char* name);                          // NOLINT
  MetricArg(const std::string& name);                   // NOLINT
  MetricArg(std::shared_ptr<metrics::Metric> metric);   // NOLINT
  MetricArg(const metrics::Metric& metric);             // NOLINT
  std::string name;
  std::shared_ptr<metrics::Metric> metric;  // null for names, resolved against the loss at compile
};

struct CompileOptions {
  OptimizerArg optimizer = "rmsprop";  // Keras's default
  LossArg loss{};
  std::vector<MetricArg> metrics{};
};

// Per-epoch (or per-batch) results in Keras's order: loss, the metrics, then val_ ones.
class Logs {
 public:
  void set(const std::string& name, double value);
  // Throws ValueError listing the names present.
  double at(const std::string& name) const;
  std::optional<double> find(const std::string& name) const;
  bool contains(const std::string& name) const { return find(name).has_value(); }
  const std::vector<std::pair<std::string, double>>& items() const { return items_; }
  bool empty() const { return items_.empty(); }
  json to_json() const;

 private:
  std::vector<std::pair<std::string, double>> items_;
};

// Keras's History: one list per log name, one entry per epoch.
struct History {
  std::vector<int> epoch;
  std::vector<std::pair<std::string, std::vector<double>>> history;
  // Throws ValueError naming the keys present.
  const std::vector<double>& operator[](const std::string& name) const;
  std::vector<std::string> keys() const;
  void append(int epoch_index, const Logs& logs);
};

// verbose: 0 silent; 1 Keras's updating progress bar (when stdout is a terminal, otherwise one
// line per epoch as with 2); 2 one line per epoch; -1 = "auto" = 1.
struct FitOptions {
  int epochs = 1;
  int64_t batch_size = 32;
  int verbose = -1;
  std::vector<std::shared_ptr<Callback>> callbacks{};
  double validation_split = 0.0;  // the last fraction of the samples, taken before shuffling
  std::optional<std::pair<ModelInputs, Tensor>> validation_data{};
  bool shuffle = true;
  std::optional<uint64_t> seed{};  // shuffling order; unset = drawn from md::random's global seed
  int initial_epoch = 0;
};

struct EvaluateOptions {
  int64_t batch_size = 32;
  int verbose = -1;
  std::vector<std::shared_ptr<Callback>> callbacks{};
};

struct PredictOptions {
  int64_t batch_size = 32;
  int verbose = 0;
};

}  // namespace minidl
