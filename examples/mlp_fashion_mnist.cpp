// Fashion-MNIST with a plain MLP: flatten -> Dense(256, relu) -> Dense(128, relu) -> Dense(10).
//
//   mlp_fashion_mnist [--epochs N] [--batch-size N] [--data DIR]
// Ends with "test_accuracy: <value>".
#include <minidl/minidl.h>

#include <chrono>
#include <string>

namespace md = minidl;

int main(int argc, char** argv) try {
  int epochs = 10;
  int64_t batch_size = 64;
  std::string data_dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--epochs") {
      epochs = std::stoi(argv[i + 1]);
    } else if (arg == "--batch-size") {
      batch_size = std::stoll(argv[i + 1]);
    } else if (arg == "--data") {
      data_dir = argv[i + 1];
    } else {
      throw md::ValueError("unknown option " + arg + "; use --epochs N, --batch-size N, --data DIR");
    }
  }
  if (argc % 2 == 0) throw md::ValueError(std::string(argv[argc - 1]) + " needs a value");
  md::random::set_global_seed(1337);

  auto [x_train, y_train, x_test, y_test] = md::datasets::fashion_mnist::load(data_dir);
  x_train = x_train * (1.0f / 255.0f);
  x_test = x_test * (1.0f / 255.0f);

  md::Sequential model({md::Input({28, 28}), md::layers::Flatten(),
                        md::layers::Dense({.units = 256, .activation = "relu"}),
                        md::layers::Dense({.units = 128, .activation = "relu"}), md::layers::Dense({.units = 10})},
                       "mlp_fashion_mnist");
  model.summary();
  model.compile({.optimizer = md::optim::Adam({.learning_rate = 1e-3f}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});
  const auto start = std::chrono::steady_clock::now();
  model.fit(x_train, y_train, {.epochs = epochs, .batch_size = batch_size, .validation_split = 0.1, .seed = 42});
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print("trained {} epochs in {:.2f} s ({:.3f} s per epoch)\n", epochs, seconds, seconds / std::max(1, epochs));
  const md::Logs test = model.evaluate(x_test, y_test, {.batch_size = 256, .verbose = 0});
  fmt::print("test_loss: {:.4f}\n", test.at("loss"));
  fmt::print("test_accuracy: {:.4f}\n", test.at("accuracy"));
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "mlp_fashion_mnist: {}\n", e.what());
  return 1;
}
