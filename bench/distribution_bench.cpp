// Data-parallel training's communication (bench/RESULTS.md, "Data-parallel training"): run
// under mpirun, it times
//   1. the gradient sum of one fit() step of the demo's attention model (its real gradient
//      tensors, through the same bucketed code fit() uses), normal and deterministic mode;
//   2. MPI_Allreduce of 1 KiB .. 64 MiB float buffers, to fit the alpha-beta model
//      T(n) = a + n * b of this transport (RESULTS.md extrapolates it to ring allreduce on
//      10 and 100 Gb/s links);
//   3. one train_on_batch step of the demo model at the per-process batch (compute alone);
//   4. a 512 x 2048 x 1024 float32 matmul on each process's thread (alpha_beta.py's compute rate
//      for a model made of dense layers).
//   OMP_NUM_THREADS=1 mpirun -np 2 build/bench/distribution_bench [--batch 32] [--reps 50]
// With --throughput STEPS it instead times fit() (data-parallel when under mpirun) over STEPS
// global batches of --batch samples of the demo model, after a warm-up epoch of 10 steps, and
// prints samples per second: the same command at 1 and 2 processes and thread counts compares
// the ways to use the cores.
//   OMP_NUM_THREADS=1 mpirun -np 2 build/bench/distribution_bench --throughput 150 --batch 64
//   OMP_NUM_THREADS=2 build/bench/distribution_bench --throughput 150 --batch 64
// The shared-memory transport is Open MPI's default on one machine; add --mca btl tcp,self for
// TCP. Process 0 prints medians and minimums (all processes take part in every collective).
#include <minidl/minidl.h>
#include <minidl/models/detail/data_parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <string>

#include "fashion_mnist_attention_model.h"

namespace md = minidl;

namespace {

struct Times {
  double median, min;
};

template <typename F>
Times times_ms(int reps, F&& f) {
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    md::compute::collectives::barrier();
    const auto start = std::chrono::steady_clock::now();
    f();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  std::sort(times.begin(), times.end());
  return {times[times.size() / 2], times.front()};
}

// fit() over `steps` global batches of `batch` samples, best of `runs` timed epochs (after a
// warm-up epoch): samples per second, printed by process 0.
int throughput(int64_t steps, int64_t batch, int runs) {
  md::distribution::set_distribution(md::distribution::DataParallel());
  md::random::set_global_seed(1);
  md::Model model = fashion_mnist_attention::build_model();
  model.compile({.optimizer = "adam", .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true}),
                 .metrics = {"accuracy"}});
  const md::Tensor x = md::random::uniform({steps * batch, 28, 28}, 0.0f, 1.0f, 2);
  std::vector<float> labels = md::random::uniform({steps * batch}, 0.0f, 10.0f, 3).to_vector();
  for (float& v : labels) v = std::floor(v);
  const md::Tensor y = md::Tensor::from_vector(labels, {steps * batch});
  const int64_t warm = std::min<int64_t>(steps, 10) * batch;
  model.fit(md::ops::slice(x, 0, 0, warm), md::ops::slice(y, 0, 0, warm),
            {.epochs = 1, .batch_size = batch, .verbose = 0, .seed = 4});
  double best = 1e300;
  for (int run = 0; run < runs; ++run) {
    if (md::distribution::num_processes() > 1) md::compute::collectives::barrier();
    const auto start = std::chrono::steady_clock::now();
    model.fit(x, y, {.epochs = 1, .batch_size = batch, .verbose = 0, .seed = 5});
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  if (md::distribution::process_id() == 0) {
    fmt::print("throughput: {} process(es) x {} thread(s), global batch {}, {} steps: best of {} epochs {:.3f} s, "
               "{:.0f} samples/s, {:.2f} ms per step\n",
               md::distribution::num_processes(), md::get_num_threads(), batch, steps, runs, best,
               static_cast<double>(steps * batch) / best, best * 1e3 / static_cast<double>(steps));
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  md::distribution::initialize();
  int64_t batch = 32;
  int reps = 50;
  int64_t throughput_steps = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--batch") batch = std::atoll(argv[i + 1]);
    if (flag == "--reps") reps = std::atoi(argv[i + 1]);
    if (flag == "--throughput") throughput_steps = std::atoll(argv[i + 1]);
  }
  if (throughput_steps > 0) return throughput(throughput_steps, batch, 2);
  const int p = md::distribution::num_processes();
  const bool chief = md::distribution::process_id() == 0;
  if (p < 2) {
    fmt::print(stderr, "distribution_bench: run it under mpirun with 2 or more processes\n");
    return 2;
  }
  md::random::set_global_seed(1);
  md::Model model = fashion_mnist_attention::build_model();
  model.compile({.optimizer = "adam", .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true})});
  const md::Tensor x = md::random::uniform({batch, 28, 28}, 0.0f, 1.0f, 2);
  md::Tensor y = md::Tensor::zeros({batch});
  model.train_on_batch(x, y);  // builds; warms the primitive cache

  // 3. compute alone: one process's step at the per-process batch.
  const Times step = times_ms(reps, [&] { model.train_on_batch(x, y); });

  // 4. one thread's dense-matmul rate (every process runs it at once, as they would train).
  const md::Tensor a = md::random::uniform({512, 2048}, -1.0f, 1.0f, 4);
  const md::Tensor b = md::random::uniform({2048, 1024}, -1.0f, 1.0f, 5);
  md::compute::matmul(a, b);
  const Times gemm = times_ms(std::max(5, reps / 5), [&] { md::compute::matmul(a, b); });
  const double gflops = 2.0 * 512 * 2048 * 1024 / (gemm.min * 1e-3) / 1e9;

  // 1. the model's gradients.
  std::vector<md::Tensor> grads;
  int64_t params = 0;
  for (const md::Variable& v : model.trainable_variables()) {
    grads.push_back(md::random::normal(v.shape(), 0.0f, 1.0f, 3));
    params += v.value().size();
  }
  const Times grad = times_ms(reps, [&] { md::distribution::detail::sum_gradients(grads, 0.5f, {}); });
  const Times grad_det =
      times_ms(reps, [&] { md::distribution::detail::sum_gradients(grads, 0.5f, {.deterministic = true}); });
  if (chief) {
    fmt::print("processes {}, OMP threads {}\n", p, md::get_num_threads());
    fmt::print("attention model: {} parameters ({:.1f} KiB of gradients), {} tensors\n", params,
               static_cast<double>(params) * 4 / 1024, grads.size());
    fmt::print("train_on_batch at batch {} (one process's compute): median {:.3f} ms, min {:.3f} ms\n", batch,
               step.median, step.min);
    fmt::print("matmul 512x2048x1024 per process: min {:.3f} ms, {:.1f} GFLOP/s\n", gemm.min, gflops);
    fmt::print("gradient sum (allreduce, 25 MiB buckets): median {:.3f} ms, min {:.3f} ms; deterministic (allgather "
               "+ ordered sum): median {:.3f} ms, min {:.3f} ms\n",
               grad.median, grad.min, grad_det.median, grad_det.min);
    fmt::print("allreduce of n float32 ({} runs; alpha_beta.py fits the minimums):\n  bytes   min ms   median ms\n",
               reps);
  }
  // 2. raw allreduce sizes.
  for (int64_t bytes = 1024; bytes <= (int64_t{64} << 20); bytes *= 4) {
    std::vector<float> buffer(static_cast<size_t>(bytes / 4), 1.0f);
    const int r = bytes >= (int64_t{16} << 20) ? std::max(5, reps / 5) : reps;
    const Times t = times_ms(r, [&] { md::compute::collectives::allreduce_sum(buffer); });
    if (chief) fmt::print("  {:>10}  {:.4f}  {:.4f}\n", bytes, t.min, t.median);
  }
  return 0;
}
