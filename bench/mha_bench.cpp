// MultiHeadAttention forward + backward (self-attention, key_dim = dim / heads, gradients of
// sum(output) w.r.t. the input and all eight weights) against PyTorch 2.x eager's
// nn.MultiheadAttention doing the same (bench/peer_pytorch_mha.py under the torch2 venv, the same
// thread count, two fresh processes whose figures must agree: bench/peer_runner.h).
//
//   mha_bench [--threads N] [--reps N] [--python PATH]
// Prints per shape: minidl's min and median ms, PyTorch's confirmed min, the ratio (PyTorch /
// minidl: > 1 means minidl is faster), and the load average before and after.
#include <minidl/minidl.h>

#include <algorithm>
#include <chrono>
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

Timing time_minidl(const Shape& s, int reps) {
  md::layers::MultiHeadAttention mha({.num_heads = s.heads, .key_dim = s.dim / s.heads});
  const md::Tensor x = md::random::normal({s.batch, s.seq, s.dim}, 0.0f, 1.0f, 0);
  auto step = [&] {
    md::GradientTape tape;
    tape.watch(x);
    const md::Tensor out = mha(x, x);
    std::vector<md::GradSource> sources = {x};
    for (const md::Variable& w : mha.trainable_weights()) sources.emplace_back(w);
    return tape.gradient(md::ops::sum(out), sources);
  };
  step();  // build, primitive caches
  std::vector<double> times;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const auto grads = step();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(times.begin(), times.end());
  return {times.front(), times[times.size() / 2]};
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 2, reps = 10;
  std::string python = "/work/main/build/peers/torch2/bin/python";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--threads") threads = std::stoi(argv[i + 1]);
    if (arg == "--reps") reps = std::stoi(argv[i + 1]);
    if (arg == "--python") python = argv[i + 1];
  }
  md::set_num_threads(threads);
  const std::vector<Shape> shapes = {{32, 64, 128, 4}, {8, 256, 256, 8}};
  const double load_before = bench::load_average();
  const double others = bench::idle_check();

  std::vector<Timing> mine;
  std::string shape_list;
  for (const Shape& s : shapes) {
    mine.push_back(time_minidl(s, reps));
    shape_list += fmt::format("{}{},{},{},{}", shape_list.empty() ? "" : ";", s.batch, s.seq, s.dim, s.heads);
  }
  const std::string command = fmt::format("{} {}/peer_pytorch_mha.py --threads {} --reps {} --shapes '{}'", python,
                                          MINIDL_BENCH_DIR, threads, reps, shape_list);
  std::vector<bench::json> second;
  const std::vector<bench::json> first = bench::run_twice(command, &second);
  const double load_after = bench::load_average();

  fmt::print("MultiHeadAttention forward+backward, {} threads, {} reps; load {:.2f} before, {:.2f} after; other "
             "processes {:.2f} CPUs at start\n",
             threads, reps, load_before, load_after, others);
  fmt::print("{:<22} {:>12} {:>12} {:>14} {:>16} {:>8}\n", "shape (B,T,dim,heads)", "minidl min", "minidl med",
             "PyTorch run 1", "PyTorch run 2", "ratio");
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    const bench::PeerFigure torch = bench::confirm_in(first, second, [&](const bench::json& row) -> const bench::json* {
      const auto shape = row.at("shape").get<std::vector<int64_t>>();
      return shape == std::vector<int64_t>{s.batch, s.seq, s.dim, s.heads} ? &row.at("fwdbwd") : nullptr;
    });
    const std::string ratio = torch.min_ms > 0 ? fmt::format("{:.2f}x", torch.min_ms / mine[i].min_ms) : "-";
    fmt::print("{:<22} {:>9.2f} ms {:>9.2f} ms {:>11.2f} ms {:>13.2f} ms {:>8}{}\n",
               fmt::format("({}, {}, {}, {})", s.batch, s.seq, s.dim, s.heads), mine[i].min_ms, mine[i].median_ms,
               torch.first_ms, torch.second_ms, ratio, torch.valid() ? "" : "  (void: " + torch.why + ")");
  }
  return 0;
}
