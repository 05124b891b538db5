// One training step's forward and backward (no optimizer update) of an LSTM and a GRU layer
// (Keras's default reset_after=true) with a Dense head on the last output, at batch 64, 28 steps,
// 28 features, 128 units: md::ops::lstm_sequence / gru_sequence under a GradientTape, against the
// peers at the same thread count, in the same run, each run twice in fresh processes
// (bench/peer_runner.h): PyTorch 1.13 and 2.x eager nn.LSTM / nn.GRU + Linear and torch.compile of
// the whole step function (bench/peer_pytorch_rnn.py), and Keras's formulas under
// jax.jit(value_and_grad) with lax.scan (bench/peer_jax_rnn.py). The "layer" rows take the same
// step through md::layers::LSTM / GRU + Dense in a Sequential (what a user writes; the layers run
// the same fused op), against the same peer figures. Also prints what runs: minidl's path
// (our packed-kernel tile for every per-step product and for the weight gradients, our cell
// kernels) and the implementation oneDNN 2.6 would pick for its own
// RNN primitives at these shapes, timed raw for comparison (forward_training + backward on the
// primitives, weights already in their layouts).
//
//   ./build/bench/rnn_bench [--threads 1,2] [--steps 100] [--peers all|torch1,torch2,compile,jax]
//                           [--no-peer] [--no-raw] [--check] [--phases]
//
// "oth" is the CPUs other processes used during minidl's timed loop (> 0.3: disturbed).
// --check: minidl's loss and gradients on a small input, recomputed by each JAX peer from the
// same weights (the peer computes what minidl computes); exits 1 when they differ by > 1e-4.
// --phases: where the LSTM step's time goes, at each thread count and without peers: the fused
// op's forward and backward kernels alone (md::compute, no tape), and the rest of the step.
#include <minidl/core/backend/attention_kernels.h>  // active_kernel_path
#include <minidl/minidl.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "peer_runner.h"

namespace md = minidl;
using dnnl::memory;

namespace {

constexpr int64_t kBatch = 64, kTime = 28, kFeatures = 28, kUnits = 128, kClasses = 10;

struct Timing {
  double min_ms = 0, median_ms = 0, others = 0;
};

// Each step timed alone; other processes' load over the whole loop.
Timing time_steps(const std::function<void()>& step, int steps) {
  for (int i = 0; i < 10; ++i) step();
  std::vector<double> times;
  const bench::CpuSample before = bench::CpuSample::now();
  const auto loop_start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - loop_start).count();
  const bench::CpuSample after = bench::CpuSample::now();
  std::sort(times.begin(), times.end());
  return {times.front(), times[times.size() / 2], bench::others_cpus(before, after, seconds)};
}

// The minidl step: the fused op, a Dense head on the last h, a mean squared error, and the tape
// gradient for every weight.
Timing minidl_step(bool lstm, int steps) {
  const int64_t gates = lstm ? 4 : 3;
  const float limit = 1.0f / std::sqrt(static_cast<float>(kUnits));  // PyTorch's RNN init range
  md::Variable kernel(md::random::uniform({kFeatures, gates * kUnits}, -limit, limit, 1), "kernel");
  md::Variable recurrent(md::random::uniform({kUnits, gates * kUnits}, -limit, limit, 2), "recurrent_kernel");
  md::Variable bias(md::random::uniform(lstm ? md::Shape{gates * kUnits} : md::Shape{2, gates * kUnits}, -limit,
                                        limit, 3),
                    "bias");
  md::Variable head(md::random::uniform({kUnits, kClasses}, -limit, limit, 4), "head_kernel");
  md::Variable head_bias(md::random::uniform({kClasses}, -limit, limit, 5), "head_bias");
  const md::Tensor x = md::random::normal({kBatch, kTime, kFeatures}, 0, 1, 6);
  const md::Tensor y = md::random::normal({kBatch, kClasses}, 0, 1, 7);
  const std::vector<md::Variable> weights{kernel, recurrent, bias, head, head_bias};
  return time_steps(
      [&] {
        md::GradientTape tape;
        const std::vector<md::Tensor> out =
            lstm ? md::ops::lstm_sequence(x, {}, {}, kernel.value(), recurrent.value(), bias.value(), false)
                 : md::ops::gru_sequence(x, {}, kernel.value(), recurrent.value(), bias.value(), true, false);
        const md::Tensor logits = md::ops::matmul(out[1], head.value()) + head_bias.value();
        const md::Tensor loss = md::ops::mean(md::ops::square(logits - y));
        const std::vector<md::Tensor> grads = tape.gradient(loss, weights);
        if (!grads[0].defined()) std::abort();
      },
      steps);
}

// The same step through the layers, as a user writes it: md::layers::LSTM (or GRU) + Dense on
// the last output, the gradient of every trainable weight (the layers take the fused op above).
Timing minidl_layer_step(bool lstm, int steps) {
  md::Sequential model({md::Input({kTime, kFeatures})}, lstm ? "lstm_layer" : "gru_layer");
  if (lstm) {
    model.add(md::layers::LSTM({.units = kUnits}));
  } else {
    model.add(md::layers::GRU({.units = kUnits}));
  }
  model.add(md::layers::Dense({.units = kClasses}));
  const md::Tensor x = md::random::normal({kBatch, kTime, kFeatures}, 0, 1, 6);
  const md::Tensor y = md::random::normal({kBatch, kClasses}, 0, 1, 7);
  const std::vector<md::Variable> weights = model.trainable_weights();
  return time_steps(
      [&] {
        md::GradientTape tape;
        const md::Tensor logits = model(x, {.training = true});
        const md::Tensor loss = md::ops::mean(md::ops::square(logits - y));
        const std::vector<md::Tensor> grads = tape.gradient(loss, weights);
        if (grads.size() != 5 || !grads[0].defined()) std::abort();
      },
      steps);
}

// The LSTM step in parts: the backend's forward, its backward (every weight gradient, no dx, as
// in the step), and the whole step, so the glue (tape, head, loss) is their difference.
void phase_timings(int threads, int steps) {
  const float limit = 1.0f / std::sqrt(static_cast<float>(kUnits));
  md::compute::RecurrentProblem p{.cell = md::compute::RecurrentCell::lstm,
                                  .x = md::random::normal({kBatch, kTime, kFeatures}, 0, 1, 6),
                                  .kernel = md::random::uniform({kFeatures, 4 * kUnits}, -limit, limit, 1),
                                  .recurrent_kernel = md::random::uniform({kUnits, 4 * kUnits}, -limit, limit, 2),
                                  .bias = md::random::uniform({4 * kUnits}, -limit, limit, 3)};
  const md::compute::RecurrentResult forward = md::compute::recurrent_forward(p);
  const md::Tensor d_last = md::random::normal({kBatch, kUnits}, 0, 1, 8);
  const std::vector<bool> wanted{false, false, false, true, true, true};
  const Timing f = time_steps([&] { md::compute::recurrent_forward(p); }, steps);
  const Timing b = time_steps(
      [&] { md::compute::recurrent_backward(p, forward, md::Tensor(), d_last, md::Tensor(), wanted); }, steps);
  const Timing whole = minidl_step(true, steps);
  std::printf("lstm phases, %d thread(s): forward %.3f ms, backward %.3f ms, whole step %.3f ms, so the rest (tape, "
              "head, loss) %.3f ms (min of %d; others %.2f / %.2f / %.2f CPUs)\n",
              threads, f.min_ms, b.min_ms, whole.min_ms, whole.min_ms - f.min_ms - b.min_ms, steps, f.others,
              b.others, whole.others);
}

// ---- oneDNN's own RNN primitives at the same shapes: which implementation, and how fast ----------

memory::desc desc(const memory::dims& dims, memory::format_tag tag) {
  return memory::desc(dims, memory::data_type::f32, tag);
}

memory filled(const memory::desc& d, const dnnl::engine& engine, float value) {
  memory m(d, engine);
  float* p = static_cast<float*>(m.get_data_handle());
  std::fill(p, p + d.get_size() / sizeof(float), value);
  return m;
}

struct RawRnn {
  std::string forward_impl, backward_impl;
  Timing timing;
};

// forward_training then backward, every tensor in the layout the primitives choose.
RawRnn raw_rnn(bool lstm, int steps) {
  using tag = memory::format_tag;
  const dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const int64_t gates = lstm ? 4 : 3, bias_gates = 4;  // lbr_gru has a fourth bias gate
  const auto src = desc({kTime, kBatch, kFeatures}, tag::tnc), dst = desc({kTime, kBatch, kUnits}, tag::tnc);
  const auto none = memory::desc();  // no initial or final states: zeros
  const auto wl = desc({1, 1, kFeatures, gates, kUnits}, tag::any), wi = desc({1, 1, kUnits, gates, kUnits}, tag::any);
  const auto bias = desc({1, 1, bias_gates, kUnits}, tag::ldgo);
  const auto dir = dnnl::rnn_direction::unidirectional_left2right;
  dnnl::primitive forward, backward;
  std::unordered_map<int, memory> fwd_args, bwd_args;
  RawRnn r;
  auto make_args = [&](const auto& fpd, const auto& bpd) {
    fwd_args = {{DNNL_ARG_SRC_LAYER, filled(fpd.src_layer_desc(), engine, 0.1f)},
                {DNNL_ARG_WEIGHTS_LAYER, filled(fpd.weights_layer_desc(), engine, 0.01f)},
                {DNNL_ARG_WEIGHTS_ITER, filled(fpd.weights_iter_desc(), engine, 0.01f)},
                {DNNL_ARG_BIAS, filled(fpd.bias_desc(), engine, 0.0f)},
                {DNNL_ARG_DST_LAYER, filled(fpd.dst_layer_desc(), engine, 0.0f)},
                {DNNL_ARG_WORKSPACE, filled(fpd.workspace_desc(), engine, 0.0f)}};
    bwd_args = {{DNNL_ARG_SRC_LAYER, fwd_args[DNNL_ARG_SRC_LAYER]},
                {DNNL_ARG_WEIGHTS_LAYER, filled(bpd.weights_layer_desc(), engine, 0.01f)},
                {DNNL_ARG_WEIGHTS_ITER, filled(bpd.weights_iter_desc(), engine, 0.01f)},
                {DNNL_ARG_BIAS, fwd_args[DNNL_ARG_BIAS]},
                {DNNL_ARG_DST_LAYER, fwd_args[DNNL_ARG_DST_LAYER]},
                {DNNL_ARG_WORKSPACE, fwd_args[DNNL_ARG_WORKSPACE]},
                {DNNL_ARG_DIFF_SRC_LAYER, filled(bpd.diff_src_layer_desc(), engine, 0.0f)},
                {DNNL_ARG_DIFF_WEIGHTS_LAYER, filled(bpd.diff_weights_layer_desc(), engine, 0.0f)},
                {DNNL_ARG_DIFF_WEIGHTS_ITER, filled(bpd.diff_weights_iter_desc(), engine, 0.0f)},
                {DNNL_ARG_DIFF_BIAS, filled(bpd.diff_bias_desc(), engine, 0.0f)},
                {DNNL_ARG_DIFF_DST_LAYER, filled(bpd.diff_dst_layer_desc(), engine, 0.01f)}};
    r.forward_impl = fpd.impl_info_str();
    r.backward_impl = bpd.impl_info_str();
    forward = dnnl::primitive(fpd);
    backward = dnnl::primitive(bpd);
  };
  if (lstm) {
    dnnl::lstm_forward::primitive_desc fpd({dnnl::prop_kind::forward_training, dir, src, none, none, wl, wi, bias, dst,
                                            none, none},
                                           engine);
    dnnl::lstm_backward::primitive_desc bpd({dnnl::prop_kind::backward, dir, src, none, none, wl, wi, bias, dst, none,
                                             none, src, none, none, wl, wi, bias, dst, none, none},
                                            engine, fpd);
    make_args(fpd, bpd);
  } else {
    dnnl::lbr_gru_forward::primitive_desc fpd({dnnl::prop_kind::forward_training, dir, src, none, wl, wi, bias, dst,
                                               none},
                                              engine);
    dnnl::lbr_gru_backward::primitive_desc bpd({dnnl::prop_kind::backward, dir, src, none, wl, wi, bias, dst, none, src,
                                                none, wl, wi, bias, dst, none},
                                               engine, fpd);
    make_args(fpd, bpd);
  }
  r.timing = time_steps(
      [&] {
        forward.execute(stream, fwd_args);
        backward.execute(stream, bwd_args);
        stream.wait();
      },
      steps);
  return r;
}

std::string ratio(const bench::PeerFigure& peer, const Timing& mine) {
  if (peer.min_ms <= 0) return "-";
  if (!peer.valid() || mine.others > bench::kOthersLimit) return "void";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2fx", peer.min_ms / mine.min_ms);
  return buf;
}

nlohmann::json tensor_json(const md::Tensor& t, const std::string& name) {
  return {{"name", name}, {"shape", t.shape()}, {"values", t.to_vector()}};
}

// --check: minidl's loss and weight gradients of the step above at batch 3, 5 steps, 4 features,
// 6 units, 3 classes, for both cells, written for each JAX peer, which recomputes them from the
// same weights. Returns the exit status: 0 when every available peer agrees within 1e-4 (loss:
// absolute; gradients: relative to the larger of 1 and each one's largest entry).
int check_peers(const std::vector<bench::Peer>& peers) {
  constexpr int64_t b = 3, t = 5, f = 4, u = 6, k = 3;
  nlohmann::json cases = nlohmann::json::array();
  for (bool lstm : {true, false}) {
    const int64_t g = lstm ? 4 : 3;
    const std::vector<md::Tensor> w = {md::random::uniform({f, g * u}, -0.5f, 0.5f, 21),
                                       md::random::uniform({u, g * u}, -0.5f, 0.5f, 22),
                                       md::random::uniform(lstm ? md::Shape{g * u} : md::Shape{2, g * u}, -0.5f, 0.5f,
                                                           23),
                                       md::random::uniform({u, k}, -0.5f, 0.5f, 24),
                                       md::random::uniform({k}, -0.5f, 0.5f, 25)};
    const md::Tensor x = md::random::normal({b, t, f}, 0, 1, 26), y = md::random::normal({b, k}, 0, 1, 27);
    std::vector<md::Variable> vars;
    for (const md::Tensor& v : w) vars.emplace_back(v);
    md::GradientTape tape;
    const std::vector<md::Tensor> out =
        lstm ? md::ops::lstm_sequence(x, {}, {}, vars[0].value(), vars[1].value(), vars[2].value(), false)
             : md::ops::gru_sequence(x, {}, vars[0].value(), vars[1].value(), vars[2].value(), true, false);
    const md::Tensor loss =
        md::ops::mean(md::ops::square(md::ops::matmul(out[1], vars[3].value()) + vars[4].value() - y));
    const std::vector<md::Tensor> grads = tape.gradient(loss, vars);
    nlohmann::json c = {{"cell", lstm ? "lstm" : "gru"}, {"x", tensor_json(x, "x")}, {"y", tensor_json(y, "y")},
                        {"loss", loss.item()}};
    const char* names[] = {"kernel", "recurrent_kernel", "bias", "head_kernel", "head_bias"};
    for (size_t i = 0; i < w.size(); ++i) {
      c["weights"].push_back(tensor_json(w[i], names[i]));
      c["grads"].push_back(grads[i].to_vector());
    }
    cases.push_back(c);
  }
  int status = 0;
  for (const auto& [peer, rows] : bench::run_checks(peers, "rnn", cases)) {
    for (const nlohmann::json& row : rows) {
      const double loss_err = row.at("abs_loss").get<double>(), grad_err = row.at("max_rel_grad").get<double>();
      const bool ok = loss_err <= 1e-4 && grad_err <= 1e-4;
      std::printf("%s vs minidl, %s at (3, 5, 4) -> 6 units: loss abs diff %.2e, gradients max rel diff %.2e %s: %s\n",
                  peer.name.c_str(), row.at("check").get<std::string>().c_str(), loss_err, grad_err,
                  row.at("rel_grad").dump().c_str(), ok ? "same computation" : "DIFFERENT");
      status |= ok ? 0 : 1;
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts{1, 2};
  int steps = 100;
  bool raw = true, check = false, phases = false;
  std::vector<bench::Peer> peers = bench::peers();
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      thread_counts.clear();
      for (const char* p = argv[++i]; *p;) {
        thread_counts.push_back(std::atoi(p));
        while (*p && *p != ',') ++p;
        if (*p == ',') ++p;
      }
    } else if (!std::strcmp(argv[i], "--steps") && i + 1 < argc) {
      steps = std::atoi(argv[++i]);
    } else if (!std::strcmp(argv[i], "--no-peer")) {
      peers.clear();
    } else if (!std::strcmp(argv[i], "--peers") && i + 1 < argc) {
      peers = bench::peers(argv[++i]);
    } else if (!std::strcmp(argv[i], "--no-raw")) {
      raw = false;
    } else if (!std::strcmp(argv[i], "--check")) {
      check = true;
    } else if (!std::strcmp(argv[i], "--phases")) {
      phases = true;
    } else {
      std::fprintf(stderr, "usage: rnn_bench [--threads 1,2] [--steps 100] [--peers all|torch1,torch2,compile,jax] "
                           "[--no-peer] [--no-raw] [--check] [--phases]\n");
      return 2;
    }
  }
  if (check) return check_peers(peers);
  if (phases) {
    for (int threads : thread_counts) {
      md::set_num_threads(threads);
      phase_timings(threads, steps);
    }
    return 0;
  }
  std::printf("rnn_bench: forward + backward of one training step, batch %lld, %lld steps, %lld features, %lld "
              "units, Dense head of %lld; %d timed steps after 10 warm-up\n",
              static_cast<long long>(kBatch), static_cast<long long>(kTime), static_cast<long long>(kFeatures),
              static_cast<long long>(kUnits), static_cast<long long>(kClasses), steps);
  std::printf("# minidl runs: our tile on the recurrent and input kernels packed once per call for every per-step "
              "product (x W + b, h U; backward dh U^T), the same tile for the weight gradients (A^T and G packed, "
              "columns split across threads), our cell kernels (%s path); no oneDNN RNN primitive\n# peers:",
              md::backend::active_kernel_path() == md::backend::KernelPath::portable ? "portable" : "avx2+fma");
  size_t eager = peers.size();
  for (size_t pi = 0; pi < peers.size(); ++pi) {
    std::printf(" %s (%s)", peers[pi].name.c_str(), peers[pi].available() ? peers[pi].python.c_str() : "not installed");
    if (peers[pi].key == "torch2") eager = pi;
  }
  std::printf("\n%-10s %3s %11s %11s %5s %11s %8s %-16s %11s %8s  %-26s %s\n", "cell", "thr", "minidl min",
              "minidl med", "oth", "torch2 min", "x torch2", "fastest peer", "its min", "x fast", "oneDNN RNN primitive",
              "raw min");
  std::vector<std::string> peer_lines;
  for (int threads : thread_counts) {
    md::set_num_threads(threads);
    const double idle = bench::idle_check();
    std::map<std::string, Timing> mine;
    std::map<std::string, RawRnn> raws;
    for (bool lstm : {true, false}) {
      const std::string name = lstm ? "lstm" : "gru";
      mine[name] = minidl_step(lstm, steps);
      mine[name + " layer"] = minidl_layer_step(lstm, steps);
      if (raw) raws[name] = raw_rnn(lstm, std::max(10, steps / 4));
    }
    // theirs[cell][peer index]: every peer in a fresh process, twice.
    std::map<std::string, std::vector<bench::PeerFigure>> theirs;
    for (const std::string cell : {"lstm", "gru"}) theirs[cell].resize(peers.size());
    for (size_t pi = 0; pi < peers.size(); ++pi) {
      if (!peers[pi].available()) continue;
      std::fprintf(stderr, "%d threads: %s, two fresh processes...\n", threads, peers[pi].name.c_str());
      std::vector<nlohmann::json> second;
      const std::vector<nlohmann::json> first = bench::run_twice(
          peers[pi].command("rnn", "--threads " + std::to_string(threads) + " --steps " + std::to_string(steps)),
          &second);
      for (const std::string cell : {"lstm", "gru"}) {
        theirs[cell][pi] = bench::confirm_in(first, second, [&](const nlohmann::json& row) {
          return row.at("model") == cell ? &row : nullptr;
        });
      }
      for (const nlohmann::json& row : first) {
        if (row.contains("compiled") && row.at("model") == "lstm")
          peer_lines.push_back("# " + peers[pi].name + ": dynamo captured " + row["compiled"].dump());
      }
    }
    for (const std::string name : {"lstm", "lstm layer", "gru", "gru layer"}) {
      const Timing& m = mine[name];
      // The peers' step is the same for both rows: nn.LSTM / nn.GRU + Linear, or the JAX formulas.
      const std::string cell = name.substr(0, name.find(' '));
      const std::vector<bench::PeerFigure>& figures = theirs[cell];
      const bench::PeerFigure none;
      const bench::PeerFigure& torch2 = eager < peers.size() ? figures[eager] : none;
      int best = -1;
      for (size_t pi = 0; pi < peers.size(); ++pi) {
        if (figures[pi].valid() && (best < 0 || figures[pi].min_ms < figures[static_cast<size_t>(best)].min_ms))
          best = static_cast<int>(pi);
      }
      const bench::PeerFigure& top = best >= 0 ? figures[static_cast<size_t>(best)] : none;
      std::string impl = "-", raw_ms = "-";
      if (raws.count(name)) {
        impl = raws[name].forward_impl + " / " + raws[name].backward_impl;
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.2fms", raws[name].timing.min_ms);
        raw_ms = buf;
      } else if (name != cell) {
        impl = "(as above)";
      }
      char torch_min[32] = "-", top_min[32] = "-";
      if (torch2.min_ms > 0) std::snprintf(torch_min, sizeof(torch_min), "%.2fms", torch2.min_ms);
      if (top.min_ms > 0) std::snprintf(top_min, sizeof(top_min), "%.2fms", top.min_ms);
      std::printf("%-10s %3d %9.2fms %9.2fms %5.2f %11s %8s %-16s %11s %8s  %-26s %s%s\n", name.c_str(), threads,
                  m.min_ms, m.median_ms, m.others, torch_min, ratio(torch2, m).c_str(),
                  best >= 0 ? peers[static_cast<size_t>(best)].name.c_str() : "-", top_min, ratio(top, m).c_str(),
                  (name == cell ? (cell == "gru" ? "lbr_gru " : "lstm ") + impl : impl).c_str(), raw_ms.c_str(),
                  m.others > bench::kOthersLimit ? "  minidl disturbed" : "");
      if (name != cell) continue;
      for (size_t pi = 0; pi < peers.size(); ++pi) {
        const bench::PeerFigure& f = figures[pi];
        char line[512];
        if (!peers[pi].available()) {
          std::snprintf(line, sizeof(line), "%-5s %3d %-16s not installed (tools/peers/setup.sh)", cell.c_str(),
                        threads, peers[pi].name.c_str());
        } else {
          std::snprintf(line, sizeof(line), "%-5s %3d %-16s run1 %7.2fms run2 %7.2fms median %7.2fms %8s %s",
                        cell.c_str(), threads, peers[pi].name.c_str(), f.first_ms, f.second_ms, f.median_ms,
                        ratio(f, m).c_str(), f.valid() ? "" : ("void: " + f.why).c_str());
        }
        peer_lines.push_back(line);
      }
    }
    std::printf("# %d thread(s): before the run other processes used %.2f CPUs; load %.2f\n", threads, idle,
                bench::load_average());
  }
  if (!peer_lines.empty()) {
    std::printf("every peer (two fresh processes each; x = peer / minidl's fused-op row; void: no ratio):\n");
    for (const std::string& line : peer_lines) std::printf("%s\n", line.c_str());
  }
  return 0;
}
