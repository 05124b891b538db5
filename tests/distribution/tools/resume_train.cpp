// The program of the fault and resume test (fault_and_resume.cmake), run under mpirun:
//   resume_train full <final.bin>                 4 epochs, uninterrupted; process 0 writes the weights
//   resume_train kill <dir>                       the same with BackupAndRestore (<dir>/backup) and a
//                                                 `.keras` ModelCheckpoint every epoch (<dir>/checkpoints);
//                                                 process 1 SIGKILLs itself in epoch 3 (the job must
//                                                 end, naming it)
//   resume_train resume-backup <dir> <final.bin>  rerun after the kill: BackupAndRestore resumes at epoch 3
//   resume_train resume-keras <dir> <final.bin>   rerun after the kill from the last `.keras` checkpoint
//                                                 alone: md::load_model (weights and optimizer state),
//                                                 then fit from the epoch it was written after
// Deterministic data-parallel mode and a model with Dropout, so each resumed run must end with the
// full run's bits: the same batches, the same masks, the same optimizer state.
#include <minidl/minidl.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace md = minidl;
namespace fs = std::filesystem;

namespace {

constexpr int kEpochs = 4;
constexpr int64_t kSamples = 200, kBatch = 20;

struct KillProcessOne : md::Callback {
  int epoch = 0;
  void on_epoch_begin(int e, const md::Logs&) override { epoch = e; }
  void on_train_batch_begin(int64_t batch, const md::Logs&) override {
    if (epoch == 2 && batch == 3 && md::distribution::process_id() == 1) std::raise(SIGKILL);
  }
};

md::Model build_model() {
  const md::Tensor in = md::Input({10});
  md::Tensor h = md::layers::Dense({.units = 16, .activation = "tanh"})(in);
  // One Dropout seeded by its own seed, one by the global seed: both must draw, in a resumed
  // run, the masks of the full run's batches.
  h = md::layers::Dropout({.rate = 0.3, .seed = 17})(h);
  h = md::layers::Dense({.units = 16, .activation = "tanh"})(h);
  h = md::layers::Dropout({.rate = 0.2})(h);
  md::Model model(in, md::layers::Dense({.units = 3})(h));
  model.compile({.optimizer = md::optim::Adam({.learning_rate = 1e-2f}), .loss = "mse"});
  return model;
}

// The checkpoint of the latest epoch in `dir` (epoch-<N>.keras) and N, or {"", 0}.
std::pair<std::string, int> latest_checkpoint(const std::string& dir) {
  std::pair<std::string, int> latest{"", 0};
  if (!fs::exists(dir)) return latest;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!name.starts_with("epoch-") || !name.ends_with(".keras")) continue;
    const int epoch = std::stoi(name.substr(6, name.size() - 6 - 6));
    if (epoch > latest.second) latest = {entry.path().string(), epoch};
  }
  return latest;
}

}  // namespace

int main(int argc, char** argv) {
  md::distribution::initialize();
  const std::string mode = argc > 1 ? argv[1] : "";
  const bool resume = mode == "resume-backup" || mode == "resume-keras";
  if (argc < 3 || (mode != "full" && mode != "kill" && !resume) || (resume && argc < 4)) {
    std::fprintf(stderr, "usage: resume_train full FINAL | kill DIR | resume-backup DIR FINAL | resume-keras DIR "
                         "FINAL\n");
    return 2;
  }
  const std::string dir = argv[2];
  md::distribution::set_distribution(md::distribution::DataParallel({.deterministic = true}));
  md::random::set_global_seed(2024);
  const md::Tensor x = md::random::normal({kSamples, 10}, 0.0f, 1.0f, 1);
  const md::Tensor y = md::random::normal({kSamples, 3}, 0.0f, 1.0f, 2);
  // resume-keras builds its model from the checkpoint alone, as a fresh program would.
  const auto [checkpoint, checkpoint_epoch] = latest_checkpoint(dir + "/checkpoints");
  if (mode == "resume-keras" && checkpoint.empty()) {
    throw md::IOError("no epoch-<N>.keras checkpoint in " + dir + "/checkpoints");
  }
  md::Model model = mode == "resume-keras" ? md::load_model(checkpoint) : build_model();

  std::vector<std::shared_ptr<md::Callback>> callbacks;
  int initial_epoch = 0;
  if (mode == "kill" || mode == "resume-backup") {
    callbacks.push_back(
        std::make_shared<md::BackupAndRestore>(md::BackupAndRestoreOptions{.backup_dir = dir + "/backup"}));
  }
  if (mode == "kill") {
    callbacks.push_back(std::make_shared<md::ModelCheckpoint>(
        md::ModelCheckpointOptions{.filepath = dir + "/checkpoints/epoch-{epoch}.keras"}));
    callbacks.push_back(std::make_shared<KillProcessOne>());
  }
  if (mode == "resume-keras") {
    // The model file held its config, weights and optimizer state (Keras's load_model). The
    // epoch to resume at is the one it was written after; its optimizer has taken exactly that
    // many epochs' steps.
    initial_epoch = checkpoint_epoch;
    const int64_t iterations = model.optimizer()->iterations();
    if (md::distribution::process_id() == 0) {
      std::printf("restored %s: epoch %d, optimizer iterations %lld\n", checkpoint.c_str(), checkpoint_epoch,
                  static_cast<long long>(iterations));
    }
    if (iterations != checkpoint_epoch * (kSamples / kBatch)) throw md::ValueError("the checkpoint's optimizer state is stale");
  }
  const md::History h = model.fit(x, y, {.epochs = kEpochs, .batch_size = kBatch, .verbose = 0,
                                         .callbacks = callbacks, .seed = 7, .initial_epoch = initial_epoch});
  if (md::distribution::process_id() == 0) {
    std::printf("epochs run: %zu\n", h.epoch.size());
    std::ofstream out(mode == "full" ? argv[2] : argv[3], std::ios::binary);
    for (const md::Tensor& w : model.get_weights()) {
      const std::vector<float> v = w.to_vector();
      out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(float)));
    }
  }
  return 0;
}
