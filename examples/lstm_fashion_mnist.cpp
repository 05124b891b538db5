// Fashion-MNIST as sequences: each image is 28 rows of 28 pixels, read top to bottom by an LSTM.
//
//   (28, 28) -> LSTM(128) -> Dense(10)                      (default)
//   (28, 28) -> LSTM(128, sequences) -> LSTM(128) -> Dense  (--model lstm2)
//   (28, 28) -> Bidirectional(GRU(96)) -> Dense(10)         (--model bigru)
//
// The default run (12 epochs, batch 64) ends at test accuracy 0.9007 (validation 0.9017); it took
// 629 s on 2 AVX2 vCPUs shared with other builds (load 7-10: 37-51 s an epoch; 20-27 s in quieter
// moments). The stacked --model lstm2 ends at 0.9058, for about 2.5 times the work per step.
//
// The recurrent layers run the fused sequence op (md::ops::lstm_sequence / gru_sequence: one op for
// all 28 steps, forward and backward), which they take whenever Keras's default activations are
// used and no mask or recurrent dropout asks for the step-by-step cell. Adam with a cosine-decayed
// rate and gradient clipping (clipnorm), as recurrent nets usually want.
//
//   lstm_fashion_mnist [--model lstm|lstm2|bigru] [--epochs N] [--batch-size N] [--train-samples N] [--data DIR]
// Ends with "test_accuracy: <value>". --train-samples N trains on the first N images only (the
// CTest run: a quick check that the model learns, far from the full run's accuracy).
#include <minidl/minidl.h>

#include <chrono>
#include <string>

namespace md = minidl;

namespace {

struct Settings {
  std::string model = "lstm";
  int epochs = 12;
  int64_t batch_size = 64;
  int64_t train_samples = 0;  // 0: all
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
    if (arg == "--model") {
      s.model = value();
      if (s.model != "lstm" && s.model != "lstm2" && s.model != "bigru") {
        throw md::ValueError("--model is lstm, lstm2 or bigru, not " + s.model);
      }
    } else if (arg == "--epochs") {
      s.epochs = std::stoi(value());
    } else if (arg == "--batch-size") {
      s.batch_size = std::stoll(value());
    } else if (arg == "--train-samples") {
      s.train_samples = std::stoll(value());
    } else if (arg == "--data") {
      s.data_dir = value();
    } else {
      throw md::ValueError("unknown option " + arg +
                           "; use --model lstm|lstm2|bigru, --epochs N, --batch-size N, --train-samples N, --data DIR");
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) try {
  const Settings settings = parse(argc, argv);
  md::random::set_global_seed(1337);  // weights and shuffling: the same run every time

  auto [x_train, y_train, x_test, y_test] = md::datasets::fashion_mnist::load(settings.data_dir);
  if (settings.train_samples > 0 && settings.train_samples < x_train.dim(0)) {
    x_train = md::ops::slice(x_train, 0, 0, settings.train_samples);
    y_train = md::ops::slice(y_train, 0, 0, settings.train_samples);
  }
  // (N, 28, 28): 28 time steps (the rows) of 28 features (the pixels of a row).
  x_train = md::ops::reshape(x_train * (1.0f / 255.0f), {-1, 28, 28});
  x_test = md::ops::reshape(x_test * (1.0f / 255.0f), {-1, 28, 28});
  fmt::print("Fashion-MNIST: {} training and {} test images as 28 rows of 28, {} threads\n", x_train.dim(0),
             x_test.dim(0), md::get_num_threads());

  md::Sequential model({md::Input({28, 28})}, "lstm_fashion_mnist");
  if (settings.model == "lstm") {
    model.add(md::layers::LSTM({.units = 128}));
  } else if (settings.model == "lstm2") {
    model.add(md::layers::LSTM({.units = 128, .return_sequences = true}));
    model.add(md::layers::LSTM({.units = 128}));
  } else {
    model.add(md::layers::Bidirectional(md::layers::GRU({.units = 96})));
  }
  model.add(md::layers::Dense({.units = 10}));
  model.summary();

  const int64_t steps_per_epoch = (x_train.dim(0) * 9 / 10 + settings.batch_size - 1) / settings.batch_size;
  const md::optim::CosineDecay schedule({.initial_learning_rate = 2e-3,
                                         .decay_steps = std::max<int64_t>(1, settings.epochs * steps_per_epoch),
                                         .alpha = 0.02});
  model.compile({.optimizer = md::optim::Adam({.learning_rate = schedule, .clipnorm = 1.0}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});

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
  fmt::print(stderr, "lstm_fashion_mnist: {}\n", e.what());
  return 1;
}
