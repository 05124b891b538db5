// ModelCheckpoint (keras/src/callbacks/model_checkpoint.py): saves the model through
// md::save_model (`.keras`) or the weights through md::save_weights (save_weights_only), both of
// which replace the file atomically.
#include <fmt/format.h>

#include <filesystem>

#include "minidl/core/error.h"
#include "minidl/models/callbacks.h"
#include "minidl/models/keras_file.h"
#include "minidl/models/detail/data_parallel.h"
#include "minidl/models/model.h"
#include "minidl/models/weights_h5.h"

namespace minidl {

namespace fs = std::filesystem;

ModelCheckpoint::ModelCheckpoint(ModelCheckpointOptions options)
    : options_(std::move(options)), monitor_("ModelCheckpoint", options_.monitor, options_.mode) {
  if (options_.filepath.empty()) {
    throw ValueError(
        "ModelCheckpoint needs a filepath, e.g. \"best.keras\" (or \"best.weights.h5\" with save_weights_only).");
  }
  // Keras's messages (ModelCheckpoint.__init__).
  if (options_.save_weights_only && !options_.filepath.ends_with(".weights.h5")) {
    throw ValueError(fmt::format("When using `save_weights_only=True` in `ModelCheckpoint`, the filepath provided "
                                 "must end in `.weights.h5` (Keras weights format). Received: filepath={}",
                                 options_.filepath));
  }
  if (!options_.save_weights_only && !options_.filepath.ends_with(".keras")) {
    throw ValueError(fmt::format("The filepath provided must end in `.keras` (Keras model format). Received: "
                                 "filepath={}",
                                 options_.filepath));
  }
}

void ModelCheckpoint::on_train_begin(const Logs& /*logs*/) { monitor_.reset(); }

void ModelCheckpoint::on_epoch_end(int epoch, const Logs& logs) {
  std::string path = options_.filepath;
  for (size_t at = path.find("{epoch}"); at != std::string::npos; at = path.find("{epoch}")) {
    path.replace(at, 7, std::to_string(epoch + 1));
  }
  if (options_.save_best_only) {
    const std::optional<double> current = monitor_.read(logs);
    if (!current) return;  // no validation data: said once by the monitor
    const bool better = !best_ || monitor_.improved(*current, *best_);
    if (!better) {
      if (options_.verbose > 0) {
        fmt::print("\nEpoch {}: {} did not improve from {:.5f}\n", epoch + 1, options_.monitor, *best_);
      }
      return;
    }
    if (options_.verbose > 0) {
      fmt::print("\nEpoch {}: {} improved from {} to {:.5f}, saving model to {}\n", epoch + 1, options_.monitor,
                 best_ ? fmt::format("{:.5f}", *best_) : std::string("inf"), *current, path);
    }
    best_ = *current;
  } else if (options_.verbose > 0) {
    fmt::print("\nEpoch {}: saving model to {}\n", epoch + 1, path);
  }
  // Data-parallel: every process holds the same weights; process 0 writes them while the others
  // wait in fit() to hear whether it succeeded.
  if (!distribution::detail::is_chief()) return;
  // Keras creates the file's directory when it is missing.
  if (const fs::path dir = fs::path(path).parent_path(); !dir.empty()) fs::create_directories(dir);
  if (options_.save_weights_only) {
    save_weights(model(), path);
  } else {
    save_model(model(), path);
  }
}

}  // namespace minidl
