// MultiHeadAttention forward + backward (self-attention, key_dim = dim / heads, gradients of
// sum(output) w.r.t. the input and all eight weights) against PyTorch 2.x eager's
// nn.MultiheadAttention doing the same (bench/peer_pytorch_mha.py under the torch2 venv, the same
// thread count, two fresh processes whose figures must agree: bench/peer_runner.h).
//
//   mha_bench [--threads 1,2] [--reps N] [--python PATH] [--probe-only]
// First a probe of what the matrix products can reach on this machine: minidl's matmul (oneDNN's
// gemm:jit) on a 2048^3 product, and on the step's own product shapes (again after the timings). Then per thread count
// and shape: minidl's min and median ms, its GFLOP/s over the step's floating-point work, PyTorch's confirmed min and
// the ratio (PyTorch / minidl: > 1 means minidl is faster). With several thread counts, a best-vs-best table (each side
// at its fastest thread count) and the floor: the step's work at the probe's peak, against PyTorch's best / 1.5 (the
// time a 1.5x ratio needs).
#include <minidl/core/backend/backend.h>
#include <minidl/minidl.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "peer_runner.h"

namespace md = minidl;

namespace {

struct Shape {
  int64_t batch, seq, dim, heads;
};

struct Timing {
  double min_ms = 0, median_ms = 0;
};

// The floating-point work of one step (2 flops per multiply-add): the four projections, forward
// and both gradients (12 products of (B T, dim) x (dim, dim)), and the attention's two forward
// and four backward products of (T, T) x (T, dim / heads) per batch element and head.
double step_gflop(const Shape& s) {
  const double btd = static_cast<double>(s.batch) * s.seq * s.dim;
  return (24.0 * btd * s.dim + 12.0 * btd * s.seq) * 1e-9;
}

template <class F>
Timing time_calls(int reps, F&& call) {
  call();  // build, primitive caches
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    call();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return {times.front(), times[times.size() / 2]};
}

Timing time_minidl(const Shape& s, int reps) {
  md::layers::MultiHeadAttention mha({.num_heads = s.heads, .key_dim = s.dim / s.heads});
  const md::Tensor x = md::random::normal({s.batch, s.seq, s.dim}, 0.0f, 1.0f, 0);
  return time_calls(reps, [&] {
    md::GradientTape tape;
    tape.watch(x);
    const md::Tensor out = mha(x, x);
    std::vector<md::GradSource> sources = {x};
    for (const md::Variable& w : mha.trainable_weights()) sources.emplace_back(w);
    return tape.gradient(md::ops::sum(out), sources);
  });
}

// GFLOP/s of minidl's matmul (md::backend::matmul: oneDNN's matmul primitive) on (m, k) x (k, n),
// the best of `reps` calls.
double matmul_gflops(int64_t m, int64_t k, int64_t n, bool transpose_a, int reps) {
  const md::Tensor a = md::random::normal(transpose_a ? md::Shape{k, m} : md::Shape{m, k}, 0.0f, 1.0f, 1);
  const md::Tensor b = md::random::normal({k, n}, 0.0f, 1.0f, 2);
  md::Tensor c = md::Tensor::empty({m, n});
  const Timing t = time_calls(reps, [&] {
    md::backend::matmul(a.data(), a.shape(), transpose_a, b.data(), b.shape(), false, c.mutable_data(), c.shape());
  });
  return 2.0 * static_cast<double>(m) * k * n / (t.min_ms * 1e6);
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoi(item));
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts = {2};
  int reps = 10;
  bool probe_only = false;
  std::string python = "/work/main/build/peers/torch2/bin/python";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--probe-only") {
      probe_only = true;
      continue;
    }
    if (i + 1 >= argc) break;
    if (arg == "--threads") thread_counts = parse_list(argv[++i]);
    if (arg == "--reps") reps = std::stoi(argv[++i]);
    if (arg == "--python") python = argv[++i];
  }
  const std::vector<Shape> shapes = {{32, 64, 128, 4}, {8, 256, 256, 8}};
  const double load_before = bench::load_average();
  const double others = bench::idle_check();

  // The probe, at the largest thread count: what oneDNN's sgemm reaches here. It runs before and
  // after the timed steps (a disturbed instant spoils one of them), and the best rate of any of its
  // shapes is the peak the floor below is computed from.
  const int max_threads = *std::max_element(thread_counts.begin(), thread_counts.end());
  double peak = 0;
  auto probe = [&] {
    md::set_num_threads(max_threads);
    const double square = matmul_gflops(2048, 2048, 2048, false, 5);
    peak = std::max(peak, square);
    fmt::print("matmul probe, {} threads: 2048x2048x2048 {:.1f} GFLOP/s", max_threads, square);
    for (const Shape& s : shapes) {
      const int64_t rows = s.batch * s.seq;
      const double forward = matmul_gflops(rows, s.dim, s.dim, false, 20);
      const double weight_gradient = matmul_gflops(s.dim, rows, s.dim, true, 20);
      peak = std::max({peak, forward, weight_gradient});
      fmt::print("; ({}x{})x({}x{}) {:.1f}, weight gradient ({}x{})^T({}x{}) {:.1f}", rows, s.dim, s.dim, s.dim,
                 forward, rows, s.dim, rows, s.dim, weight_gradient);
    }
    fmt::print(" GFLOP/s\n");
  };
  probe();
  if (probe_only) return 0;

  struct Row {
    int threads;
    Timing mine;
    bench::PeerFigure torch;
  };
  std::vector<std::vector<Row>> rows(shapes.size());
  for (int threads : thread_counts) {
    md::set_num_threads(threads);
    std::string shape_list;
    std::vector<Timing> mine;
    for (const Shape& s : shapes) {
      mine.push_back(time_minidl(s, reps));
      shape_list += fmt::format("{}{},{},{},{}", shape_list.empty() ? "" : ";", s.batch, s.seq, s.dim, s.heads);
    }
    const std::string command = fmt::format("{} {}/peer_pytorch_mha.py --threads {} --reps {} --shapes '{}'", python,
                                            MINIDL_BENCH_DIR, threads, reps, shape_list);
    std::vector<bench::json> second;
    const std::vector<bench::json> first = bench::run_twice(command, &second);
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Shape& s = shapes[i];
      rows[i].push_back(
          {threads, mine[i], bench::confirm_in(first, second, [&](const bench::json& row) -> const bench::json* {
             const auto shape = row.at("shape").get<std::vector<int64_t>>();
             return shape == std::vector<int64_t>{s.batch, s.seq, s.dim, s.heads} ? &row.at("fwdbwd") : nullptr;
           })});
    }
  }
  probe();
  const double load_after = bench::load_average();

  fmt::print(
      "MultiHeadAttention forward+backward, {} reps; load {:.2f} before, {:.2f} after; other processes {:.2f} "
      "CPUs at start\n",
      reps, load_before, load_after, others);
  fmt::print("{:<18} {:>7} {:>7} {:>11} {:>11} {:>8} {:>13} {:>13} {:>7}\n", "shape (B,T,dim,h)", "GFLOP", "threads",
             "minidl min", "minidl med", "GFLOP/s", "PyTorch run1", "PyTorch run2", "ratio");
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    const std::string name = fmt::format("({}, {}, {}, {})", s.batch, s.seq, s.dim, s.heads);
    for (const Row& r : rows[i]) {
      const std::string ratio = r.torch.min_ms > 0 ? fmt::format("{:.2f}x", r.torch.min_ms / r.mine.min_ms) : "-";
      fmt::print("{:<18} {:>7.3f} {:>7} {:>8.2f} ms {:>8.2f} ms {:>8.1f} {:>10.2f} ms {:>10.2f} ms {:>7}{}\n", name,
                 step_gflop(s), r.threads, r.mine.min_ms, r.mine.median_ms, step_gflop(s) / r.mine.min_ms * 1e3,
                 r.torch.first_ms, r.torch.second_ms, ratio, r.torch.valid() ? "" : "  (void: " + r.torch.why + ")");
    }
  }
  if (thread_counts.size() > 1) {
    fmt::print(
        "best vs best (each side at its fastest thread count), and the floor at the probe's best {:.1f} "
        "GFLOP/s:\n",
        peak);
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Shape& s = shapes[i];
      const Row* mine = &rows[i][0];
      const Row* torch = nullptr;
      for (const Row& r : rows[i]) {
        if (r.mine.min_ms < mine->mine.min_ms) mine = &r;
        if (r.torch.valid() && (torch == nullptr || r.torch.min_ms < torch->torch.min_ms)) torch = &r;
      }
      const double floor_ms = step_gflop(s) / peak * 1e3;
      if (torch == nullptr) {
        fmt::print("  ({}, {}, {}, {}): minidl {:.2f} ms ({} threads); PyTorch void\n", s.batch, s.seq, s.dim, s.heads,
                   mine->mine.min_ms, mine->threads);
        continue;
      }
      fmt::print(
          "  ({}, {}, {}, {}): minidl {:.2f} ms ({} threads), PyTorch {:.2f} ms ({} threads): {:.2f}x; "
          "1.5x needs <= {:.2f} ms, the work at peak takes {:.2f} ms{}\n",
          s.batch, s.seq, s.dim, s.heads, mine->mine.min_ms, mine->threads, torch->torch.min_ms, torch->threads,
          torch->torch.min_ms / mine->mine.min_ms, torch->torch.min_ms / 1.5, floor_ms,
          floor_ms > torch->torch.min_ms / 1.5 ? " (out of reach: above the 1.5x budget)" : "");
    }
  }
  return 0;
}
