// One SGD training step (forward, tape gradient, update) of two MLPs, in minidl and, in the
// same run, in each peer at the same thread count: PyTorch 1.13, PyTorch 2.x eager, torch.compile
// (bench/peer_pytorch_mlp.py) and jax.jit (bench/peer_jax_mlp.py; peer_runner.h). Prints min and
// median step times and the speed-up over each peer. Every peer runs twice, each time in a fresh
// process: its figure is void when either run was disturbed or the two differ by more than 20%.
// "oth" is the CPUs other processes used during minidl's timed loop (> 0.3: disturbed).
//
//   ./build/bench/autograd_bench [--threads N] [--steps N] [--peers all|torch1,torch2,compile,jax]
//                                [--no-peer] [--model NAME] [--update optimizer|ops]
//
// --model runs one case only (e.g. mlp_32_32_1_b8), so that a profile shows that model alone.
// --update: how minidl updates the weights. `optimizer` (the default) is md::optim::SGD's
// apply(), one fused w -= lr * g pass per variable, as the PyTorch peer calls torch.optim.SGD's
// step() and the JAX peer's update is fused by XLA; `ops` is the form recorded before
// 2026-12-07 17:00 UTC, variable.assign_sub(grad * lr): two passes and a temporary per variable.
#include <minidl/minidl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "peer_runner.h"

namespace md = minidl;

namespace {

struct Timing {
  double min_ms = 0, median_ms = 0, others = 0;
};

struct Mlp {
  std::vector<md::Variable> weights, biases;
  Mlp(const std::vector<int64_t>& sizes, uint64_t seed) {
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      const float limit = std::sqrt(1.0f / static_cast<float>(sizes[i]));  // PyTorch's Linear init range
      weights.emplace_back(md::random::uniform({sizes[i], sizes[i + 1]}, -limit, limit, seed + i), "kernel");
      biases.emplace_back(md::random::uniform({sizes[i + 1]}, -limit, limit, seed + 100 + i), "bias");
    }
  }
  md::Tensor forward(md::Tensor h) const {
    for (size_t i = 0; i < weights.size(); ++i) {
      h = md::ops::matmul(h, weights[i].value()) + biases[i].value();
      if (i + 1 < weights.size()) h = md::ops::relu(h);
    }
    return h;
  }
  std::vector<md::Variable> variables() const {
    std::vector<md::Variable> all;
    for (size_t i = 0; i < weights.size(); ++i) {
      all.push_back(weights[i]);
      all.push_back(biases[i]);
    }
    return all;
  }
};

Timing run(const std::vector<int64_t>& sizes, int64_t batch, bool classification, int steps, bool optimizer_update) {
  Mlp mlp(sizes, 1);
  const md::Tensor x = md::random::normal({batch, sizes.front()}, 0, 1, 7);
  md::Tensor y;
  if (classification) {
    const md::Tensor labels = md::ops::cast(md::ops::multiply(md::random::uniform({batch}, 0.0f, 1.0f, 8),
                                                              static_cast<float>(sizes.back())),
                                            md::DType::int32);
    y = md::ops::one_hot(labels, sizes.back());
  } else {
    y = md::random::normal({batch, sizes.back()}, 0, 1, 8);
  }
  const std::vector<md::Variable> vars = mlp.variables();
  const float learning_rate = 0.01f;
  md::optim::SGD sgd({.learning_rate = learning_rate});
  auto step = [&] {
    md::GradientTape tape;
    const md::Tensor out = mlp.forward(x);
    const md::Tensor loss = classification
                                ? md::ops::negative(md::ops::mean(md::ops::sum(y * md::ops::log_softmax(out), {-1})))
                                : md::ops::mean(md::ops::square(out - y));
    const std::vector<md::Tensor> grads = tape.gradient(loss, vars);
    if (optimizer_update) {
      sgd.apply(grads, vars);
    } else {
      for (size_t i = 0; i < vars.size(); ++i) vars[i].assign_sub(grads[i] * learning_rate);
    }
  };
  for (int i = 0; i < 50; ++i) step();
  std::vector<double> times;
  times.reserve(steps);
  const bench::CpuSample c0 = bench::CpuSample::now();
  const auto loop0 = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const double loop_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - loop0).count();
  const double others = bench::others_cpus(c0, bench::CpuSample::now(), loop_s);
  std::sort(times.begin(), times.end());
  return {times.front(), times[times.size() / 2], others};
}

std::map<std::string, bench::PeerFigure> run_peer(const bench::Peer& peer, int threads, int steps,
                                                  const std::vector<std::string>& models) {
  const std::string command = peer.command("mlp", fmt::format("--threads {} --steps {}", threads, steps));
  std::vector<nlohmann::json> second;
  const std::vector<nlohmann::json> first = bench::run_twice(command, &second);
  std::map<std::string, bench::PeerFigure> out;
  for (const std::string& model : models) {
    out[model] = bench::confirm_in(first, second, [&](const nlohmann::json& row) {
      return row.at("model") == model ? &row : nullptr;
    });
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = md::get_num_threads(), steps = 2000;
  std::vector<bench::Peer> peers = bench::peers();
  std::string only_model;
  bool optimizer_update = true;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) threads = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) steps = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--peers") && i + 1 < argc) peers = bench::peers(argv[++i]);
    else if (!std::strcmp(argv[i], "--no-peer")) peers.clear();
    else if (!std::strcmp(argv[i], "--model") && i + 1 < argc) only_model = argv[++i];
    else if (!std::strcmp(argv[i], "--update") && i + 1 < argc) {
      const std::string update = argv[++i];
      if (update != "optimizer" && update != "ops") {
        fmt::print(stderr, "autograd_bench: --update takes optimizer or ops, not {}\n", update);
        return 2;
      }
      optimizer_update = update == "optimizer";
    }
  }
  md::set_num_threads(threads);
  struct Case {
    const char* name;
    std::vector<int64_t> sizes;
    int64_t batch;
    bool classification;
  };
  std::vector<Case> cases = {{"mlp_784_256_10_b64", {784, 256, 10}, 64, true},
                             {"mlp_32_32_1_b8", {32, 32, 1}, 8, false}};
  if (!only_model.empty()) {
    std::erase_if(cases, [&](const Case& c) { return c.name != only_model; });
    if (cases.empty()) {
      fmt::print(stderr, "autograd_bench: unknown --model {}\n", only_model);
      return 2;
    }
  }
  const double idle = bench::idle_check();
  const double load = bench::load_average();
  std::map<std::string, Timing> mine;
  std::vector<std::string> names;
  for (const Case& c : cases) {
    mine[c.name] = run(c.sizes, c.batch, c.classification, steps, optimizer_update);
    names.push_back(c.name);
  }
  std::vector<std::map<std::string, bench::PeerFigure>> theirs(peers.size());
  for (size_t p = 0; p < peers.size(); ++p) {
    if (peers[p].available()) theirs[p] = run_peer(peers[p], threads, steps, names);
  }

  fmt::print("autograd_bench: one SGD training step ({}), {} thread(s), {} timed steps (after 50 warm-up); "
             "before the run: other processes {:.2f} CPUs, load {:.2f}\n",
             optimizer_update ? "update: md::optim::SGD" : "update: assign_sub(grad * lr)", threads, steps, idle,
             load);
  fmt::print("{:<20} {:>11} {:>11} {:>5}  {:<16} {:>11} {:>11} {:>8} {:>8}  {}\n", "model", "minidl min", "minidl med",
             "oth", "peer", "peer min", "peer med", "x (min)", "x (med)", "peer runs / void");
  for (const Case& c : cases) {
    const Timing m = mine[c.name];
    const std::string mine_note = m.others > bench::kOthersLimit ? "minidl disturbed" : "";
    fmt::print("{:<20} {:>9.4f}ms {:>9.4f}ms {:>5.2f}  {}\n", c.name, m.min_ms, m.median_ms, m.others, mine_note);
    for (size_t p = 0; p < peers.size(); ++p) {
      auto it = theirs[p].find(c.name);
      if (it == theirs[p].end()) {
        fmt::print("{:<20} {:>11} {:>11} {:>5}  {:<16} {}\n", "", "", "", "", peers[p].name,
                   peers[p].available() ? "no figure" : "not installed (" + peers[p].python + ")");
        continue;
      }
      const bench::PeerFigure& t = it->second;
      const bool ok = t.valid() && mine_note.empty();
      fmt::print("{:<20} {:>11} {:>11} {:>5}  {:<16} {:>9.4f}ms {:>9.4f}ms {:>8} {:>8}  {:.4f} / {:.4f} ms{}\n", "", "",
                 "", "", peers[p].name, t.min_ms, t.median_ms, ok ? fmt::format("{:.2f}x", t.min_ms / m.min_ms) : "void",
                 ok ? fmt::format("{:.2f}x", t.median_ms / m.median_ms) : "void", t.first_ms, t.second_ms,
                 t.why.empty() ? "" : " void: " + t.why);
    }
  }
  return 0;
}
