#pragma once
// Callbacks: hooks fit() and evaluate() call around epochs and batches (Keras's
// keras.callbacks). A user callback is one subclass overriding the hooks it needs:
//
//   struct StopAtLoss : md::Callback {
//     void on_epoch_end(int epoch, const md::Logs& logs) override {
//       if (logs.at("loss") < 0.1) model().set_stop_training(true);
//     }
//   };
//   model.fit(x, y, {.epochs = 50, .callbacks = {std::make_shared<StopAtLoss>(),
//                                                std::make_shared<md::EarlyStopping>(
//                                                    md::EarlyStoppingOptions{.patience = 3})}});
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "minidl/core/tensor.h"
#include "minidl/models/training.h"

namespace minidl {

class Model;

class Callback {
 public:
  virtual ~Callback() = default;

  virtual void on_train_begin(const Logs& /*logs*/) {}
  virtual void on_train_end(const Logs& /*logs*/) {}
  virtual void on_epoch_begin(int /*epoch*/, const Logs& /*logs*/) {}
  virtual void on_epoch_end(int /*epoch*/, const Logs& /*logs*/) {}
  virtual void on_train_batch_begin(int64_t /*batch*/, const Logs& /*logs*/) {}
  virtual void on_train_batch_end(int64_t /*batch*/, const Logs& /*logs*/) {}
  virtual void on_test_begin(const Logs& /*logs*/) {}
  virtual void on_test_end(const Logs& /*logs*/) {}
  virtual void on_test_batch_end(int64_t /*batch*/, const Logs& /*logs*/) {}

  // fit() and evaluate() set the model before the first hook.
  void set_model(Model* model) { model_ = model; }
  // Throws ValueError when the callback is not attached to a model.
  Model& model() const;

 private:
  Model* model_ = nullptr;
};

// "min" for losses and errors, "max" for accuracies (Keras's mode="auto").
std::string resolve_monitor_mode(const std::string& monitor, const std::string& mode);

namespace detail {

// The metric a callback watches (EarlyStopping, ModelCheckpoint's save_best_only). It finds the
// metric in an epoch's logs; says once per fit() when a val_ metric needs validation data that
// fit() was not given; rejects a name that is not a log at all, listing the ones there are; and
// settles mode="auto" from the name when it first sees it.
class MetricMonitor {
 public:
  MetricMonitor(std::string callback, std::string monitor, std::string mode);
  // A new fit(): the missing-validation warning may be given again.
  void reset() { warned_ = false; }
  // The monitored value, or nullopt when fit() has no validation data for a val_ metric.
  // Throws ValueError for a name absent from the logs (and for an undecidable auto mode).
  std::optional<double> read(const Logs& logs);
  // Whether `value` beats `reference` by more than `min_delta` in the monitored direction.
  bool improved(double value, double reference, double min_delta = 0.0) const;
  const std::string& monitor() const { return monitor_; }

 private:
  std::string callback_, monitor_, mode_;
  std::optional<bool> minimize_;
  bool warned_ = false;
};

}  // namespace detail

// Stops training when `monitor` stops improving (keras.callbacks.EarlyStopping).
//   std::make_shared<md::EarlyStopping>(md::EarlyStoppingOptions{.monitor = "val_loss", .patience = 2})
struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  int patience = 0;
  int verbose = 0;
  std::string mode = "auto";  // "auto", "min" or "max"
  std::optional<double> baseline{};
  bool restore_best_weights = false;
  int start_from_epoch = 0;
};

class EarlyStopping : public Callback {
 public:
  explicit EarlyStopping(EarlyStoppingOptions options = {});
  void on_train_begin(const Logs& logs) override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  void on_train_end(const Logs& logs) override;
  // The epoch training stopped after (0 when it ran to the end), as Keras's stopped_epoch.
  int stopped_epoch() const { return stopped_epoch_; }
  int best_epoch() const { return best_epoch_; }

 private:
  EarlyStoppingOptions options_;
  detail::MetricMonitor monitor_;
  int wait_ = 0;
  int stopped_epoch_ = 0;
  int best_epoch_ = 0;
  std::optional<double> best_;
  std::vector<Tensor> best_weights_;
};

// Saves the model (or only its weights) at the end of every epoch, or only when `monitor`
// improves (keras.callbacks.ModelCheckpoint). The file is replaced atomically.
//   std::make_shared<md::ModelCheckpoint>(md::ModelCheckpointOptions{
//       .filepath = "best.keras", .monitor = "val_accuracy", .save_best_only = true})
struct ModelCheckpointOptions {
  std::string filepath;  // "{epoch}" is replaced by the 1-based epoch number (Keras's format)
  std::string monitor = "val_loss";
  int verbose = 0;
  bool save_best_only = false;
  std::string mode = "auto";
  // Keras's default: the whole model as a `.keras` file (md::save_model); true writes only the
  // weights, to a `.weights.h5` file (md::save_weights). Both replace the file atomically.
  bool save_weights_only = false;
};

class ModelCheckpoint : public Callback {
 public:
  explicit ModelCheckpoint(ModelCheckpointOptions options);
  void on_train_begin(const Logs& logs) override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  std::optional<double> best() const { return best_; }

 private:
  ModelCheckpointOptions options_;
  detail::MetricMonitor monitor_;
  std::optional<double> best_;
};

// Backs up the training state (the weights with the optimizer's state, and the epoch) at the end
// of every epoch, or every `save_freq` batches, and restores it at the start of the next fit(),
// which then resumes at the saved epoch (keras.callbacks.BackupAndRestore, its files:
// <backup_dir>/latest.weights.h5 and training_metadata.json). For jobs that may be killed:
// rerun the same program and it continues. Data-parallel: process 0 writes, every process reads.
// (A `.keras` file from ModelCheckpoint is enough to resume too: md::load_model restores the
// optimizer state, and fit's initial_epoch names the epoch to continue from.) Dropout masks and
// shuffling follow the batch's place in the run, so a resumed run repeats the uninterrupted one.
//   std::make_shared<md::BackupAndRestore>(md::BackupAndRestoreOptions{.backup_dir = "/tmp/backup"})
struct BackupAndRestoreOptions {
  std::string backup_dir;
  // "epoch", or a number of batches (Keras's save_freq).
  std::variant<std::string, int64_t> save_freq = std::string("epoch");
  bool double_checkpoint = false;  // keep the previous state too (.bkp), used when the latest is unreadable
  bool delete_checkpoint = true;   // remove backup_dir when fit() ends
};

class BackupAndRestore : public Callback {
 public:
  explicit BackupAndRestore(BackupAndRestoreOptions options);
  void on_train_begin(const Logs& logs) override;
  void on_epoch_end(int epoch, const Logs& logs) override;
  void on_train_batch_end(int64_t batch, const Logs& logs) override;
  void on_train_end(const Logs& logs) override;

 private:
  void load();
  void save();
  BackupAndRestoreOptions options_;
  std::string weights_path_, metadata_path_;
  int current_epoch_ = 0;
  int64_t last_batch_seen_ = 0;
  int64_t batches_since_save_ = 0;
};

// Stops training at the first batch whose loss is NaN or infinite (keras.callbacks.TerminateOnNaN):
// prints "Batch N: Invalid loss, terminating training", and fit() ends after that batch, still
// running every callback's on_epoch_end and on_train_end. raise_error throws FloatingPointError
// at once instead, so that no later hook (a checkpoint, a backup's clean-up) runs.
//   model.fit(x, y, {.epochs = 10, .callbacks = {std::make_shared<md::TerminateOnNaN>()}});
struct TerminateOnNaNOptions {
  bool raise_error = false;
};

class TerminateOnNaN : public Callback {
 public:
  explicit TerminateOnNaN(TerminateOnNaNOptions options = {}) : options_(options) {}
  void on_train_batch_end(int64_t batch, const Logs& logs) override;

 private:
  TerminateOnNaNOptions options_;
};

// Streams epoch results to a CSV file: "epoch" then the log names sorted, as Keras writes.
//   std::make_shared<md::CSVLogger>("training.csv")
class CSVLogger : public Callback {
 public:
  explicit CSVLogger(std::string filename, std::string separator = ",", bool append = false);
  void on_train_begin(const Logs& logs) override;
  void on_epoch_end(int epoch, const Logs& logs) override;

 private:
  std::string filename_, separator_;
  bool append_;
  std::vector<std::string> keys_;
  bool header_written_ = false;
};

// Sets the optimizer's learning rate at the start of every epoch from schedule(epoch, lr).
//   std::make_shared<md::LearningRateScheduler>([](int epoch, double lr) { return epoch < 5 ? lr : lr * 0.9; })
class LearningRateScheduler : public Callback {
 public:
  explicit LearningRateScheduler(std::function<double(int epoch, double lr)> schedule, int verbose = 0);
  void on_epoch_begin(int epoch, const Logs& logs) override;

 private:
  std::function<double(int, double)> schedule_;
  int verbose_;
};

}  // namespace minidl
