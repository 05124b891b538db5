// One training step's forward and backward (no optimizer update) of an LSTM and a GRU layer
// (Keras's default reset_after=true) with a Dense head on the last output, at batch 64, 28 steps,
// 28 features, 128 units: md::ops::lstm_sequence / gru_sequence under a GradientTape, against
// PyTorch 2.x eager nn.LSTM / nn.GRU + Linear (bench/peer_pytorch_rnn.py, run twice in fresh
// processes, bench/peer_runner.h) at the same thread count, in the same run. The "layer" rows take
// the same step through md::layers::LSTM / GRU + Dense in a Sequential (what a user writes; the
// layers run the same fused op), against the same PyTorch figure. Also prints what runs:
// minidl's path (oneDNN's sgemm plus our cell kernels) and the implementation oneDNN 2.6 would
// pick for its own RNN primitives at these shapes, timed raw for comparison (forward_training +
// backward on the primitives, weights already in their layouts).
//
//   ./build/bench/rnn_bench [--threads 1,2] [--steps 100] [--no-peer] [--no-raw]
//                           [--python build/peers/torch2/bin/python]
//
// "oth" is the CPUs other processes used during minidl's timed loop (> 0.3: disturbed).
#include <minidl/core/backend/attention_kernels.h>  // cpu_has_avx2_fma
#include <minidl/minidl.h>
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
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

std::string default_python() {
  const std::filesystem::path local = std::filesystem::path(MINIDL_BENCH_DIR) / "../build/peers/torch2/bin/python";
  return std::filesystem::exists(local) ? local.lexically_normal().string() : std::string();
}

std::string ratio(const bench::PeerFigure& peer, const Timing& mine) {
  if (peer.min_ms <= 0) return "-";
  if (!peer.valid() || mine.others > bench::kOthersLimit) return "void";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2fx", peer.min_ms / mine.min_ms);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> thread_counts{1, 2};
  int steps = 100;
  bool peer = true, raw = true;
  std::string python = default_python();
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
      peer = false;
    } else if (!std::strcmp(argv[i], "--no-raw")) {
      raw = false;
    } else if (!std::strcmp(argv[i], "--python") && i + 1 < argc) {
      python = argv[++i];
    } else {
      std::fprintf(stderr, "usage: rnn_bench [--threads 1,2] [--steps 100] [--no-peer] [--no-raw] [--python PATH]\n");
      return 2;
    }
  }
  if (peer && python.empty()) {
    std::printf("# no PyTorch 2 peer: build/peers/torch2/bin/python is missing (tools/peers/setup.sh) and no "
                "--python was given\n");
    peer = false;
  }
  std::printf("rnn_bench: forward + backward of one training step, batch %lld, %lld steps, %lld features, %lld "
              "units, Dense head of %lld; %d timed steps after 10 warm-up\n",
              static_cast<long long>(kBatch), static_cast<long long>(kTime), static_cast<long long>(kFeatures),
              static_cast<long long>(kUnits), static_cast<long long>(kClasses), steps);
  std::printf("# minidl runs: oneDNN's sgemm (dnnl_sgemm, its jit gemm) for every product + our cell kernels "
              "(%s path)\n",
              md::backend::cpu_has_avx2_fma() ? "avx2+fma" : "portable");
  std::printf("%-10s %3s %11s %11s %5s %11s %11s %8s  %-26s %s\n", "cell", "thr", "minidl min", "minidl med", "oth",
              "torch min", "torch med", "x (min)", "oneDNN RNN primitive", "raw min");
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
    std::map<std::string, bench::PeerFigure> theirs;
    if (peer) {
      const std::string command = python + " " + std::string(MINIDL_BENCH_DIR) + "/peer_pytorch_rnn.py --threads " +
                                  std::to_string(threads) + " --steps " + std::to_string(steps);
      std::vector<nlohmann::json> second;
      const std::vector<nlohmann::json> first = bench::run_twice(command, &second);
      for (const std::string name : {"lstm", "gru"}) {
        theirs[name] = bench::confirm_in(first, second, [&](const nlohmann::json& row) {
          return row.at("model") == name ? &row : nullptr;
        });
      }
    }
    for (const std::string name : {"lstm", "lstm layer", "gru", "gru layer"}) {
      const Timing& m = mine[name];
      // PyTorch's step is the same for both rows: nn.LSTM / nn.GRU + Linear.
      const std::string cell = name.substr(0, name.find(' '));
      const bench::PeerFigure t = theirs.count(cell) ? theirs[cell] : bench::PeerFigure{};
      std::string impl = "-", raw_ms = "-";
      if (raws.count(name)) {
        impl = raws[name].forward_impl + " / " + raws[name].backward_impl;
        char buf[32];
        std::snprintf(buf, sizeof(buf), "%.2fms", raws[name].timing.min_ms);
        raw_ms = buf;
      } else if (name != cell) {
        impl = "(as above)";
      }
      char torch_min[32] = "-", torch_med[32] = "-";
      if (t.min_ms > 0) {
        std::snprintf(torch_min, sizeof(torch_min), "%.2fms", t.min_ms);
        std::snprintf(torch_med, sizeof(torch_med), "%.2fms", t.median_ms);
      }
      std::printf("%-10s %3d %9.2fms %9.2fms %5.2f %11s %11s %8s  %-26s %s%s%s\n", name.c_str(), threads, m.min_ms,
                  m.median_ms, m.others, torch_min, torch_med, ratio(t, m).c_str(),
                  (name == cell ? (cell == "gru" ? "lbr_gru " : "lstm ") + impl : impl).c_str(), raw_ms.c_str(),
                  t.why.empty() ? "" : ("  torch void: " + t.why).c_str(),
                  m.others > bench::kOthersLimit ? "  minidl disturbed" : "");
    }
    std::printf("# %d thread(s): before the run other processes used %.2f CPUs; load %.2f\n", threads, idle,
                bench::load_average());
  }
  return 0;
}
