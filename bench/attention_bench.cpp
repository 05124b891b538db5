// bench/attention_bench: the fused additive-attention op (md::ops::additive_attention) against
// the peers computing Keras's formula (same thread count, same run): PyTorch 1.13 (Debian),
// PyTorch 2.x eager, torch.compile and JAX jax.jit (bench/peer_pytorch_attention.py,
// bench/peer_jax_attention.py; peer_runner.h says where their environments live), and against
// minidl's own reference path (md::ops::additive_attention_reference, built from generic ops,
// materialising (B,Tq,Tv,D)).
//
//   attention_bench [--threads 1,2] [--reps 5] [--shapes 0,1,2,3] [--path auto|avx512|avx2|portable]
//                   [--peers all|torch1,torch2,compile,jax] [--no-peer] [--no-reference] [--no-rss]
//                   [--ref-limit-gib 4]
//
// Per (threads, shape, pass) the table shows the minimum over --reps timed calls (after one
// warm-up call):
//   fwd     out = additive_attention(q, k, v, scale), no tape (PyTorch: under no_grad)
//   fwd+bwd the forward on a tape, then the gradient of sum(out) w.r.t. q, k, v and scale
//           (PyTorch: torch.autograd.grad(out.sum(), [q, k, v, scale]); JAX: jit of value_and_grad)
// Memory ("peak extra", MiB):
//   tensors  minidl only: md::memory_stats().peak_bytes minus the live bytes before the call
//            (every minidl tensor buffer: intermediates, outputs, gradients, tape records),
//            measured on the first call in this process.
//   RSS      VmHWM minus VmRSS just before one call, after one warm-up call, in a fresh process
//            per (implementation, shape, threads), with MALLOC_MMAP_THRESHOLD_=65536
//            MALLOC_TRIM_THRESHOLD_=0 so that freed buffers leave the process at once. The same
//            method for minidl (this binary re-run with --probe-rss) and for each peer (its
//            script's --mode memory); it also counts what memory_stats does not see: the fused
//            kernel's per-thread scratch and oneDNN's scratchpads.
// ns/tanh: wall time / tanh evaluations; B*Tq*Tv*D per forward, twice that for fwd+bwd (the
// backward recomputes them). "bound%" = (0.256 ns / threads) / (ns/tanh): the measured
// throughput of the rational AVX-512 tanh (docs/PERF-RESEARCH.md section 4), so 100% would be
// "nothing but tanh at full speed on every thread". A stage table splits the fused op into its
// parts (score kernel, softmax, matmuls, tape overhead) to show where the time goes.
// "oth" = CPUs used by other processes (and steal) during the fastest repetition, from
// /proc/stat; > 0.3 means that row was disturbed.
#include <minidl/minidl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "minidl/core/backend/attention_kernels.h"
#include "peer_runner.h"

namespace md = minidl;

namespace {

constexpr double kTanhNs = 0.256;  // ns per tanh element per core, PERF-RESEARCH section 4
constexpr double kMiB = 1024.0 * 1024.0;

struct ShapeCase {
  int64_t b, tq, tv, d;
  std::string str() const { return fmt::format("({},{},{},{})", b, tq, tv, d); }
  std::string csv() const { return fmt::format("{},{},{},{}", b, tq, tv, d); }
  double tanh_count() const { return static_cast<double>(b) * tq * tv * d; }
  double four_d_bytes() const { return 4.0 * tanh_count(); }
};
const std::vector<ShapeCase> kShapes = {{32, 64, 64, 64}, {16, 128, 128, 128}, {4, 512, 512, 64}, {1, 1024, 1024, 256}};

// ---- measuring -----------------------------------------------------------------------------

struct Stat {
  double min_ms = -1, median_ms = -1, others = 0;
  bool valid() const { return min_ms > 0; }
};

// One warm-up call, then `reps` timed calls; min and median.
Stat time_it(const std::function<void()>& fn, int reps) {
  fn();
  std::vector<std::pair<double, double>> runs;  // (ms, others)
  for (int r = 0; r < reps; ++r) {
    const bench::CpuSample c0 = bench::CpuSample::now();
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    runs.emplace_back(s * 1e3, bench::others_cpus(c0, bench::CpuSample::now(), s));
  }
  std::vector<double> ms;
  for (auto& r : runs) ms.push_back(r.first);
  std::sort(ms.begin(), ms.end());
  const auto best = std::min_element(runs.begin(), runs.end());
  return {best->first, ms[ms.size() / 2], best->second};
}

// Peak extra bytes of minidl tensor buffers during fn().
double tensor_peak_mib(const std::function<void()>& fn) {
  md::reset_peak_memory();
  const int64_t live = md::memory_stats().live_bytes;
  fn();
  return static_cast<double>(md::memory_stats().peak_bytes - live) / kMiB;
}

long status_kib(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  const size_t n = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, n, key) == 0 && line.size() > n && line[n] == ':') return std::atol(line.c_str() + n + 1);
  }
  return -1;
}

bool reset_rss_peak() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f) return false;
  f << "5";
  f.close();
  return static_cast<bool>(f);
}

// ---- the computations ----------------------------------------------------------------------

struct Inputs {
  md::Tensor q, k, v, scale;
};

Inputs make_inputs(const ShapeCase& s) {
  return {md::random::uniform({s.b, s.tq, s.d}, -1.0f, 1.0f, 1), md::random::uniform({s.b, s.tv, s.d}, -1.0f, 1.0f, 2),
          md::random::uniform({s.b, s.tv, s.d}, -1.0f, 1.0f, 3), md::random::uniform({s.d}, -0.5f, 0.5f, 4)};
}

enum class Impl { fused, reference };
const char* impl_name(Impl i) { return i == Impl::fused ? "fused" : "reference"; }

std::pair<md::Tensor, md::Tensor> call(Impl impl, const Inputs& in) {
  return impl == Impl::fused ? md::ops::additive_attention(in.q, in.k, in.v, in.scale)
                             : md::ops::additive_attention_reference(in.q, in.k, in.v, in.scale);
}

md::Tensor forward(Impl impl, const Inputs& in) { return call(impl, in).first; }

// {out, dq, dk, dv, dscale}
std::vector<md::Tensor> forward_backward(Impl impl, const Inputs& in) {
  md::GradientTape tape;
  for (const md::Tensor& t : {in.q, in.k, in.v, in.scale}) tape.watch(t);
  md::Tensor out = call(impl, in).first;
  std::vector<md::Tensor> g = tape.gradient(md::ops::sum(out), std::vector<md::Tensor>{in.q, in.k, in.v, in.scale});
  g.insert(g.begin(), out);
  return g;
}

// max |a - b| / max |b| over all elements.
double rel_diff(const md::Tensor& a, const md::Tensor& b) {
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
    num = std::max(num, static_cast<double>(std::fabs(x[i] - y[i])));
    den = std::max(den, static_cast<double>(std::fabs(y[i])));
  }
  return den > 0 ? num / den : num;
}

// ---- the RSS probe (a fresh process per implementation, shape and thread count) ------------

int probe_rss(Impl impl, const ShapeCase& s, int threads) {
  md::set_num_threads(threads);
  const Inputs in = make_inputs(s);
  nlohmann::json row = {{"impl", impl_name(impl)}, {"threads", threads}};
  for (const bool backward : {false, true}) {
    const auto run = [&] {
      if (backward) (void)forward_backward(impl, in);
      else (void)forward(impl, in);
    };
    run();  // warm-up: primitive creation, JIT, the OpenMP pool
    if (!reset_rss_peak()) {
      row["error"] = "cannot write /proc/self/clear_refs";
      break;
    }
    const long base = status_kib("VmRSS");
    run();
    row[backward ? "fwdbwd_mib" : "fwd_mib"] = static_cast<double>(status_kib("VmHWM") - base) / 1024.0;
  }
  std::printf("%s\n", row.dump().c_str());
  return 0;
}

std::string g_self;  // this executable, for the probes

const std::string kMallocEnv = "env MALLOC_MMAP_THRESHOLD_=65536 MALLOC_TRIM_THRESHOLD_=0 ";

// ---- one thread count ----------------------------------------------------------------------

struct PassResult {
  Stat mine, ref;
  std::vector<bench::PeerFigure> peer;  // per Options::peers entry; min_ms < 0 where it did not run
  std::vector<double> peer_rss_mib;     // the same
  double mine_tensor_mib = -1, ref_tensor_mib = -1, mine_rss_mib = -1, ref_rss_mib = -1;
  std::string ref_note;
  // The fastest valid peer figure (nullptr: none), and its index.
  const bench::PeerFigure* fastest_peer(size_t* index = nullptr) const {
    const bench::PeerFigure* best = nullptr;
    for (size_t i = 0; i < peer.size(); ++i) {
      if (peer[i].valid() && (best == nullptr || peer[i].min_ms < best->min_ms)) {
        best = &peer[i];
        if (index != nullptr) *index = i;
      }
    }
    return best;
  }
  // Their smallest peak extra RSS (-1: none measured).
  double smallest_peer_rss() const {
    double best = -1;
    for (double v : peer_rss_mib) best = v >= 0 && (best < 0 || v < best) ? v : best;
    return best;
  }
};
struct Stages {
  Stat k_fwd, softmax, wv, dv, dw, softmax_bwd, k_bwd;
};
struct Row {
  int threads;
  ShapeCase shape;
  PassResult fwd, fwdbwd;
  Stages stages;
  double check = -1;  // fused vs reference, worst relative difference over out and the 4 gradients
};

struct Options {
  std::vector<int> threads = {1, 2};
  std::vector<size_t> shapes = {0, 1, 2, 3};
  int reps = 5;
  std::vector<bench::Peer> peers = bench::peers();  // only the available() ones run
  bool reference = true, rss = true;
  double ref_limit_gib = 4.0;
};

// Largest measured ratio (reference tensor peak) / (one (B,Tq,Tv,D) tensor), per pass; used to
// predict whether the reference fits under --ref-limit-gib at the next shape. Until a shape
// has measured it, a generous guess.
double g_ref_factor[2] = {-1.0, -1.0};
constexpr double kRefFactorGuess[2] = {4.0, 10.0};

Stages time_stages(const Inputs& in, const ShapeCase& s, int reps) {
  namespace be = md::backend;
  namespace cp = md::compute;
  Stages st;
  const be::AdditiveScoresProblem p{.batch = s.b, .tq = s.tq, .tv = s.tv, .dim = s.d, .query = in.q.data(),
                                    .key = in.k.data(), .scale = in.scale.data()};
  md::Tensor scores = md::Tensor::empty({s.b, s.tq, s.tv});
  st.k_fwd = time_it([&] { be::additive_scores_forward(p, scores.mutable_data()); }, reps);
  md::Tensor w;
  st.softmax = time_it([&] { w = cp::softmax(scores, -1); }, reps);
  st.wv = time_it([&] { (void)cp::matmul(w, in.v); }, reps);
  const md::Tensor dout = md::Tensor::ones({s.b, s.tq, s.d});
  st.dv = time_it([&] { (void)cp::matmul(w, dout, true); }, reps);
  md::Tensor dw;
  st.dw = time_it([&] { dw = cp::matmul(dout, in.v, false, true); }, reps);
  md::Tensor dscores;
  st.softmax_bwd = time_it([&] { dscores = cp::softmax_backward(w, dw, -1); }, reps);
  md::Tensor dq = md::Tensor::empty(in.q.shape()), dk = md::Tensor::empty(in.k.shape()),
             ds = md::Tensor::empty(in.scale.shape());
  st.k_bwd = time_it(
      [&] { be::additive_scores_backward(p, dscores.data(), dq.mutable_data(), dk.mutable_data(), ds.mutable_data()); },
      reps);
  return st;
}

std::vector<Row> run_threads(const Options& o, int threads) {
  md::set_num_threads(threads);
  std::vector<Row> rows;
  for (size_t si : o.shapes) {
    const ShapeCase& s = kShapes[si];
    Row row{threads, s, {}, {}, {}, -1};
    for (PassResult* p : {&row.fwd, &row.fwdbwd}) {
      p->peer.assign(o.peers.size(), {});
      p->peer_rss_mib.assign(o.peers.size(), -1.0);
    }
    const Inputs in = make_inputs(s);
    std::fprintf(stderr, "thr %d %s: fused...\n", threads, s.str().c_str());
    std::vector<md::Tensor> fused_grads;
    row.fwd.mine_tensor_mib = tensor_peak_mib([&] { (void)forward(Impl::fused, in); });
    row.fwd.mine = time_it([&] { (void)forward(Impl::fused, in); }, o.reps);
    row.fwdbwd.mine_tensor_mib = tensor_peak_mib([&] { fused_grads = forward_backward(Impl::fused, in); });
    row.fwdbwd.mine = time_it([&] { (void)forward_backward(Impl::fused, in); }, o.reps);
    row.stages = time_stages(in, s, o.reps);

    if (o.reference) {
      for (int pass = 0; pass < 2; ++pass) {
        PassResult& pr = pass == 0 ? row.fwd : row.fwdbwd;
        const double factor_now = g_ref_factor[pass] > 0 ? g_ref_factor[pass] : kRefFactorGuess[pass];
        const double need_gib = factor_now * s.four_d_bytes() / (kMiB * 1024.0);
        if (need_gib > o.ref_limit_gib) {
          pr.ref_note = fmt::format("skipped: needs ~{:.1f} GiB", need_gib);
          continue;
        }
        std::fprintf(stderr, "thr %d %s: reference %s...\n", threads, s.str().c_str(), pass ? "fwd+bwd" : "fwd");
        std::vector<md::Tensor> ref_grads;
        pr.ref_tensor_mib = tensor_peak_mib([&] {
          if (pass) ref_grads = forward_backward(Impl::reference, in);
          else (void)forward(Impl::reference, in);
        });
        const double factor = pr.ref_tensor_mib * kMiB / s.four_d_bytes();
        g_ref_factor[pass] = std::max(g_ref_factor[pass], factor);
        if (pass) {
          double worst = 0;
          for (size_t i = 0; i < ref_grads.size(); ++i) worst = std::max(worst, rel_diff(fused_grads[i], ref_grads[i]));
          row.check = worst;
          ref_grads.clear();
        }
        pr.ref = time_it(
            [&] {
              if (pass) (void)forward_backward(Impl::reference, in);
              else (void)forward(Impl::reference, in);
            },
            o.reps);
      }
    }
    rows.push_back(row);
  }

  // Each peer: one fresh process per shape, run twice: the second run confirms the first (peer_runner.h).
  for (size_t pi = 0; pi < o.peers.size(); ++pi) {
    const bench::Peer& peer = o.peers[pi];
    if (!peer.available()) continue;
    for (Row& r : rows) {
      std::fprintf(stderr, "thr %d %s: %s timing, two fresh processes...\n", threads, r.shape.str().c_str(),
                   peer.name.c_str());
      std::vector<nlohmann::json> second;
      const std::vector<nlohmann::json> first = bench::run_twice(
          peer.command("attention",
                       fmt::format("--mode time --threads {} --reps {} --shapes '{}'", threads, o.reps, r.shape.csv())),
          &second);
      for (int pass = 0; pass < 2; ++pass) {
        (pass ? r.fwdbwd : r.fwd).peer[pi] = bench::confirm_in(first, second, [&](const nlohmann::json& j) {
          if (j.at("threads").get<int>() != threads)
            std::fprintf(stderr, "%s ran with %d threads\n", peer.name.c_str(), j.at("threads").get<int>());
          return &j.at(pass ? "fwdbwd" : "fwd");
        });
      }
    }
  }

  if (o.rss) {
    for (Row& r : rows) {
      std::fprintf(stderr, "thr %d %s: RSS probes...\n", threads, r.shape.str().c_str());
      for (Impl impl : {Impl::fused, Impl::reference}) {
        if (impl == Impl::reference && (!o.reference || !r.fwd.ref.valid())) continue;
        // The reference's fwd+bwd may be skipped where its fwd is not: probe only what ran.
        for (const nlohmann::json& j : bench::run_json_lines(fmt::format("{}'{}' --probe-rss {} {} {}{}", kMallocEnv, g_self,
                                                                  impl_name(impl), r.shape.csv(), threads,
                                                                  r.fwdbwd.ref.valid() || impl == Impl::fused
                                                                      ? ""
                                                                      : " --fwd-only"))) {
          if (impl == Impl::fused) {
            r.fwd.mine_rss_mib = j.value("fwd_mib", -1.0);
            r.fwdbwd.mine_rss_mib = j.value("fwdbwd_mib", -1.0);
          } else {
            r.fwd.ref_rss_mib = j.value("fwd_mib", -1.0);
            r.fwdbwd.ref_rss_mib = j.value("fwdbwd_mib", -1.0);
          }
        }
      }
      for (size_t pi = 0; pi < o.peers.size(); ++pi) {
        if (!o.peers[pi].available()) continue;
        for (const nlohmann::json& j : bench::run_json_lines(
                 kMallocEnv + o.peers[pi].command("attention", fmt::format("--mode memory --threads {} --shapes '{}'",
                                                                           threads, r.shape.csv())))) {
          r.fwd.peer_rss_mib[pi] = j.at("fwd").value("extra_mib", -1.0);
          r.fwdbwd.peer_rss_mib[pi] = j.at("fwdbwd").value("extra_mib", -1.0);
        }
      }
    }
  }
  return rows;
}

// ---- printing ------------------------------------------------------------------------------

std::string ms(const Stat& s) { return s.valid() ? fmt::format("{:.2f}", s.min_ms) : "-"; }
std::string mib(double v) { return v >= 0 ? fmt::format("{:.1f}", v) : "-"; }
std::string ratio(const Stat& peer, const Stat& mine) {
  return peer.valid() && mine.valid() ? fmt::format("{:.1f}x", peer.min_ms / mine.min_ms) : "-";
}
// A void peer figure gives no ratio; neither does a disturbed minidl row.
std::string ratio(const bench::PeerFigure& peer, const Stat& mine) {
  if (peer.min_ms <= 0 || !mine.valid()) return "-";
  if (!peer.valid() || mine.others > bench::kOthersLimit) return "void";
  return fmt::format("{:.1f}x", peer.min_ms / mine.min_ms);
}

std::string peer_ms(const bench::PeerFigure& p) { return p.min_ms > 0 ? fmt::format("{:.2f}", p.min_ms) : "-"; }

void print_tables(const std::vector<Row>& rows, const Options& o) {
  std::printf("\n### Fused op vs the fastest peer and vs the reference path (min of %d; speed-up = their time / "
              "minidl's)\n\n",
              o.reps);
  std::printf("| thr | (B,Tq,Tv,D) | pass | minidl ms | fastest peer | its ms | speed-up vs it | reference ms | "
              "speed-up vs reference | minidl extra MiB tensors / RSS | smallest peer extra MiB RSS | reference extra "
              "MiB tensors / RSS | ns/tanh | bound%% | oth minidl |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    for (int pass = 0; pass < 2; ++pass) {
      const PassResult& p = pass ? r.fwdbwd : r.fwd;
      const double count = r.shape.tanh_count() * (pass ? 2.0 : 1.0);
      const double ns = p.mine.min_ms * 1e6 / count;
      const double bound = kTanhNs / r.threads / ns * 100.0;
      size_t fi = 0;
      const bench::PeerFigure* fastest = p.fastest_peer(&fi);
      std::printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s | %.3f | %.0f%% | %.2f |\n",
                  r.threads, r.shape.str().c_str(), pass ? "fwd+bwd" : "fwd", ms(p.mine).c_str(),
                  fastest ? o.peers[fi].name.c_str() : "-", fastest ? peer_ms(*fastest).c_str() : "-",
                  fastest ? ratio(*fastest, p.mine).c_str() : "-",
                  p.ref.valid() ? ms(p.ref).c_str() : p.ref_note.c_str(), ratio(p.ref, p.mine).c_str(),
                  mib(p.mine_tensor_mib).c_str(), mib(p.mine_rss_mib).c_str(), mib(p.smallest_peer_rss()).c_str(),
                  p.ref.valid() ? fmt::format("{} / {}", mib(p.ref_tensor_mib), mib(p.ref_rss_mib)).c_str() : "-", ns,
                  bound, p.mine.others);
    }
  }

  std::printf("\n### Every peer (min ms of the two fresh runs; speed-up = peer / minidl; extra MiB RSS)\n\n");
  std::printf("| thr | (B,Tq,Tv,D) | pass | minidl ms | peer | ms | speed-up | extra MiB RSS | runs 1 / 2 ms, void when |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    for (int pass = 0; pass < 2; ++pass) {
      const PassResult& p = pass ? r.fwdbwd : r.fwd;
      for (size_t pi = 0; pi < o.peers.size(); ++pi) {
        const bench::PeerFigure& f = p.peer[pi];
        const std::string runs =
            !o.peers[pi].available()
                ? "not installed (tools/peers/setup.sh; /usr/bin/python3 with python3-torch)"
            : f.min_ms > 0 ? fmt::format("{:.2f} / {:.2f} ({:.0f} faults/call, {:.1f} us/fresh page){}", f.first_ms,
                                         f.second_ms, f.faults, f.fresh_page_us, f.why.empty() ? "" : " void: " + f.why)
                           : "no figure" + (f.why.empty() ? std::string() : ": " + f.why);
        std::printf("| %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.threads, r.shape.str().c_str(),
                    pass ? "fwd+bwd" : "fwd", ms(p.mine).c_str(), o.peers[pi].name.c_str(), peer_ms(f).c_str(),
                    ratio(f, p.mine).c_str(), mib(p.peer_rss_mib[pi]).c_str(), runs.c_str());
      }
    }
  }

  std::printf("\n### Where the fused fwd+bwd time goes (min of %d per stage, ms)\n\n", o.reps);
  std::printf("| thr | (B,Tq,Tv,D) | score kernel fwd | softmax | w@v | score kernel bwd | softmax bwd | 2 bwd matmuls | "
              "sum of stages | whole fwd+bwd | rest (tape, allocation) | kernel fwd ns/tanh (bound%%) | kernel bwd "
              "ns/tanh (bound%%) |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (const Row& r : rows) {
    const Stages& s = r.stages;
    const double sum = s.k_fwd.min_ms + s.softmax.min_ms + s.wv.min_ms + s.k_bwd.min_ms + s.softmax_bwd.min_ms +
                       s.dv.min_ms + s.dw.min_ms;
    const double n = r.shape.tanh_count();
    const double kf = s.k_fwd.min_ms * 1e6 / n, kb = s.k_bwd.min_ms * 1e6 / n;
    std::printf("| %d | %s | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f | %.3f (%.0f%%) | %.3f "
                "(%.0f%%) |\n",
                r.threads, r.shape.str().c_str(), s.k_fwd.min_ms, s.softmax.min_ms, s.wv.min_ms, s.k_bwd.min_ms,
                s.softmax_bwd.min_ms, s.dv.min_ms + s.dw.min_ms, sum, r.fwdbwd.mine.min_ms,
                r.fwdbwd.mine.min_ms - sum, kf, kTanhNs / r.threads / kf * 100.0, kb,
                kTanhNs / r.threads / kb * 100.0);
  }

  std::printf("\n### Checks\n\n");
  for (const Row& r : rows) {
    if (r.threads == rows.front().threads && r.check >= 0)
      std::printf("- %s: fused vs reference, worst max|diff|/max|ref| over out, dq, dk, dv, dscale = %.2e\n",
                  r.shape.str().c_str(), r.check);
  }
  std::printf("- measured reference peak / one (B,Tq,Tv,D) float tensor: fwd %.2f, fwd+bwd %.2f (used to skip shapes "
              "needing > %.1f GiB)\n",
              g_ref_factor[0], g_ref_factor[1], o.ref_limit_gib);

  std::printf("\n### Targets (issue 16: fwd+bwd >= 3x the fastest peer; peak extra memory <= 1/50 of theirs)\n\n");
  for (const Row& r : rows) {
    if (r.threads != 2) continue;
    // "The fastest peer" is only known when every peer that ran gave a valid figure, and a
    // ratio only counts when minidl's own row was undisturbed.
    std::string void_peers;
    for (size_t i = 0; i < r.fwdbwd.peer.size(); ++i) {
      const bench::PeerFigure& f = r.fwdbwd.peer[i];
      if (f.min_ms > 0 && !f.valid()) void_peers += (void_peers.empty() ? "" : ", ") + o.peers[i].name;
    }
    size_t fi = 0;
    if (r.fwdbwd.mine.others > bench::kOthersLimit) {
      std::printf("- fwd+bwd %s, 2 threads: void (minidl's row ran beside %.2f CPUs of other processes)\n",
                  r.shape.str().c_str(), r.fwdbwd.mine.others);
    } else if (!void_peers.empty()) {
      std::printf("- fwd+bwd %s, 2 threads: not established (void peer figures: %s)\n", r.shape.str().c_str(),
                  void_peers.c_str());
    } else if (const bench::PeerFigure* fastest = r.fwdbwd.fastest_peer(&fi)) {
      const double x = fastest->min_ms / r.fwdbwd.mine.min_ms;
      std::printf("- fwd+bwd %s, 2 threads: %.1fx the fastest peer (%s): %s\n", r.shape.str().c_str(), x,
                  o.peers[fi].name.c_str(),
                  x >= 3.0 ? "met" : fmt::format("MISSED by {:.0f}%", (3.0 / x - 1.0) * 100.0).c_str());
    }
    const double theirs = r.fwdbwd.smallest_peer_rss(), mine = std::max(r.fwdbwd.mine_tensor_mib, r.fwdbwd.mine_rss_mib);
    if (theirs > 0 && mine >= 0) {
      std::printf("- fwd+bwd %s peak extra memory: %.1f MiB vs the smallest peer's %.1f MiB (1/%.0f; target 1/50): %s\n",
                  r.shape.str().c_str(), mine, theirs, theirs / std::max(mine, 1e-9), mine * 50.0 <= theirs ? "met" : "MISSED");
    }
  }
}

std::vector<int> parse_ints(const char* text) {
  std::vector<int> out;
  const char* p = text;
  while (*p) {
    char* end = nullptr;
    const long v = std::strtol(p, &end, 10);
    if (end == p) return {};
    out.push_back(static_cast<int>(v));
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  char self[4096] = {};
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  g_self = n > 0 ? std::string(self, static_cast<size_t>(n)) : std::string(argv[0]);

  Options o;
  bool fwd_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const bool has_value = i + 1 < argc;
    if (a == "--probe-rss" && i + 3 < argc) {
      const Impl impl = std::strcmp(argv[i + 1], "reference") == 0 ? Impl::reference : Impl::fused;
      const std::vector<int> v = parse_ints(argv[i + 2]);
      const int threads = std::atoi(argv[i + 3]);
      for (int j = i + 4; j < argc; ++j) fwd_only = fwd_only || std::strcmp(argv[j], "--fwd-only") == 0;
      if (v.size() != 4) return 2;
      const ShapeCase s{v[0], v[1], v[2], v[3]};
      if (fwd_only) {  // the reference's fwd+bwd would not fit: probe the forward only
        md::set_num_threads(threads);
        const Inputs in = make_inputs(s);
        (void)forward(impl, in);
        if (!reset_rss_peak()) return 3;
        const long base = status_kib("VmRSS");
        (void)forward(impl, in);
        std::printf("%s\n", nlohmann::json{{"impl", impl_name(impl)},
                                           {"fwd_mib", static_cast<double>(status_kib("VmHWM") - base) / 1024.0}}
                                .dump()
                                .c_str());
        return 0;
      }
      return probe_rss(impl, s, threads);
    }
    if (a == "--threads" && has_value) {
      o.threads = parse_ints(argv[++i]);
    } else if (a == "--shapes" && has_value) {
      o.shapes.clear();
      for (int v : parse_ints(argv[++i])) {
        if (v < 0 || v >= static_cast<int>(kShapes.size())) return 2;
        o.shapes.push_back(static_cast<size_t>(v));
      }
    } else if (a == "--reps" && has_value) {
      o.reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--ref-limit-gib" && has_value) {
      o.ref_limit_gib = std::atof(argv[++i]);
    } else if (a == "--path" && has_value) {
      const std::string p = argv[++i];
      md::backend::set_kernel_path(p == "avx512"     ? md::backend::KernelPath::avx512
                                   : p == "avx2"     ? md::backend::KernelPath::avx2
                                   : p == "portable" ? md::backend::KernelPath::portable
                                                     : md::backend::KernelPath::automatic);
    } else if (a == "--peers" && has_value) {
      o.peers = bench::peers(argv[++i]);
    } else if (a == "--no-peer") {
      o.peers.clear();
    } else if (a == "--no-reference") {
      o.reference = false;
    } else if (a == "--no-rss") {
      o.rss = false;
    } else {
      std::fprintf(stderr,
                   "usage: attention_bench [--threads 1,2] [--reps 5] [--shapes 0,1,2,3] [--path auto|avx512|avx2|portable] "
                   "[--peers all|torch1,torch2,compile,jax] [--no-peer] [--no-reference] [--no-rss] [--ref-limit-gib 4]\n");
      return 2;
    }
  }

  double load[3] = {};
  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
    std::fclose(f);
  }
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  const auto path = md::backend::active_kernel_path();
  std::printf("attention_bench: %s, load average %.2f %.2f %.2f, kernel path %s, threads", date, load[0], load[1],
              load[2], md::backend::kernel_path_name(path));
  for (int t : o.threads) std::printf(" %d", t);
  std::printf(", min of %d\npeers:", o.reps);
  for (const bench::Peer& p : o.peers) std::printf(" %s (%s)", p.name.c_str(), p.available() ? p.python.c_str() : "missing");
  std::printf("\n");

  std::vector<Row> rows;
  for (int t : o.threads) {
    std::vector<Row> r = run_threads(o, t);
    rows.insert(rows.end(), r.begin(), r.end());
  }
  print_tables(rows, o);

  if (std::FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) == 3)
      std::printf("\nload average at the end: %.2f %.2f %.2f\n", load[0], load[1], load[2]);
    std::fclose(f);
  }
  return 0;
}
