// BackupAndRestore (keras/src/callbacks/backup_and_restore.py): the same files and the same
// resume rule (the weights and optimizer state of the last backup, fit() restarting at its
// epoch), written through md::save_weights with the optimizer's variables.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "minidl/core/error.h"
#include "minidl/models/callbacks.h"
#include "minidl/models/detail/data_parallel.h"
#include "minidl/models/model.h"
#include "minidl/models/weights_h5.h"

namespace minidl {

namespace fs = std::filesystem;

BackupAndRestore::BackupAndRestore(BackupAndRestoreOptions options) : options_(std::move(options)) {
  if (options_.backup_dir.empty()) throw ValueError("Empty `backup_dir` argument passed");
  weights_path_ = (fs::path(options_.backup_dir) / "latest.weights.h5").string();
  metadata_path_ = (fs::path(options_.backup_dir) / "training_metadata.json").string();
  if (const auto* freq = std::get_if<std::string>(&options_.save_freq); freq && *freq != "epoch") {
    throw ValueError(fmt::format("Invalid value for argument `save_freq`. Received: save_freq={}. Expected either "
                                 "'epoch' or an integer value.",
                                 *freq));
  }
  if (const auto* freq = std::get_if<int64_t>(&options_.save_freq); freq && *freq <= 0) {
    throw ValueError(fmt::format("BackupAndRestore: an integer save_freq counts batches and must be positive; "
                                 "received {}.",
                                 *freq));
  }
}

void BackupAndRestore::load() {
  Model& m = model();
  if (!m.built()) {
    throw ValueError(fmt::format("To use the BackupAndRestore callback, you model must be built before you call "
                                 "`fit()`. Model {} is unbuilt. You can build it beforehand by calling it on a "
                                 "batch of data.",
                                 m.name()));
  }
  if (fs::exists(weights_path_)) {
    // Make sure the optimizer's slots exist before loading into them.
    m.optimizer()->build(m.trainable_variables());
    load_weights(m, weights_path_, m.optimizer()->variables());
  }
  if (fs::exists(metadata_path_)) {
    std::ifstream in(metadata_path_);
    int epoch = 0;
    try {
      epoch = json::parse(in).at("epoch").get<int>();
    } catch (const json::exception& e) {
      throw IOError(fmt::format("BackupAndRestore cannot read '{}': {}", metadata_path_, e.what()));
    }
    m.set_initial_epoch(epoch);
  }
}

void BackupAndRestore::on_train_begin(const Logs& /*logs*/) {
  current_epoch_ = 0;
  last_batch_seen_ = 0;
  batches_since_save_ = 0;
  try {
    load();
  } catch (const IOError&) {
    // The latest backup is unreadable (the job died while writing it): fall back to the previous one.
    const std::string previous = weights_path_ + ".bkp";
    if (!fs::exists(previous)) throw;
    fs::copy_file(previous, weights_path_, fs::copy_options::overwrite_existing);
    if (fs::exists(metadata_path_ + ".bkp")) {
      fs::copy_file(metadata_path_ + ".bkp", metadata_path_, fs::copy_options::overwrite_existing);
    } else if (fs::exists(metadata_path_)) {
      fs::remove(metadata_path_);
    }
    load();
  }
}

void BackupAndRestore::save() {
  if (!distribution::detail::is_chief()) return;  // data-parallel: process 0 writes
  fs::create_directories(options_.backup_dir);
  if (options_.double_checkpoint) {
    for (const std::string& path : {weights_path_, metadata_path_}) {
      if (fs::exists(path)) fs::copy_file(path, path + ".bkp", fs::copy_options::overwrite_existing);
    }
  }
  Model& m = model();
  save_weights(m, weights_path_, m.optimizer()->variables());
  // Written to a side file and renamed, so that a kill leaves the old metadata or the new one.
  const std::string partial = metadata_path_ + ".partial";
  {
    std::ofstream out(partial, std::ios::trunc);
    if (!out) throw IOError(fmt::format("BackupAndRestore cannot write '{}'.", partial));
    out << json{{"epoch", current_epoch_}, {"batch", last_batch_seen_}}.dump();
  }
  fs::rename(partial, metadata_path_);
}

void BackupAndRestore::on_epoch_end(int epoch, const Logs& /*logs*/) {
  current_epoch_ = epoch + 1;
  last_batch_seen_ = 0;
  if (std::holds_alternative<std::string>(options_.save_freq)) save();
}

void BackupAndRestore::on_train_batch_end(int64_t batch, const Logs& /*logs*/) {
  const auto* freq = std::get_if<int64_t>(&options_.save_freq);
  if (freq == nullptr) return;
  // A batch index not above the last one seen starts a new epoch (Keras's counting).
  batches_since_save_ += batch <= last_batch_seen_ ? batch + 1 : batch - last_batch_seen_;
  last_batch_seen_ = batch;
  if (batches_since_save_ >= *freq) {
    batches_since_save_ = 0;
    save();
  }
}

void BackupAndRestore::on_train_end(const Logs& /*logs*/) {
  if (options_.delete_checkpoint && distribution::detail::is_chief() && fs::exists(options_.backup_dir)) {
    fs::remove_all(options_.backup_dir);
  }
}

}  // namespace minidl
