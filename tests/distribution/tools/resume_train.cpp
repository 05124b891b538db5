// The program of the fault and resume test (fault_and_resume.cmake), run under mpirun:
//   resume_train full <final.bin>           4 epochs, uninterrupted; process 0 writes the weights
//   resume_train kill <backup_dir>          the same with BackupAndRestore; process 1 SIGKILLs
//                                           itself in epoch 3 (the job must end, naming it)
//   resume_train resume <backup_dir> <final.bin>   rerun after the kill: resumes at epoch 3
// Deterministic data-parallel mode, so the resumed run must give the same bits as the full one.
#include <minidl/minidl.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <string>

namespace md = minidl;

namespace {

struct KillProcessOne : md::Callback {
  int epoch = 0;
  void on_epoch_begin(int e, const md::Logs&) override { epoch = e; }
  void on_train_batch_begin(int64_t batch, const md::Logs&) override {
    if (epoch == 2 && batch == 3 && md::distribution::process_id() == 1) std::raise(SIGKILL);
  }
};

}  // namespace

int main(int argc, char** argv) {
  md::distribution::initialize();
  const std::string mode = argc > 1 ? argv[1] : "";
  if (argc < 3 || (mode != "full" && mode != "kill" && mode != "resume") || (mode == "resume" && argc < 4)) {
    std::fprintf(stderr, "usage: resume_train full FINAL | kill BACKUP_DIR | resume BACKUP_DIR FINAL\n");
    return 2;
  }
  md::distribution::set_distribution(md::distribution::DataParallel({.deterministic = true}));
  md::random::set_global_seed(2024);
  const md::Tensor x = md::random::normal({200, 10}, 0.0f, 1.0f, 1);
  const md::Tensor y = md::random::normal({200, 3}, 0.0f, 1.0f, 2);
  const md::Tensor in = md::Input({10});
  md::Model model(in, md::layers::Dense({.units = 3})(md::layers::Dense({.units = 16, .activation = "tanh"})(in)));
  model.compile({.optimizer = md::optim::Adam({.learning_rate = 1e-2f}), .loss = "mse"});

  std::vector<std::shared_ptr<md::Callback>> callbacks;
  if (mode != "full") {
    callbacks.push_back(std::make_shared<md::BackupAndRestore>(md::BackupAndRestoreOptions{.backup_dir = argv[2]}));
  }
  if (mode == "kill") callbacks.push_back(std::make_shared<KillProcessOne>());
  const md::History h = model.fit(x, y, {.epochs = 4, .batch_size = 20, .verbose = 0, .callbacks = callbacks,
                                         .seed = 7});
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
