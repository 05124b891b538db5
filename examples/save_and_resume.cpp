// Train, save, and resume in a new process: a Fashion-MNIST MLP trains for two epochs and is
// saved as a `.keras` file (config, weights and Adam's state); the program then starts itself
// again, that new process loads the file, checks it evaluates exactly as saved, trains two more
// epochs where the first run stopped (same learning-rate schedule, same optimizer moments), and
// predicts a few test images.
//
//   save_and_resume [--data DIR] [--file PATH.keras]
// The second process is the same program run as `save_and_resume --resume PATH.keras ...`.
#include <minidl/minidl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace md = minidl;

namespace {

constexpr int kEpochsPerRun = 2;
constexpr int64_t kBatchSize = 64;

struct Settings {
  std::string data_dir;
  std::string file = "save_and_resume.keras";
  bool resume = false;
};

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw md::ValueError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--data") {
      s.data_dir = value();
    } else if (arg == "--file") {
      s.file = value();
    } else if (arg == "--resume") {
      s.resume = true;
      s.file = value();
    } else {
      throw md::ValueError("unknown option " + arg + "; use --data DIR, --file PATH.keras");
    }
  }
  return s;
}

md::datasets::fashion_mnist::Data load_data(const Settings& s) {
  auto data = md::datasets::fashion_mnist::load(s.data_dir);
  data.x_train = data.x_train * (1.0f / 255.0f);
  data.x_test = data.x_test * (1.0f / 255.0f);
  return data;
}

// First run: build, compile with a schedule planned for both runs, train, save.
int train_and_save(const Settings& s, char* program) {
  const auto data = load_data(s);
  md::random::set_global_seed(7);
  md::Sequential model({md::Input({28, 28}), md::layers::Flatten(),
                        md::layers::Dense({.units = 128, .activation = "relu"}), md::layers::Dense({.units = 10})},
                       "resumable_mlp");
  const int64_t steps_per_epoch = (data.x_train.dim(0) + kBatchSize - 1) / kBatchSize;
  model.compile({.optimizer = md::optim::Adam({.learning_rate = md::optim::CosineDecay(
                                                   {.initial_learning_rate = 2e-3,
                                                    .decay_steps = 2 * kEpochsPerRun * steps_per_epoch})}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});
  model.fit(data.x_train, data.y_train, {.epochs = kEpochsPerRun, .batch_size = kBatchSize, .seed = 1});
  const md::Logs before = model.evaluate(data.x_test, data.y_test, {.batch_size = 256, .verbose = 0});
  model.save(s.file);
  fmt::print("saved {} after {} steps: test_loss {:.6f}, test_accuracy {:.4f}\n", s.file,
             model.optimizer()->iterations(), before.at("loss"), before.at("accuracy"));

  // A new process, which knows nothing but the file (and what the first run measured, to check).
  fmt::print("starting a new process to resume from {}\n\n", s.file);
  std::fflush(stdout);
  const std::string expected_loss = fmt::format("{:.9g}", before.at("loss"));
  const pid_t child = ::fork();
  if (child < 0) throw md::IOError("fork failed");
  if (child == 0) {
    std::vector<std::string> args = {program, "--resume", s.file, "--expect-loss", expected_loss};
    if (!s.data_dir.empty()) args.insert(args.end(), {"--data", s.data_dir});
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

// Second run: load, check, continue, predict.
int resume(const Settings& s, double expected_loss) {
  const auto data = load_data(s);
  md::Model model = md::load_model(s.file);
  const int64_t done = model.optimizer()->iterations();
  const md::Logs loaded = model.evaluate(data.x_test, data.y_test, {.batch_size = 256, .verbose = 0});
  const bool same = fmt::format("{:.9g}", loaded.at("loss")) == fmt::format("{:.9g}", expected_loss);
  fmt::print("loaded {} in a new process: {} steps done, test_loss {:.6f} ({} the saved model's)\n", s.file, done,
             loaded.at("loss"), same ? "the same as" : "DIFFERENT from");

  model.fit(data.x_train, data.y_train,
            {.epochs = 2 * kEpochsPerRun, .batch_size = kBatchSize, .seed = 2, .initial_epoch = kEpochsPerRun});
  const md::Logs after = model.evaluate(data.x_test, data.y_test, {.batch_size = 256, .verbose = 0});
  fmt::print("after {} more epochs ({} steps in all): test_loss {:.4f}, test_accuracy {:.4f}\n", kEpochsPerRun,
             model.optimizer()->iterations(), after.at("loss"), after.at("accuracy"));

  static const char* const kClasses[] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                         "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  const md::Tensor first = md::ops::slice(data.x_test, 0, 0, 5);
  const std::vector<float> logits = model.predict(first, {.verbose = 0}).to_vector();
  const std::vector<float> labels = data.y_test.to_vector();
  for (int i = 0; i < 5; ++i) {
    int best = 0;
    for (int c = 1; c < 10; ++c) best = logits[i * 10 + c] > logits[i * 10 + best] ? c : best;
    fmt::print("test image {}: predicted {:<11} label {}\n", i, kClasses[best], kClasses[static_cast<int>(labels[i])]);
  }
  return same ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) try {
  // --expect-loss is internal: the first run passes what it measured to the second.
  double expected_loss = 0;
  std::vector<char*> args = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--expect-loss" && i + 1 < argc) {
      expected_loss = std::stod(argv[++i]);
    } else {
      args.push_back(argv[i]);
    }
  }
  const Settings settings = parse(static_cast<int>(args.size()), args.data());
  return settings.resume ? resume(settings, expected_loss) : train_and_save(settings, argv[0]);
} catch (const std::exception& e) {
  fmt::print(stderr, "save_and_resume: {}\n", e.what());
  return 1;
}
