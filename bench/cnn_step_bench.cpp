// One training step of examples/cnn_fashion_mnist's model (the same Sequential, from
// examples/cnn_fashion_mnist_model.h), timed whole and layer by layer, to show where a step's
// time goes.
//
//   step      Model::train_on_batch on a batch of 64 Fashion-MNIST images: what fit() runs
//             844 times an epoch (plus the metrics and progress bar, which are not timed here)
//   eval      Model::test_on_batch on the same batch: validation runs 94 of these an epoch
//   layers    the same step cut into its parts: each layer's forward (under its own tape, as in
//             training) and its backward (that tape's gradient for the layer's input and
//             weights, given the real output gradient that came from the layer above), the
//             loss forward and backward, and Adam's update over every weight. The parts' sum
//             against `step` is what the one-tape step costs beyond them (metrics, tape walk).
//
//   build/bench/cnn_step_bench [--threads 2] [--steps 200] [--clock wall|cpu] [--data DIR]
// Prints median milliseconds (of wall time, or of the process's CPU time). bench/RESULTS.md has the numbers; ONEDNN_VERBOSE=1 on top lists
// every oneDNN primitive a step runs, with its time.
#include <minidl/minidl.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "cnn_fashion_mnist_model.h"
#include "peer_runner.h"

namespace md = minidl;

namespace {

// Wall time, or with --clock cpu the process's CPU time: on a machine other programs load, a
// 1-thread run's CPU time still says where the work goes (wall times there are void).
bool g_cpu_clock = false;
double now_ms() {
  if (g_cpu_clock) {
    timespec t{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double ms_since(double start) { return now_ms() - start; }

struct Settings {
  int threads = 2;
  int steps = 200;
  std::string data_dir;
};

Settings parse(int argc, char** argv) {
  Settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) throw md::ValueError(arg + " needs a value");
    const std::string value = argv[++i];
    if (arg == "--threads") {
      s.threads = std::stoi(value);
    } else if (arg == "--steps") {
      s.steps = std::stoi(value);
    } else if (arg == "--clock") {
      if (value != "wall" && value != "cpu") throw md::ValueError("--clock takes wall or cpu");
      g_cpu_clock = value == "cpu";
    } else if (arg == "--data") {
      s.data_dir = value;
    } else {
      throw md::ValueError("unknown option " + arg + "; use --threads N, --steps N, --clock wall|cpu, --data DIR");
    }
  }
  return s;
}


double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// The named parts of a step, in the order they were first timed.
class Parts {
 public:
  void add(const std::string& name, double ms) {
    if (times_.find(name) == times_.end()) order_.push_back(name);
    times_[name].push_back(ms);
  }
  const std::vector<std::string>& names() const { return order_; }
  double median_of(const std::string& name) const { return median(times_.at(name)); }

 private:
  std::vector<std::string> order_;
  std::map<std::string, std::vector<double>> times_;
};

// Runs f with the first `count` tapes paused: a layer's ops must record on its own tape only
// (every live tape watches the trainable weights), as they do on the one tape of a real step.
template <class F>
void with_paused(std::vector<md::GradientTape>& tapes, size_t count, F&& f) {
  if (count == 0) {
    f();
    return;
  }
  const md::GradientTape::Pause pause = tapes[count - 1].stop_recording();
  with_paused(tapes, count - 1, f);
}

// One step cut at the layers: forward through each layer under its own tape, the loss, then
// each tape's gradient from the top down, then Adam. Adds each part's time to `parts`.
void layered_step(md::Sequential& model, const md::Tensor& x, const md::Tensor& y, Parts& parts) {
  const std::vector<std::shared_ptr<md::Layer>> layers = model.layers();
  std::vector<md::GradientTape> tapes(layers.size());
  std::vector<md::Tensor> inputs, outputs;
  md::Tensor a = x;
  for (size_t i = 0; i < layers.size(); ++i) {
    inputs.push_back(a);
    if (i > 0) tapes[i].watch(a);  // the images need no gradient
    with_paused(tapes, i, [&] {
      const double start = now_ms();
      a = (*layers[i])(a, {.training = true});
      parts.add(layers[i]->name() + " fwd", ms_since(start));
    });
    outputs.push_back(a);
  }
  md::Tensor logits_grad;
  with_paused(tapes, tapes.size(), [&] {
    md::GradientTape tape;
    tape.watch(a);
    double start = now_ms();
    const md::Tensor loss = (*model.loss())(y, a);
    (void)loss.item();
    parts.add("loss fwd", ms_since(start));
    start = now_ms();
    logits_grad = tape.gradient(loss, {a})[0];
    parts.add("loss bwd", ms_since(start));
  });
  std::vector<md::Variable> variables;
  std::vector<md::Tensor> grads;
  md::Tensor g = logits_grad;
  for (size_t i = layers.size(); i-- > 0;) {
    std::vector<md::GradSource> sources;
    if (i > 0) sources.emplace_back(inputs[i]);
    const std::vector<md::Variable> weights = layers[i]->trainable_weights();
    for (const md::Variable& w : weights) sources.emplace_back(w);
    std::vector<md::Tensor> d;
    with_paused(tapes, i, [&] {
      const double start = now_ms();
      d = tapes[i].gradient(outputs[i], sources, {g});
      parts.add(layers[i]->name() + " bwd", ms_since(start));
    });
    const size_t first_weight = i > 0 ? 1 : 0;
    // Collected top-down; the optimizer wants the model's (bottom-up) order.
    for (size_t k = weights.size(); k-- > 0;) {
      variables.insert(variables.begin(), weights[k]);
      grads.insert(grads.begin(), d[first_weight + k]);
    }
    if (i > 0) g = d[0];
  }
  const double start = now_ms();
  model.optimizer()->apply(grads, variables);
  parts.add("Adam update", ms_since(start));
}

}  // namespace

int main(int argc, char** argv) try {
  const Settings settings = parse(argc, argv);
  md::set_num_threads(settings.threads);
  md::random::set_global_seed(1337);
  auto data = md::datasets::fashion_mnist::load(settings.data_dir);
  const int64_t batch = 64;
  const md::Tensor x =
      md::ops::reshape(md::ops::slice(data.x_train, 0, 0, batch) * (1.0f / 255.0f), {batch, 28, 28, 1});
  const md::Tensor y = md::ops::slice(data.y_train, 0, 0, batch);

  md::Sequential model = cnn_fashion_mnist::build_model();
  cnn_fashion_mnist::compile_model(model, 12 * 844);
  std::printf("cnn_step_bench: batch %lld, %d threads, %d steps (median ms of %s time)\n",
              static_cast<long long>(batch), md::get_num_threads(), settings.steps, g_cpu_clock ? "CPU" : "wall");

  for (int i = 0; i < 10; ++i) model.train_on_batch(x, y);  // primitives created, buffers cached
  const bench::CpuSample machine_before = bench::CpuSample::now();
  const double wall_before = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  std::vector<double> step, eval;
  for (int i = 0; i < settings.steps; ++i) {
    double start = now_ms();
    model.train_on_batch(x, y);
    step.push_back(ms_since(start));
    start = now_ms();
    model.test_on_batch(x, y);
    eval.push_back(ms_since(start));
  }
  std::printf("%-28s %8.3f\n", "train_on_batch (step)", median(step));
  std::printf("%-28s %8.3f\n", "test_on_batch (eval)", median(eval));
  std::printf("epoch estimate: 844 steps + 94 evals = %.2f s\n", (844 * median(step) + 94 * median(eval)) / 1000.0);

  Parts parts;
  for (int i = 0; i < 3; ++i) {
    Parts warm;
    layered_step(model, x, y, warm);
  }
  for (int i = 0; i < settings.steps; ++i) layered_step(model, x, y, parts);
  double total = 0.0;
  std::printf("\n%-28s %8s %6s\n", "part", "ms", "share");
  for (const std::string& name : parts.names()) total += parts.median_of(name);
  for (const std::string& name : parts.names()) {
    std::printf("%-28s %8.3f %5.1f%%\n", name.c_str(), parts.median_of(name), 100.0 * parts.median_of(name) / total);
  }
  std::printf("%-28s %8.3f\n", "sum of parts", total);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count() -
                      wall_before;
  std::printf("load average %.2f; other processes used %.2f CPUs during the %.1f s run\n", bench::load_average(),
              bench::others_cpus(machine_before, bench::CpuSample::now(), wall), wall);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "cnn_step_bench: %s\n", e.what());
  return 1;
}
