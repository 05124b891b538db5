// Fashion-MNIST with a small CNN: two Conv-BN-ReLU-Pool blocks, Dropout, Dense (the model is in
// cnn_fashion_mnist_model.h, which bench/cnn_step_bench.cpp times step by step). Adam with a
// cosine-decayed rate. The default run (12 epochs of ~22 s at 2 threads on 2 AVX2 cores) ends
// at test accuracy 0.9263 (the Fashion-MNIST benchmark's two-convolution net: 0.916).
//
//   cnn_fashion_mnist [--epochs N] [--batch-size N] [--data DIR]
// Ends with "test_accuracy: <value>".
#include <minidl/minidl.h>

#include <chrono>
#include <string>

#include "cnn_fashion_mnist_model.h"

namespace md = minidl;

namespace {

struct Settings {
  int epochs = 12;
  int64_t batch_size = 64;
  std::string data_dir;
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
    } else {
      throw md::ValueError("unknown option " + arg + "; use --epochs N, --batch-size N, --data DIR");
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) try {
  const Settings settings = parse(argc, argv);
  md::random::set_global_seed(1337);  // weights, dropout and shuffling: the same run every time

  auto [x_train, y_train, x_test, y_test] = md::datasets::fashion_mnist::load(settings.data_dir);
  x_train = md::ops::reshape(x_train * (1.0f / 255.0f), {-1, 28, 28, 1});
  x_test = md::ops::reshape(x_test * (1.0f / 255.0f), {-1, 28, 28, 1});
  fmt::print("Fashion-MNIST: {} training and {} test images, {} threads\n", x_train.dim(0), x_test.dim(0),
             md::get_num_threads());

  md::Sequential model = cnn_fashion_mnist::build_model();
  model.summary();

  const int64_t steps_per_epoch = (x_train.dim(0) * 9 / 10 + settings.batch_size - 1) / settings.batch_size;
  cnn_fashion_mnist::compile_model(model, settings.epochs * steps_per_epoch);

  const auto start = std::chrono::steady_clock::now();
  model.fit(x_train, y_train, {.epochs = settings.epochs, .batch_size = settings.batch_size,
                               .validation_split = 0.1, .seed = 42});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("trained {} epochs in {:.1f} s ({:.1f} s per epoch)\n", settings.epochs, seconds,
             seconds / std::max(1, settings.epochs));

  const md::Logs test = model.evaluate(x_test, y_test, {.batch_size = 256, .verbose = 0});
  fmt::print("test_loss: {:.4f}\n", test.at("loss"));
  fmt::print("test_accuracy: {:.4f}\n", test.at("accuracy"));
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "cnn_fashion_mnist: {}\n", e.what());
  return 1;
}
