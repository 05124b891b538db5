// MultiHeadAttention forward + backward (self-attention, key_dim = dim / heads, gradients of
// sum(output) w.r.t. the input and all eight weights) against the peers doing the same, each in
// two fresh processes whose figures must agree (bench/peer_runner.h), at the same thread count:
// PyTorch 1.13 and 2.x eager nn.MultiheadAttention and torch.compile of the whole fwd+bwd function
// (bench/peer_pytorch_mha.py), and Keras's formula under jax.jit(value_and_grad)
// (bench/peer_jax_mha.py).
//
//   mha_bench [--threads 1,2] [--reps N] [--peers all|torch1,torch2,compile,jax] [--no-peer]
//             [--probe-only] [--check] [--stages] [--shapes 'B,T,dim,heads;...']
// First a probe of what the matrix products can reach on this machine: minidl's matmul (oneDNN's
// gemm:jit) on a 2048^3 product, and on the step's own product shapes (again after the timings). Then per thread count
// and shape: minidl's min and median ms, its GFLOP/s over the step's floating-point work, the fastest peer and the
// ratios (peer / minidl: > 1 means minidl is faster) against it and against PyTorch 2 eager, then every peer's two runs.
// With several thread counts, a best-vs-best table (each side at its fastest thread count) and the floor: the step's
// work at the probe's peak, against the peer's best / 1.5 (the time a 1.5x ratio needs).
// --check: minidl's output and gradients on a small input, recomputed by each JAX peer from the same weights (the peer
// computes what minidl computes); exits 1 when they differ by more than 1e-4.
// --stages: instead of the comparison, each piece of the step timed alone at --threads (products,
// attention core, bias sums, copies) beside the whole step.
#include <minidl/core/backend/backend.h>
#include <minidl/minidl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
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

// --stages: each piece of one step timed on its own at the step's shapes (min of `reps` calls), to
// show where the step's time goes: the products of the projections as the ops run them, the
// attention core's forward and backward, the bias sums and the copies; their sum against the step.
void time_stages(const Shape& s, int reps) {
  const int64_t rows = s.batch * s.seq, dim = s.dim, key_dim = s.dim / s.heads, packed = 3 * dim;
  const md::Tensor x = md::random::normal({s.batch, s.seq, dim}, 0.0f, 1.0f, 3);
  const md::Tensor x2 = x.reshape({rows, dim});
  const md::Tensor w_qkv = md::random::normal({dim, packed}, 0.0f, 0.05f, 4);
  const md::Tensor b_qkv = md::random::normal({packed}, 0.0f, 0.05f, 5);
  const md::Tensor w_out = md::random::normal({dim, dim}, 0.0f, 0.05f, 6);
  const md::Tensor b_out = md::random::normal({dim}, 0.0f, 0.05f, 7);
  const md::Tensor d_y = md::random::normal({rows, dim}, 0.0f, 1.0f, 8);
  const md::Tensor d_qkv = md::random::normal({rows, packed}, 0.0f, 1.0f, 9);
  const md::Tensor qkv = md::compute::matmul_bias(x, w_qkv, b_qkv);
  // The same kernels as three (dim, dim) blocks, as MultiHeadAttention's query, key and value hold them.
  std::vector<md::Tensor> kernels, biases;
  for (int64_t i = 0; i < 3; ++i) {
    kernels.push_back(md::compute::slice(w_qkv, 1, i * dim, 1, dim));
    biases.push_back(md::compute::slice(b_qkv, 0, i * dim, 1, dim));
  }
  md::compute::PackedAttention problem;
  problem.qkv = qkv;
  problem.heads = s.heads;
  problem.key_dim = problem.value_dim = key_dim;
  problem.scale = 1.0f / std::sqrt(static_cast<float>(key_dim));
  const md::compute::DotAttentionResult forward = md::compute::packed_attention(problem);
  const md::Tensor d_att = md::random::normal(forward.output.shape(), 0.0f, 1.0f, 10);
  const md::Tensor att2 = forward.output.reshape({rows, dim});
  struct Stage {
    const char* name;
    double gflop;
    std::function<void()> run;
  };
  const double btd = static_cast<double>(rows) * dim;
  const std::vector<Stage> stages = {
      {"qkv x W + b, one product", 6 * btd * dim * 1e-9, [&] { md::compute::matmul_bias(x, w_qkv, b_qkv); }},
      {"qkv x W_i + b_i, 3 blocks", 6 * btd * dim * 1e-9, [&] { md::compute::packed_projection(x, kernels, biases); }},
      {"attention core forward", 4 * btd * s.seq * 1e-9, [&] { md::compute::packed_attention(problem); }},
      {"output projection fwd", 2 * btd * dim * 1e-9, [&] { md::compute::matmul_bias(att2, w_out, b_out); }},
      {"out: d_att = dy Wo^T", 2 * btd * dim * 1e-9, [&] { md::compute::matmul(d_y, w_out, false, true); }},
      {"out: x^T copy", 0, [&] { md::compute::transpose(att2, {1, 0}); }},
      {"out: dWo = x^T dy", 2 * btd * dim * 1e-9,
       [&, at = md::compute::transpose(att2, {1, 0})] { md::compute::matmul(at, d_y); }},
      {"out: db = sum rows", 0, [&] { md::compute::reduce(md::backend::ReduceOp::sum, d_y, {0}); }},
      {"attention core backward", 8 * btd * s.seq * 1e-9,
       [&] { md::compute::packed_attention_backward(problem, forward.weights, d_att, md::Tensor()); }},
      {"qkv: dx = dqkv W^T", 6 * btd * dim * 1e-9, [&] { md::compute::matmul(d_qkv, w_qkv, false, true); }},
      {"qkv: x^T copy", 0, [&] { md::compute::transpose(x2, {1, 0}); }},
      {"qkv: dW = x^T dqkv", 6 * btd * dim * 1e-9,
       [&, xt = md::compute::transpose(x2, {1, 0})] { md::compute::matmul(xt, d_qkv); }},
      {"qkv: db = sum rows", 0, [&] { md::compute::reduce(md::backend::ReduceOp::sum, d_qkv, {0}); }},
      {"qkv blocks: dx", 6 * btd * dim * 1e-9,
       [&] { md::compute::packed_projection_backward(x2, kernels, d_qkv, true, false, {}); }},
      {"qkv blocks: x^T, dW", 6 * btd * dim * 1e-9,
       [&] { md::compute::packed_projection_backward(x2, kernels, d_qkv, false, true, {}); }},
      {"qkv blocks: db", 0,
       [&] { md::compute::packed_projection_backward(x2, kernels, d_qkv, false, false, {{dim}, {dim}, {dim}}); }},
  };
  double total = 0;
  fmt::print("stages of ({}, {}, {}, {}) at {} threads (min of {}):\n", s.batch, s.seq, s.dim, s.heads,
             md::get_num_threads(), reps);
  for (const Stage& st : stages) {
    const Timing t = time_calls(reps, st.run);
    total += t.min_ms;
    fmt::print("  {:<26} {:>7.3f} ms", st.name, t.min_ms);
    if (st.gflop > 0) fmt::print(" {:>7.1f} GFLOP/s", st.gflop / t.min_ms * 1e3);
    fmt::print("\n");
  }
  const Timing step = time_minidl(s, reps);
  fmt::print("  {:<26} {:>7.3f} ms\n  {:<26} {:>7.3f} ms (min {:.3f}, median {:.3f}: the rest is glue and tape)\n",
             "sum of the stages", total, "the whole step", step.min_ms, step.min_ms, step.median_ms);
}

std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) out.push_back(std::stoi(item));
  return out;
}

// One tensor as JSON: {"path", "shape", "values"} (row-major).
bench::json tensor_json(const md::Tensor& t, const std::string& path = "") {
  return {{"path", path}, {"shape", t.shape()}, {"values", t.to_vector()}};
}

// --check: minidl's output and gradients at (2, 5, 8, 2 heads) written for each JAX peer, which
// recomputes them from the same weights. Returns the exit status: 0 when every available peer
// agrees within 1e-4 (output: absolute; gradients: relative to the larger of 1 and each one's
// largest entry, peer_jax_mha.py).
int check_peers(const std::vector<bench::Peer>& peers) {
  const Shape s{2, 5, 8, 2};
  md::layers::MultiHeadAttention mha({.num_heads = s.heads, .key_dim = s.dim / s.heads});
  const md::Tensor x = md::random::normal({s.batch, s.seq, s.dim}, 0.0f, 1.0f, 11);
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor out = mha(x, x);
  std::vector<md::GradSource> sources = {x};
  for (const md::Variable& w : mha.trainable_weights()) sources.emplace_back(w);
  const std::vector<md::Tensor> grads = tape.gradient(md::ops::sum(out), sources);
  bench::json c = {{"x", x.to_vector()}, {"x_shape", x.shape()}, {"out", out.to_vector()}};
  for (const md::Variable& w : mha.trainable_weights()) c["weights"].push_back(tensor_json(w.value(), w.path()));
  for (const md::Tensor& g : grads) c["grads"].push_back(g.to_vector());
  int status = 0;
  for (const auto& [peer, rows] : bench::run_checks(peers, "mha", c)) {
    for (const bench::json& row : rows) {
      const double out_err = row.at("max_abs_out").get<double>(), grad_err = row.at("max_rel_grad").get<double>();
      const bool ok = out_err <= 1e-4 && grad_err <= 1e-4;
      fmt::print("{} vs minidl at (2, 5, 8, 2 heads): output max abs diff {:.2e}, gradients max rel diff {:.2e} "
                 "(weights {}): {}\n",
                 peer.name, out_err, grad_err, row.at("weights").dump(), ok ? "same computation" : "DIFFERENT");
      status |= ok ? 0 : 1;
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts = {2};
  int reps = 10;
  bool probe_only = false, check = false, stages = false;
  std::vector<Shape> shapes = {{32, 64, 128, 4}, {8, 256, 256, 8}};
  std::string item;
  std::vector<bench::Peer> peers = bench::peers();
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--probe-only") {
      probe_only = true;
    } else if (arg == "--check") {
      check = true;
    } else if (arg == "--stages") {
      stages = true;
    } else if (arg == "--no-peer") {
      peers.clear();
    } else if (i + 1 < argc && arg == "--threads") {
      thread_counts = parse_list(argv[++i]);
    } else if (i + 1 < argc && arg == "--shapes") {
      shapes.clear();
      for (std::stringstream list(argv[++i]); std::getline(list, item, ';');) {
        const std::vector<int> v = parse_list(item);
        if (v.size() != 4) {
          std::fprintf(stderr, "--shapes takes B,T,dim,heads[;...]\n");
          return 2;
        }
        shapes.push_back({v[0], v[1], v[2], v[3]});
      }
    } else if (i + 1 < argc && arg == "--reps") {
      reps = std::stoi(argv[++i]);
    } else if (i + 1 < argc && arg == "--peers") {
      peers = bench::peers(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: mha_bench [--threads 1,2] [--reps N] [--peers all|torch1,torch2,compile,jax] [--no-peer] "
                   "[--probe-only] [--check] [--stages] [--shapes 'B,T,dim,heads;...']\n");
      return 2;
    }
  }
  if (check) return check_peers(peers);
  if (stages) {
    for (int threads : thread_counts) {
      md::set_num_threads(threads);
      for (const Shape& s : shapes) time_stages(s, reps);
    }
    return 0;
  }
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
    std::vector<bench::PeerFigure> peer;  // per peers entry; min_ms < 0 where it did not run
  };
  std::vector<std::vector<Row>> rows(shapes.size());
  for (int threads : thread_counts) {
    md::set_num_threads(threads);
    std::string shape_list;
    for (size_t i = 0; i < shapes.size(); ++i) {
      const Shape& s = shapes[i];
      rows[i].push_back({threads, time_minidl(s, reps), std::vector<bench::PeerFigure>(peers.size())});
      shape_list += fmt::format("{}{},{},{},{}", shape_list.empty() ? "" : ";", s.batch, s.seq, s.dim, s.heads);
    }
    // Each peer: one fresh process for both shapes, run twice (the second confirms the first).
    for (size_t pi = 0; pi < peers.size(); ++pi) {
      if (!peers[pi].available()) continue;
      std::fprintf(stderr, "%d threads: %s, two fresh processes...\n", threads, peers[pi].name.c_str());
      std::vector<bench::json> second;
      const std::vector<bench::json> first = bench::run_twice(
          peers[pi].command("mha", fmt::format("--threads {} --reps {} --shapes '{}'", threads, reps, shape_list)),
          &second);
      for (const bench::json& row : first) {
        if (row.contains("compiled")) fmt::print("# {}: dynamo captured {}\n", peers[pi].name, row["compiled"].dump());
      }
      for (size_t i = 0; i < shapes.size(); ++i) {
        const Shape& s = shapes[i];
        rows[i].back().peer[pi] = bench::confirm_in(first, second, [&](const bench::json& row) -> const bench::json* {
          const auto shape = row.at("shape").get<std::vector<int64_t>>();
          return shape == std::vector<int64_t>{s.batch, s.seq, s.dim, s.heads} ? &row.at("fwdbwd") : nullptr;
        });
      }
    }
  }
  probe();
  const double load_after = bench::load_average();

  // The fastest valid peer figure of a row (index into peers), or -1.
  auto fastest = [&](const Row& r) {
    int best = -1;
    for (size_t pi = 0; pi < peers.size(); ++pi) {
      if (r.peer[pi].valid() && (best < 0 || r.peer[pi].min_ms < r.peer[static_cast<size_t>(best)].min_ms))
        best = static_cast<int>(pi);
    }
    return best;
  };
  auto ratio = [](const bench::PeerFigure& f, double mine_ms) {
    return f.valid() ? fmt::format("{:.2f}x", f.min_ms / mine_ms) : std::string("-");
  };
  size_t eager = peers.size();
  for (size_t pi = 0; pi < peers.size(); ++pi) {
    if (peers[pi].key == "torch2") eager = pi;
  }

  fmt::print(
      "MultiHeadAttention forward+backward, {} reps; load {:.2f} before, {:.2f} after; other processes {:.2f} "
      "CPUs at start\npeers:",
      reps, load_before, load_after, others);
  for (const bench::Peer& p : peers) fmt::print(" {} ({})", p.name, p.available() ? p.python : "not installed");
  fmt::print("\n{:<18} {:>7} {:>7} {:>11} {:>11} {:>8} {:>16} {:>11} {:>9} {:>10}\n", "shape (B,T,dim,h)", "GFLOP",
             "threads", "minidl min", "minidl med", "GFLOP/s", "fastest peer", "its min", "x fastest", "x torch2");
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    const std::string name = fmt::format("({}, {}, {}, {})", s.batch, s.seq, s.dim, s.heads);
    for (const Row& r : rows[i]) {
      const int best = fastest(r);
      const bench::PeerFigure none;
      const bench::PeerFigure& top = best >= 0 ? r.peer[static_cast<size_t>(best)] : none;
      fmt::print("{:<18} {:>7.3f} {:>7} {:>8.2f} ms {:>8.2f} ms {:>8.1f} {:>16} {:>8.2f} ms {:>9} {:>10}\n", name,
                 step_gflop(s), r.threads, r.mine.min_ms, r.mine.median_ms, step_gflop(s) / r.mine.min_ms * 1e3,
                 best >= 0 ? peers[static_cast<size_t>(best)].name : "-", top.min_ms, ratio(top, r.mine.min_ms),
                 eager < peers.size() ? ratio(r.peer[eager], r.mine.min_ms) : "-");
    }
  }
  fmt::print("every peer (two fresh processes each; void: no ratio):\n{:<18} {:>7} {:<16} {:>10} {:>10} {:>8}  {}\n",
             "shape (B,T,dim,h)", "threads", "peer", "run 1", "run 2", "x minidl", "");
  for (size_t i = 0; i < shapes.size(); ++i) {
    const Shape& s = shapes[i];
    const std::string name = fmt::format("({}, {}, {}, {})", s.batch, s.seq, s.dim, s.heads);
    for (const Row& r : rows[i]) {
      for (size_t pi = 0; pi < peers.size(); ++pi) {
        const bench::PeerFigure& f = r.peer[pi];
        if (!peers[pi].available()) {
          fmt::print("{:<18} {:>7} {:<16} not installed (tools/peers/setup.sh)\n", name, r.threads, peers[pi].name);
          continue;
        }
        fmt::print("{:<18} {:>7} {:<16} {:>7.2f} ms {:>7.2f} ms {:>8}  {}\n", name, r.threads, peers[pi].name,
                   f.first_ms, f.second_ms, ratio(f, r.mine.min_ms), f.valid() ? "" : "void: " + f.why);
      }
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
      for (const Row& r : rows[i]) {
        if (r.mine.min_ms < mine->mine.min_ms) mine = &r;
      }
      const double floor_ms = step_gflop(s) / peak * 1e3;
      for (size_t pi = 0; pi < peers.size(); ++pi) {
        const Row* theirs = nullptr;
        for (const Row& r : rows[i]) {
          if (r.peer[pi].valid() && (theirs == nullptr || r.peer[pi].min_ms < theirs->peer[pi].min_ms)) theirs = &r;
        }
        if (theirs == nullptr) {
          fmt::print("  ({}, {}, {}, {}): minidl {:.2f} ms ({} threads); {} void or not run\n", s.batch, s.seq, s.dim,
                     s.heads, mine->mine.min_ms, mine->threads, peers[pi].name);
          continue;
        }
        const double their_ms = theirs->peer[pi].min_ms;
        fmt::print(
            "  ({}, {}, {}, {}): minidl {:.2f} ms ({} threads), {} {:.2f} ms ({} threads): {:.2f}x; "
            "1.5x needs <= {:.2f} ms, the work at peak takes {:.2f} ms{}\n",
            s.batch, s.seq, s.dim, s.heads, mine->mine.min_ms, mine->threads, peers[pi].name, their_ms,
            theirs->threads, their_ms / mine->mine.min_ms, their_ms / 1.5, floor_ms,
            floor_ms > their_ms / 1.5 ? " (out of reach: above the 1.5x budget)" : "");
      }
    }
  }
  return 0;
}
