// Fashion-MNIST with additive self-attention: each 28x28 image is a sequence of 28 rows.
//
//   rows (28, 28) -> Dense(128) -> + learned row positions -> relu = h
//   -> AdditiveAttention([h, h]) + h -> LayerNormalization -> Dense(128, relu)
//   -> GlobalAveragePooling1D -> Dense(10)
//
// Attention and average pooling ignore the order of the rows, so a learned position vector is
// added to each projected row (the RowPosition layer of fashion_mnist_attention_model.h, which
// builds the model: a custom layer in ten lines). About
// 50 s of training at 2 threads on 2 cores (10 epochs of ~5 s), after a first build of ~2 min.
//
//   fashion_mnist_attention [--epochs N] [--batch-size N] [--data DIR] [--out DIR]
// Reads Debian's dataset-fashion-mnist files (or DIR), prints the summary, trains with the
// progress bar, writes the model config, a plot of the graph and the trained model (a `.keras`
// file, checked by loading it back), and ends with
// "test_accuracy: <value>".
//
// Data-parallel on several processes (the global batch is split across them; see README):
//   OMP_NUM_THREADS=1 mpirun -np 2 build/examples/fashion_mnist_attention
#include <minidl/minidl.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "fashion_mnist_attention_model.h"

namespace md = minidl;

namespace {

struct Settings {
  int epochs = 10;
  int64_t batch_size = 64;
  std::string data_dir;
  std::string out_dir = ".";
};

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw md::ValueError(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--epochs") {
      s.epochs = std::stoi(value());
    } else if (arg == "--batch-size") {
      s.batch_size = std::stoll(value());
    } else if (arg == "--data") {
      s.data_dir = value();
    } else if (arg == "--out") {
      s.out_dir = value();
    } else {
      throw md::ValueError("unknown option " + arg +
                           "; use --epochs N, --batch-size N, --data DIR (the four IDX .gz files), --out DIR");
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) try {
  // Under mpirun every process trains its shard of each batch; alone, both lines change nothing.
  md::distribution::initialize();
  md::distribution::set_distribution(md::distribution::DataParallel());
  const bool chief = md::distribution::process_id() == 0;  // the process that prints and writes
  const Settings settings = parse(argc, argv);
  md::random::set_global_seed(1337);  // weights and shuffling: the same run every time

  auto [x_train, y_train, x_test, y_test] = md::datasets::fashion_mnist::load(settings.data_dir);
  x_train = x_train * (1.0f / 255.0f);
  x_test = x_test * (1.0f / 255.0f);
  if (chief) {
    fmt::print("Fashion-MNIST: {} training and {} test images, {} threads, {} process(es)\n", x_train.dim(0),
               x_test.dim(0), md::get_num_threads(), md::distribution::num_processes());
  }

  md::Model model = fashion_mnist_attention::build_model();
  if (chief) model.summary();
  // Adam with the rate decaying along a cosine to 5% of its start over the whole run.
  const int64_t steps_per_epoch = (x_train.dim(0) * 9 / 10 + settings.batch_size - 1) / settings.batch_size;
  const md::optim::CosineDecay schedule({.initial_learning_rate = 2e-3,
                                         .decay_steps = std::max<int64_t>(1, settings.epochs * steps_per_epoch),
                                         .alpha = 0.05});
  model.compile({.optimizer = md::optim::Adam({.learning_rate = schedule}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});

  const auto start = std::chrono::steady_clock::now();
  model.fit(x_train, y_train, {.epochs = settings.epochs, .batch_size = settings.batch_size,
                               .validation_split = 0.1, .seed = 42});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const md::Logs test = model.evaluate(x_test, y_test, {.batch_size = 256, .verbose = 0});
  // Every process holds the same trained model now: process 0 writes and checks the files alone.
  md::distribution::set_distribution(std::nullopt);
  if (!chief) return 0;
  fmt::print("trained {} epochs in {:.1f} s ({:.1f} s per epoch)\n", settings.epochs, seconds,
             seconds / std::max(1, settings.epochs));

  std::filesystem::create_directories(settings.out_dir);
  const std::string config_path = settings.out_dir + "/fashion_mnist_attention.json";
  md::save_config(model, config_path);
  fmt::print("model config written to {}\n", config_path);
  // The trained model, optimizer state included; loading it back must give the same predictions.
  const std::string model_path = settings.out_dir + "/fashion_mnist_attention.keras";
  model.save(model_path);
  md::Model reloaded = md::load_model(model_path);
  const md::Tensor sample = md::ops::slice(x_test, 0, 0, 512);
  const bool same = model.predict(sample, {.verbose = 0}).to_vector() ==
                    reloaded.predict(sample, {.verbose = 0}).to_vector();
  fmt::print("trained model saved to {} ({} KiB); reloaded: same predictions on 512 test images: {}\n", model_path,
             std::filesystem::file_size(model_path) / 1024, same);
  if (!same) throw md::ValueError("the reloaded model predicts differently from the saved one");
  if (md::graphviz_available()) {
    const std::string plot_path = settings.out_dir + "/fashion_mnist_attention.png";
    md::plot_model(model, plot_path);
    fmt::print("graph plot written to {}\n", plot_path);
  } else {
    const std::string dot_path = settings.out_dir + "/fashion_mnist_attention.dot";
    md::plot_model(model, dot_path);
    fmt::print("Graphviz's dot is not installed (apt install graphviz); graph written as DOT to {}\n", dot_path);
  }
  fmt::print("test_loss: {:.4f}\n", test.at("loss"));
  fmt::print("test_accuracy: {:.4f}\n", test.at("accuracy"));
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "fashion_mnist_attention: {}\n", e.what());
  return 1;
}
