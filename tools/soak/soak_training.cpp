// The soak: trains the demo model (examples/fashion_mnist_attention_model.h) for hours with a
// `.keras` checkpoint after every epoch, and records, per epoch, the process's resident memory,
// its open file descriptors, the loss and the time. A second invocation, in a fresh process,
// checks that training resumed from a checkpoint repeats the run: for each chosen epoch k it
// loads epoch-k.keras, trains epoch k+1 and compares every weight and optimizer variable, bit for
// bit, with epoch-(k+1).keras.
//
//   minidl_soak train  --out DIR --minutes 120 [--data DIR]   -> DIR/soak.csv, DIR/epoch-N.keras
//   minidl_soak verify --out DIR [--data DIR] [--every 25]     -> exit 0 when every check matches
//   minidl_soak report --out DIR                               -> memory and descriptor summary
// tools/soak/run.sh runs the three in turn.
#include <minidl/minidl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fashion_mnist_attention_model.h"

namespace md = minidl;
namespace fs = std::filesystem;

namespace {

constexpr int64_t kBatchSize = 64;
constexpr uint64_t kShuffleSeed = 42;
constexpr double kValidationSplit = 0.1;

struct Settings {
  std::string command;
  std::string out_dir;
  std::string data_dir;
  double minutes = 120.0;
  int every = 25;  // verify: every N-th checkpoint, plus the first three and the last
};

Settings parse(int argc, char** argv) {
  if (argc < 2) throw md::ValueError("usage: minidl_soak train|verify|report --out DIR [--minutes M] [--data DIR] [--every N]");
  Settings s;
  s.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw md::ValueError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--out") s.out_dir = value();
    else if (arg == "--data") s.data_dir = value();
    else if (arg == "--minutes") s.minutes = std::stod(value());
    else if (arg == "--every") s.every = std::stoi(value());
    else throw md::ValueError("unknown option " + arg);
  }
  if (s.out_dir.empty()) throw md::ValueError("--out DIR is required");
  if (s.command != "train" && s.command != "verify" && s.command != "report") {
    throw md::ValueError("unknown command '" + s.command + "': use train, verify or report");
  }
  return s;
}

// VmRSS of this process, in KiB (Linux /proc).
int64_t resident_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

int64_t open_descriptors() {
  int64_t n = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/self/fd")) ++n;
  return n - 1;  // the directory iterator's own descriptor
}

std::string checkpoint_path(const std::string& dir, int epoch) { return dir + "/epoch-" + std::to_string(epoch) + ".keras"; }

md::datasets::fashion_mnist::Data load_data(const std::string& dir) {
  auto data = md::datasets::fashion_mnist::load(dir);
  data.x_train = data.x_train * (1.0f / 255.0f);
  data.x_test = data.x_test * (1.0f / 255.0f);
  return data;
}

md::FitOptions fit_options(int epochs, int initial_epoch, std::vector<std::shared_ptr<md::Callback>> callbacks) {
  return {.epochs = epochs, .batch_size = kBatchSize, .verbose = 0, .callbacks = std::move(callbacks),
          .validation_split = kValidationSplit, .seed = kShuffleSeed, .initial_epoch = initial_epoch};
}

// Appends one line per epoch to soak.csv (flushed, so a killed run keeps its record) and ends
// fit() once the time is up.
class SoakRecorder : public md::Callback {
 public:
  SoakRecorder(const std::string& path, double minutes) : out_(path), minutes_(minutes) {
    out_ << "epoch,seconds,rss_kib,open_fds,loss,accuracy,val_loss,val_accuracy\n" << std::flush;
  }
  void on_epoch_end(int epoch, const md::Logs& logs) override {
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    out_ << fmt::format("{},{:.1f},{},{},{:.6f},{:.6f},{:.6f},{:.6f}\n", epoch + 1, seconds, resident_kib(),
                        open_descriptors(), logs.at("loss"), logs.at("accuracy"), logs.at("val_loss"),
                        logs.at("val_accuracy"))
         << std::flush;
    if (seconds >= minutes_ * 60.0) model().set_stop_training(true);
  }

 private:
  std::ofstream out_;
  double minutes_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

int train(const Settings& s) {
  fs::create_directories(s.out_dir);
  const auto data = load_data(s.data_dir);
  md::random::set_global_seed(1337);
  md::Model model = fashion_mnist_attention::build_model();
  // A constant rate: the run's length is set by the clock, not known in advance.
  model.compile({.optimizer = md::optim::Adam({.learning_rate = 1e-3}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});
  fmt::print("soak: training for {:.0f} minutes with {} threads, a checkpoint per epoch in {}\n", s.minutes,
             md::get_num_threads(), s.out_dir);
  std::fflush(stdout);
  auto recorder = std::make_shared<SoakRecorder>(s.out_dir + "/soak.csv", s.minutes);
  auto checkpoint =
      std::make_shared<md::ModelCheckpoint>(md::ModelCheckpointOptions{.filepath = s.out_dir + "/epoch-{epoch}.keras"});
  // The recorder runs after the checkpoint, so an epoch's line follows its file.
  const md::History history = model.fit(data.x_train, data.y_train, fit_options(1 << 30, 0, {checkpoint, recorder}));
  fmt::print("soak: {} epochs\n", history.epoch.size());
  return 0;
}

// Every weight, then every optimizer variable, of a model.
std::vector<std::vector<float>> state_of(md::Model& model) {
  std::vector<std::vector<float>> state;
  for (const md::Tensor& w : model.get_weights()) state.push_back(w.to_vector());
  for (const md::Variable& v : model.optimizer()->variables()) state.push_back(v.value().to_vector());
  return state;
}

int verify(const Settings& s) {
  int last = 0;
  while (fs::exists(checkpoint_path(s.out_dir, last + 1))) ++last;
  if (last < 2) throw md::ValueError("verify: fewer than two checkpoints in " + s.out_dir);
  std::vector<int> epochs;
  for (int k = 1; k < last; ++k) {
    if (k <= 3 || k % s.every == 0 || k == last - 1) epochs.push_back(k);
  }
  const auto data = load_data(s.data_dir);
  int failures = 0;
  for (const int k : epochs) {
    md::Model resumed = md::load_model(checkpoint_path(s.out_dir, k));
    resumed.fit(data.x_train, data.y_train, fit_options(k + 1, k, {}));
    md::Model recorded = md::load_model(checkpoint_path(s.out_dir, k + 1));
    const auto a = state_of(resumed), b = state_of(recorded);
    const bool same = a == b;
    failures += same ? 0 : 1;
    fmt::print("resume from epoch {:4d}, train epoch {:4d}: {} ({} arrays)\n", k, k + 1,
               same ? "bitwise equal to the recorded checkpoint" : "DIFFERENT", a.size());
    std::fflush(stdout);
  }
  fmt::print("verify: {} of {} resumed epochs equal to the uninterrupted run\n", epochs.size() - failures,
             epochs.size());
  return failures == 0 ? 0 : 1;
}

int report(const Settings& s) {
  std::ifstream in(s.out_dir + "/soak.csv");
  if (!in) throw md::IOError("report: no soak.csv in " + s.out_dir);
  std::string line;
  std::getline(in, line);  // header
  struct Row {
    int epoch;
    double seconds;
    int64_t rss, fds;
  };
  std::vector<Row> rows;
  while (std::getline(in, line)) {
    std::stringstream fields(line);
    std::string cell;
    Row r{};
    std::getline(fields, cell, ',');
    r.epoch = std::stoi(cell);
    std::getline(fields, cell, ',');
    r.seconds = std::stod(cell);
    std::getline(fields, cell, ',');
    r.rss = std::stoll(cell);
    std::getline(fields, cell, ',');
    r.fds = std::stoll(cell);
    rows.push_back(r);
  }
  if (rows.size() < 3) throw md::ValueError("report: fewer than three epochs recorded");
  const int64_t reference = rows[1].rss;  // after epoch 2
  int64_t lo = reference, hi = reference, fd_lo = rows[1].fds, fd_hi = rows[1].fds;
  for (size_t i = 1; i < rows.size(); ++i) {
    lo = std::min(lo, rows[i].rss);
    hi = std::max(hi, rows[i].rss);
    fd_lo = std::min(fd_lo, rows[i].fds);
    fd_hi = std::max(fd_hi, rows[i].fds);
  }
  const double down = 100.0 * double(lo - reference) / double(reference);
  const double up = 100.0 * double(hi - reference) / double(reference);
  const bool flat = std::abs(down) <= 5.0 && std::abs(up) <= 5.0;
  fmt::print("soak: {} epochs in {:.2f} h; resident memory after epoch 2 {} KiB, from then on {} .. {} KiB "
             "({:+.2f}% .. {:+.2f}%): {}; open descriptors {} .. {} (epoch 1: {}): {}\n",
             rows.size(), rows.back().seconds / 3600.0, reference, lo, hi, down, up,
             flat ? "flat within 5%" : "NOT flat", fd_lo, fd_hi, rows[0].fds, fd_lo == fd_hi ? "constant" : "CHANGING");
  return flat && fd_lo == fd_hi ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  const Settings s = parse(argc, argv);
  if (s.command == "train") return train(s);
  if (s.command == "verify") return verify(s);
  return report(s);
} catch (const std::exception& e) {
  fmt::print(stderr, "minidl_soak: {}\n", e.what());
  return 2;
}
