// What flushing denormals (FTZ/DAZ, md::set_flush_denormals, core/threading.h) buys and costs:
// a training step (train_on_batch) of the MLP 784-256-10 on a batch of 64 whose inputs are all
// denormal (1e-39) or all normal, with flushing on and off, and the elementwise op y = x * 0.5 on
// 1M denormals (our own loop). Min over the rounds of two interleaved runs per mode, ms;
// ratio = off / on. Issue 18.
//
//   ./build/bench/denormal_bench [--threads 1,2] [--rounds 7]
#include <minidl/minidl.h>

#include <algorithm>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

#include "best_time.h"

namespace md = minidl;

namespace {

md::Model mlp() {
  md::random::set_global_seed(1);
  const md::Tensor in = md::Input({784});
  const md::Tensor h = md::layers::Dense({.units = 256, .activation = "relu"})(in);
  md::Model model(in, md::layers::Dense({.units = 10})(h));
  model.compile({.optimizer = md::optim::SGD({.learning_rate = 1e-3}),
                 .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true})});
  return model;
}

}  // namespace

int main(int argc, char** argv) try {
  std::vector<int> threads = {1, 2};
  int rounds = 7;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--threads" && i + 1 < argc) {
      threads.clear();
      std::stringstream list(argv[++i]);
      for (std::string t; std::getline(list, t, ',');) threads.push_back(std::stoi(t));
    } else if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::stoi(argv[++i]);
    } else {
      throw md::ValueError("unknown option " + arg + "; use --threads 1,2 --rounds N");
    }
  }
  const md::Tensor labels = md::Tensor::from_vector(std::vector<float>(64, 3.0f), {64});
  const md::Tensor denormal = md::Tensor::full({64, 784}, 1e-39f);
  const md::Tensor normal = md::random::uniform({64, 784}, 0.0f, 1.0f, 2);
  const md::Tensor big_denormal = md::Tensor::full({1 << 20}, 1e-39f);
  fmt::print("| threads | workload | flush on (ms) | flush off (ms) | off / on |\n|---|---|---|---|---|\n");
  for (const int t : threads) {
    md::set_num_threads(t);
    struct Row {
      const char* name;
      std::function<void()> run;
      int calls;
    };
    md::Model model = mlp();
    const std::vector<Row> rows = {
        {"MLP step, denormal inputs", [&] { (void)model.train_on_batch(denormal, labels); }, 200},
        {"MLP step, normal inputs", [&] { (void)model.train_on_batch(normal, labels); }, 200},
        {"x * 0.5 on 1M denormals", [&] {
           const md::DenormalsFlushed flushed;
           (void)md::ops::multiply(big_denormal, 0.5f);
         }, 50},
    };
    for (const Row& row : rows) {
      // Interleaved (on, off, on, off), the min of each: neither mode gains from running second.
      double ms[2] = {1e300, 1e300};
      for (const bool on : {true, false, true, false}) {
        md::set_flush_denormals(on);
        row.run();  // warm-up: primitives, buffers, the team's mode
        ms[on ? 0 : 1] = std::min(ms[on ? 0 : 1], bench::best_seconds_per_call(row.run, rounds, row.calls) * 1e3);
      }
      fmt::print("| {} | {} | {:.4f} | {:.4f} | {:.2f}x |\n", t, row.name, ms[0], ms[1], ms[1] / ms[0]);
    }
  }
  md::set_flush_denormals(true);
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "denormal_bench: {}\n", e.what());
  return 1;
}
