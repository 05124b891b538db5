// bench/backend_bench: minidl's core/backend wrappers against the raw libraries they wrap.
//
//   matmul   md::backend::matmul vs cblas_sgemm (OpenBLAS pinned to 1 thread, as minidl does)
//            vs a raw oneDNN matmul primitive created once, outside the timing loop
//   binary   md::backend::binary (add, row-broadcast bias add, mul) vs a raw oneDNN binary
//            primitive vs a plain serial C++ loop
//   eltwise  md::backend::eltwise_forward (tanh, exp, relu) vs a raw oneDNN eltwise primitive
//            vs a plain serial C++ loop (std::tanh, std::exp, std::max)
//   softmax  md::backend::softmax_forward along the last axis vs a raw oneDNN softmax_v2
//            primitive vs a plain serial loop (max, exp, sum, divide per row)
//   reduce   md::backend::reduce (sum and max over the last axis, sum over the first) vs a raw
//            oneDNN reduction primitive (last axis only: over the first axis oneDNN 2.6 has only
//            ref:any) vs a plain serial loop
//
// Every case runs at each thread count of --threads (default 1,2) through md::set_num_threads.
// The VM is noisy, so each case is repeated (default 5 repetitions, randomly interleaved) and
// the console shows only the fastest repetition ("_min"); the summary tables at the end
// compare the minima of the same run. Any Google Benchmark flag can be added, e.g.
//   ./build/bench/backend_bench --benchmark_filter='matmul/.*/256x'
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <omp.h>
#include <sys/resource.h>
#include <unistd.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "minidl/core/backend/backend.h"
#include "minidl/core/threading.h"

namespace md = minidl;
namespace backend = minidl::backend;

namespace {

// ---- buffers -------------------------------------------------------------------------------

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

// A 64-byte aligned float buffer filled with uniform values in [lo, hi).
class Buffer {
 public:
  Buffer(int64_t n, float lo = -1.0f, float hi = 1.0f, unsigned seed = 1) : n_(n) {
    const size_t bytes = ((static_cast<size_t>(n) * sizeof(float) + 63) / 64) * 64;
    data_.reset(static_cast<float*>(std::aligned_alloc(64, bytes == 0 ? 64 : bytes)));
    std::mt19937 gen(seed);
    std::uniform_real_distribution<float> dist(lo, hi);
    for (int64_t i = 0; i < n; ++i) data_.get()[i] = dist(gen);
  }
  float* data() { return data_.get(); }
  const float* data() const { return data_.get(); }
  int64_t size() const { return n_; }

 private:
  int64_t n_;
  std::unique_ptr<float, FreeDeleter> data_;
};

// ---- threads -------------------------------------------------------------------------------

// Applies the thread count the way a minidl user does, and checks that OpenMP sees it.
bool apply_threads(benchmark::State& state, int threads) {
  md::set_num_threads(threads);
  if (omp_get_max_threads() != threads || md::get_num_threads() != threads) {
    state.SkipWithError("md::set_num_threads did not take effect");
    return false;
  }
  if (openblas_get_num_threads() != 1) {
    state.SkipWithError("OpenBLAS is not pinned to one thread");
    return false;
  }
  state.counters["thr"] = threads;
  return true;
}

// ---- disturbance -----------------------------------------------------------------------------

// How many CPUs other processes (and the hypervisor, as steal time) used while one repetition
// ran. On this 2-vCPU VM that matters a lot: a 2-thread OpenMP region then waits for a
// descheduled thread, which made cases 10-1000x slower. A repetition counts as quiet when the
// others used at most kQuietSlack CPUs beyond the ones the case leaves free (a 1-thread case
// leaves one of two CPUs to others). Measured from /proc/stat ticks (10 ms), so about +-0.2 CPU
// on a 0.1 s repetition; windows shorter than kShortestWindow cannot tell and count as
// disturbed. Reported as the counters "others" (CPUs) and "quiet" (0 or 1); the reporter takes
// the minimum over the quiet repetitions only.
constexpr double kQuietSlack = 0.3;
constexpr double kShortestWindow = 0.05;  // seconds

class Watch {
 public:
  explicit Watch(int wanted_threads) : wanted_(wanted_threads), start_(sample()) {}

  void report(benchmark::State& state) const {
    const Sample end = sample();
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start_).count();
    const double cpus = (end.total - start_.total) / wall;  // the CPU-seconds the machine had, per second
    const double others = std::max(0.0, ((end.busy - start_.busy) - (end.own - start_.own)) / wall);
    const bool quiet = wall >= kShortestWindow && others <= std::max(0.0, cpus - wanted_) + kQuietSlack;
    state.counters["others"] = others;
    state.counters["quiet"] = quiet ? 1 : 0;
  }

 private:
  struct Sample {
    double busy = 0, total = 0, own = 0;  // seconds
  };

  static Sample sample() {
    Sample out;
    static const double tick = 1.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
    if (std::FILE* f = std::fopen("/proc/stat", "r")) {
      unsigned long long v[8] = {};  // user nice system idle iowait irq softirq steal
      if (std::fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                      &v[6], &v[7]) == 8) {
        out.busy = static_cast<double>(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) * tick;
        out.total = out.busy + static_cast<double>(v[3] + v[4]) * tick;
      }
      std::fclose(f);
    }
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    out.own = static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
              static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e-6;
    return out;
  }

  int wanted_;
  Sample start_;
  std::chrono::steady_clock::time_point wall_start_ = std::chrono::steady_clock::now();
};

// ---- results collected for the summary -----------------------------------------------------

// The fastest quiet repetition of every case, keyed by the case's name.
struct Best {
  double seconds = 0;  // per iteration
  int quiet = 0;       // quiet repetitions (see Watch)
  int total = 0;
};
std::map<std::string, Best> g_best;

// Shows only the fastest quiet repetition of each case (as a "_min" aggregate; the fastest of
// all when none was quiet) and records it for the summary. Mean/median/stddev stay available
// through --benchmark_out (the file reporter).
class MinReporter : public benchmark::ConsoleReporter {
 public:
  using ConsoleReporter::ConsoleReporter;

  void ReportRuns(const std::vector<Run>& reports) override {
    const Run* best = nullptr;
    const Run* best_quiet = nullptr;
    Best record;
    for (const Run& run : reports) {
      if (run.run_type != Run::RT_Iteration || run.error_occurred || run.iterations == 0) continue;
      ++record.total;
      if (best == nullptr || seconds(run) < seconds(*best)) best = &run;
      auto quiet = run.counters.find("quiet");
      if (quiet != run.counters.end() && quiet->second.value < 0.5) continue;
      ++record.quiet;
      if (best_quiet == nullptr || seconds(run) < seconds(*best_quiet)) best_quiet = &run;
    }
    if (best == nullptr) {
      // Google Benchmark reports a case's aggregates in a second call; they replace the
      // repetitions only when the user asked for aggregates alone.
      if (!reports.empty() && shown_.count(reports.front().run_name.function_name) == 0)
        ConsoleReporter::ReportRuns(reports);
      return;
    }
    if (best_quiet != nullptr) best = best_quiet;
    record.seconds = seconds(*best);
    shown_.insert(best->run_name.function_name);
    g_best[best->run_name.function_name] = record;
    Run shown = *best;
    shown.run_type = Run::RT_Aggregate;
    shown.aggregate_name = record.quiet > 0 ? "min" : "min_DISTURBED";
    shown.aggregate_unit = benchmark::kTime;
    ConsoleReporter::ReportRuns({shown});
  }

 private:
  static double seconds(const Run& run) { return run.real_accumulated_time / static_cast<double>(run.iterations); }

  std::set<std::string> shown_;
};

std::string thr_suffix(int threads) { return "/thr:" + std::to_string(threads); }

// ---- matmul --------------------------------------------------------------------------------

struct Gemm {
  int64_t m, k, n;
  std::string name() const { return std::to_string(m) + "x" + std::to_string(k) + "x" + std::to_string(n); }
  double flops() const { return 2.0 * static_cast<double>(m) * static_cast<double>(k) * static_cast<double>(n); }
};

void set_flops(benchmark::State& state, const Gemm& g) {
  state.counters["FLOP/s"] = benchmark::Counter(g.flops(), benchmark::Counter::kIsIterationInvariantRate);
}

void matmul_wrapper(benchmark::State& state, Gemm g, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer a(g.m * g.k), b(g.k * g.n, -1.0f, 1.0f, 2), c(g.m * g.n);
  const backend::Dims a_shape{g.m, g.k}, b_shape{g.k, g.n}, c_shape{g.m, g.n};
  backend::matmul(a.data(), a_shape, false, b.data(), b_shape, false, c.data(), c_shape);  // warm-up
  const Watch watch(threads);
  for (auto _ : state) {
    backend::matmul(a.data(), a_shape, false, b.data(), b_shape, false, c.data(), c_shape);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_flops(state, g);
}

void matmul_cblas(benchmark::State& state, Gemm g, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer a(g.m * g.k), b(g.k * g.n, -1.0f, 1.0f, 2), c(g.m * g.n);
  const int m = static_cast<int>(g.m), k = static_cast<int>(g.k), n = static_cast<int>(g.n);
  const auto call = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(),
                n);
  };
  call();  // warm-up
  const Watch watch(1);  // single-threaded at any setting
  for (auto _ : state) {
    call();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_flops(state, g);
}

// The lowest-overhead way to call oneDNN: engine, stream, primitive, memory objects and the
// argument map all built once; the loop is execute + wait. Created after the thread count is
// set, because oneDNN's matmul fixes its thread decomposition when the primitive is created.
void matmul_dnnl(benchmark::State& state, Gemm g, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer a(g.m * g.k), b(g.k * g.n, -1.0f, 1.0f, 2), c(g.m * g.n);
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const dnnl::memory::desc a_desc({g.m, g.k}, dt::f32, tag::ab), b_desc({g.k, g.n}, dt::f32, tag::ab),
      c_desc({g.m, g.n}, dt::f32, tag::ab);
  const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a_desc, b_desc, c_desc), engine);
  const dnnl::matmul primitive(pd);
  const std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, dnnl::memory(a_desc, engine, a.data())},
                                                      {DNNL_ARG_WEIGHTS, dnnl::memory(b_desc, engine, b.data())},
                                                      {DNNL_ARG_DST, dnnl::memory(c_desc, engine, c.data())}};
  primitive.execute(stream, args);  // warm-up
  stream.wait();
  const Watch watch(threads);
  for (auto _ : state) {
    primitive.execute(stream, args);
    stream.wait();
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_flops(state, g);
  state.SetLabel(pd.impl_info_str());
}

// ---- binary and eltwise --------------------------------------------------------------------

// Memory traffic (bytes read + written) and elements per iteration.
void set_bandwidth(benchmark::State& state, double bytes, double elements) {
  state.counters["B/s"] = benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["elem/s"] = benchmark::Counter(elements, benchmark::Counter::kIsIterationInvariantRate);
}

enum class BinaryCase { add, bias_add, mul };
const char* binary_case_name(BinaryCase c) {
  switch (c) {
    case BinaryCase::add:
      return "add";
    case BinaryCase::bias_add:
      return "bias_add";
    case BinaryCase::mul:
      return "mul";
  }
  return "?";
}

// out[rows, cols] = a[rows, cols] (op) b, where b is [rows, cols] or, for the bias add, [cols].
struct BinaryShape {
  BinaryCase op;
  int64_t rows, cols;
  int64_t b_size() const { return op == BinaryCase::bias_add ? cols : rows * cols; }
  std::string name() const {
    return op == BinaryCase::bias_add ? std::to_string(rows) + "x" + std::to_string(cols) + "+" + std::to_string(cols)
                                      : std::to_string(rows * cols);
  }
  double bytes() const { return 4.0 * static_cast<double>(2 * rows * cols + b_size()); }
  backend::BinaryOp backend_op() const { return op == BinaryCase::mul ? backend::BinaryOp::mul : backend::BinaryOp::add; }
};

void binary_wrapper(benchmark::State& state, BinaryShape s, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer a(s.rows * s.cols), b(s.b_size(), -1.0f, 1.0f, 2), out(s.rows * s.cols);
  const backend::Dims out_shape{s.rows, s.cols};
  const backend::Dims b_shape = s.op == BinaryCase::bias_add ? backend::Dims{s.cols} : out_shape;
  backend::binary(s.backend_op(), a.data(), out_shape, b.data(), b_shape, out.data(), out_shape);  // warm-up
  const Watch watch(threads);
  for (auto _ : state) {
    backend::binary(s.backend_op(), a.data(), out_shape, b.data(), b_shape, out.data(), out_shape);
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, s.bytes(), static_cast<double>(s.rows * s.cols));
}

void binary_dnnl(benchmark::State& state, BinaryShape s, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer a(s.rows * s.cols), b(s.b_size(), -1.0f, 1.0f, 2), out(s.rows * s.cols);
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const dnnl::memory::desc full({s.rows, s.cols}, dt::f32, tag::ab);
  const dnnl::memory::desc b_desc = s.op == BinaryCase::bias_add ? dnnl::memory::desc({1, s.cols}, dt::f32, tag::ab)
                                                                 : full;
  const auto algorithm = s.op == BinaryCase::mul ? dnnl::algorithm::binary_mul : dnnl::algorithm::binary_add;
  const dnnl::binary::primitive_desc pd(dnnl::binary::desc(algorithm, full, b_desc, full), engine);
  const dnnl::binary primitive(pd);
  const std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC_0, dnnl::memory(full, engine, a.data())},
                                                      {DNNL_ARG_SRC_1, dnnl::memory(b_desc, engine, b.data())},
                                                      {DNNL_ARG_DST, dnnl::memory(full, engine, out.data())}};
  primitive.execute(stream, args);  // warm-up
  stream.wait();
  const Watch watch(threads);
  for (auto _ : state) {
    primitive.execute(stream, args);
    stream.wait();
    benchmark::DoNotOptimize(out.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, s.bytes(), static_cast<double>(s.rows * s.cols));
  state.SetLabel(pd.impl_info_str());
}

// What a user writes without a library: a serial loop (GCC -O3 vectorises it).
void binary_loop(benchmark::State& state, BinaryShape s, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer a(s.rows * s.cols), b(s.b_size(), -1.0f, 1.0f, 2), out(s.rows * s.cols);
  const float* pa = a.data();
  const float* pb = b.data();
  float* po = out.data();
  const int64_t rows = s.rows, cols = s.cols, n = rows * cols;
  const Watch watch(1);  // single-threaded at any setting
  for (auto _ : state) {
    switch (s.op) {
      case BinaryCase::add:
        for (int64_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i];
        break;
      case BinaryCase::mul:
        for (int64_t i = 0; i < n; ++i) po[i] = pa[i] * pb[i];
        break;
      case BinaryCase::bias_add:
        for (int64_t r = 0; r < rows; ++r)
          for (int64_t j = 0; j < cols; ++j) po[r * cols + j] = pa[r * cols + j] + pb[j];
        break;
    }
    benchmark::DoNotOptimize(po);
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, s.bytes(), static_cast<double>(n));
}

struct EltwiseCase {
  backend::EltwiseOp op;
  int64_t n;
  std::string name() const { return std::to_string(n); }
  // tanh and exp take inputs in [-3, 3) (exp stays finite), relu in [-1, 1).
  float lo() const { return op == backend::EltwiseOp::relu ? -1.0f : -3.0f; }
  float hi() const { return op == backend::EltwiseOp::relu ? 1.0f : 3.0f; }
  double bytes() const { return 8.0 * static_cast<double>(n); }
};

void eltwise_wrapper(benchmark::State& state, EltwiseCase e, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer x(e.n, e.lo(), e.hi()), y(e.n);
  backend::eltwise_forward(e.op, x.data(), y.data(), e.n);  // warm-up
  const Watch watch(threads);
  for (auto _ : state) {
    backend::eltwise_forward(e.op, x.data(), y.data(), e.n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, e.bytes(), static_cast<double>(e.n));
}

// The same algorithm and propagation kind as the wrapper uses (forward_training, *_use_dst_for_bwd).
void eltwise_dnnl(benchmark::State& state, EltwiseCase e, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer x(e.n, e.lo(), e.hi()), y(e.n);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const dnnl::memory::desc desc({e.n}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::a);
  dnnl::algorithm algorithm = dnnl::algorithm::eltwise_relu;
  if (e.op == backend::EltwiseOp::tanh) algorithm = dnnl::algorithm::eltwise_tanh_use_dst_for_bwd;
  if (e.op == backend::EltwiseOp::exp) algorithm = dnnl::algorithm::eltwise_exp_use_dst_for_bwd;
  const dnnl::eltwise_forward::primitive_desc pd(
      dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_training, algorithm, desc, 0.0f, 0.0f), engine);
  const dnnl::eltwise_forward primitive(pd);
  const std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, dnnl::memory(desc, engine, x.data())},
                                                      {DNNL_ARG_DST, dnnl::memory(desc, engine, y.data())}};
  primitive.execute(stream, args);  // warm-up
  stream.wait();
  const Watch watch(threads);
  for (auto _ : state) {
    primitive.execute(stream, args);
    stream.wait();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, e.bytes(), static_cast<double>(e.n));
  state.SetLabel(pd.impl_info_str());
}

void eltwise_loop(benchmark::State& state, EltwiseCase e, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer x(e.n, e.lo(), e.hi()), y(e.n);
  const float* px = x.data();
  float* py = y.data();
  const int64_t n = e.n;
  const Watch watch(1);  // single-threaded at any setting
  for (auto _ : state) {
    switch (e.op) {
      case backend::EltwiseOp::tanh:
        for (int64_t i = 0; i < n; ++i) py[i] = std::tanh(px[i]);
        break;
      case backend::EltwiseOp::exp:
        for (int64_t i = 0; i < n; ++i) py[i] = std::exp(px[i]);
        break;
      default:
        for (int64_t i = 0; i < n; ++i) py[i] = std::max(px[i], 0.0f);
        break;
    }
    benchmark::DoNotOptimize(py);
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, e.bytes(), static_cast<double>(n));
}

// ---- softmax and reductions ----------------------------------------------------------------

struct Matrix {
  int64_t rows, cols;
  std::string name() const { return std::to_string(rows) + "x" + std::to_string(cols); }
  double elements() const { return static_cast<double>(rows * cols); }
};

void softmax_wrapper(benchmark::State& state, Matrix m, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer x(m.rows * m.cols, -3.0f, 3.0f), y(m.rows * m.cols);
  const backend::Dims shape{m.rows, m.cols};
  backend::softmax_forward(x.data(), y.data(), shape, 1, false);  // warm-up
  const Watch watch(threads);
  for (auto _ : state) {
    backend::softmax_forward(x.data(), y.data(), shape, 1, false);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, 8.0 * m.elements(), m.elements());
}

// The wrapper's primitive (softmax_v2, accurate, forward_training, last axis), created once.
void softmax_dnnl(benchmark::State& state, Matrix m, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer x(m.rows * m.cols, -3.0f, 3.0f), y(m.rows * m.cols);
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const dnnl::memory::desc desc({m.rows, m.cols}, dnnl::memory::data_type::f32, dnnl::memory::format_tag::ab);
  const dnnl::softmax_v2_forward::primitive_desc pd(
      dnnl::softmax_v2_forward::desc(dnnl::prop_kind::forward_training, dnnl::algorithm::softmax_accurate, desc, desc,
                                     1),
      engine);
  const dnnl::softmax_v2_forward primitive(pd);
  const std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, dnnl::memory(desc, engine, x.data())},
                                                      {DNNL_ARG_DST, dnnl::memory(desc, engine, y.data())}};
  primitive.execute(stream, args);  // warm-up
  stream.wait();
  const Watch watch(threads);
  for (auto _ : state) {
    primitive.execute(stream, args);
    stream.wait();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, 8.0 * m.elements(), m.elements());
  state.SetLabel(pd.impl_info_str());
}

void softmax_loop(benchmark::State& state, Matrix m, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer x(m.rows * m.cols, -3.0f, 3.0f), y(m.rows * m.cols);
  const Watch watch(1);  // single-threaded at any setting
  for (auto _ : state) {
    for (int64_t r = 0; r < m.rows; ++r) {
      const float* px = x.data() + r * m.cols;
      float* py = y.data() + r * m.cols;
      float mx = px[0];
      for (int64_t j = 1; j < m.cols; ++j) mx = std::max(mx, px[j]);
      float sum = 0.0f;
      for (int64_t j = 0; j < m.cols; ++j) sum += (py[j] = std::exp(px[j] - mx));
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j < m.cols; ++j) py[j] *= inv;
    }
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, 8.0 * m.elements(), m.elements());
}

// reduce(op) over axis 1 (last) or axis 0 (first) of a (rows, cols) matrix.
struct ReduceCase {
  backend::ReduceOp op;
  int axis;
  Matrix m;
  std::string group() const {
    return std::string("reduce_") + backend::reduce_op_name(op) + (axis == 1 ? "_last" : "_first");
  }
  std::string name() const { return m.name(); }
  int64_t out_size() const { return axis == 1 ? m.rows : m.cols; }
};

void reduce_wrapper(benchmark::State& state, ReduceCase c, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer x(c.m.rows * c.m.cols), y(c.out_size());
  const backend::Dims shape{c.m.rows, c.m.cols};
  backend::reduce(c.op, x.data(), shape, {c.axis}, y.data());  // warm-up
  const Watch watch(threads);
  for (auto _ : state) {
    backend::reduce(c.op, x.data(), shape, {c.axis}, y.data());
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, 4.0 * c.m.elements(), c.m.elements());
}

void reduce_dnnl(benchmark::State& state, ReduceCase c, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer x(c.m.rows * c.m.cols), y(c.out_size());
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  const dnnl::memory::desc src({c.m.rows, c.m.cols}, dt::f32, tag::ab);
  const dnnl::memory::desc dst(c.axis == 1 ? dnnl::memory::dims{c.m.rows, 1} : dnnl::memory::dims{1, c.m.cols},
                               dt::f32, tag::ab);
  const auto algorithm = c.op == backend::ReduceOp::max ? dnnl::algorithm::reduction_max
                                                        : dnnl::algorithm::reduction_sum;
  const dnnl::reduction::primitive_desc pd(dnnl::reduction::desc(algorithm, src, dst, 0.0f, 0.0f), engine);
  const dnnl::reduction primitive(pd);
  const std::unordered_map<int, dnnl::memory> args = {{DNNL_ARG_SRC, dnnl::memory(src, engine, x.data())},
                                                      {DNNL_ARG_DST, dnnl::memory(dst, engine, y.data())}};
  primitive.execute(stream, args);  // warm-up
  stream.wait();
  const Watch watch(threads);
  for (auto _ : state) {
    primitive.execute(stream, args);
    stream.wait();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, 4.0 * c.m.elements(), c.m.elements());
  state.SetLabel(pd.impl_info_str());
}

void reduce_loop(benchmark::State& state, ReduceCase c, int threads) {
  if (!apply_threads(state, threads)) return;
  Buffer x(c.m.rows * c.m.cols), y(c.out_size());
  const int64_t rows = c.m.rows, cols = c.m.cols;
  const float* px = x.data();
  float* py = y.data();
  const bool is_max = c.op == backend::ReduceOp::max;
  const Watch watch(1);  // single-threaded at any setting
  for (auto _ : state) {
    if (c.axis == 1) {
      for (int64_t r = 0; r < rows; ++r) {
        float acc = is_max ? px[r * cols] : 0.0f;
        for (int64_t j = 0; j < cols; ++j) acc = is_max ? std::max(acc, px[r * cols + j]) : acc + px[r * cols + j];
        py[r] = acc;
      }
    } else {
      for (int64_t j = 0; j < cols; ++j) py[j] = is_max ? px[j] : 0.0f;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t j = 0; j < cols; ++j) py[j] = is_max ? std::max(py[j], px[r * cols + j]) : py[j] + px[r * cols + j];
    }
    benchmark::DoNotOptimize(py);
    benchmark::ClobberMemory();
  }
  watch.report(state);
  set_bandwidth(state, 4.0 * c.m.elements(), c.m.elements());
}

// ---- the case lists ------------------------------------------------------------------------

const std::vector<Gemm> kSquare = {{64, 64, 64}, {128, 128, 128}, {256, 256, 256}, {512, 512, 512},
                                   {1024, 1024, 1024}};
const std::vector<Gemm> kSkinny = {{64, 784, 256}, {64, 256, 10}, {8, 32, 32}, {1, 1024, 1024}, {4096, 64, 64}};
// Around the wrapper's cblas/oneDNN switch (kSmallGemmWork in core/backend/matmul.cpp).
const std::vector<Gemm> kSmall = {{16, 16, 16}, {24, 24, 24}, {32, 32, 32}, {40, 40, 40}, {48, 48, 48},
                                  {56, 56, 56}, {72, 72, 72}, {80, 80, 80}, {96, 96, 96}, {16, 128, 64},
                                  {32, 64, 64}, {128, 64, 32}, {64, 128, 32}, {32, 128, 64}};
const std::vector<int64_t> kElementCounts = {1 << 10, 1 << 16, 1 << 20};
// Softmax rows x cols: the MLP's logits, and the attention weights (B*Tq, Tv) of bench/attention_bench.
const std::vector<Matrix> kSoftmax = {{64, 10}, {2048, 64}, {2048, 128}, {2048, 512}, {1024, 1024}};
std::vector<ReduceCase> reduce_cases() {
  std::vector<ReduceCase> out;
  for (const Matrix& m : std::vector<Matrix>{{64, 256}, {4096, 256}, {256, 4096}}) {
    out.push_back({backend::ReduceOp::sum, 1, m});
    out.push_back({backend::ReduceOp::max, 1, m});
    out.push_back({backend::ReduceOp::sum, 0, m});  // a Dense layer's bias gradient
  }
  return out;
}

struct Names {
  std::string group, shape, impl;
  int threads;
  std::string str() const { return group + "/" + impl + "/" + shape + thr_suffix(threads); }
};

template <class Fn, class Case>
void add(const std::string& group, const std::string& impl, Fn fn, const Case& c, int threads) {
  const std::string name = Names{group, c.name(), impl, threads}.str();
  benchmark::RegisterBenchmark(name.c_str(), [fn, c, threads](benchmark::State& state) { fn(state, c, threads); })
      ->UseRealTime()
      ->Unit(benchmark::kMicrosecond);
}

void register_all(const std::vector<int>& thread_counts) {
  for (const auto* list : {&kSquare, &kSkinny, &kSmall}) {
    for (const Gemm& g : *list) {
      for (int t : thread_counts) {
        add("matmul", "wrapper", matmul_wrapper, g, t);
        add("matmul", "cblas", matmul_cblas, g, t);
        add("matmul", "dnnl", matmul_dnnl, g, t);
      }
    }
  }
  for (BinaryCase op : {BinaryCase::add, BinaryCase::mul}) {
    for (int64_t n : kElementCounts) {
      const BinaryShape s{op, n / 256, 256};
      for (int t : thread_counts) {
        add(std::string("binary_") + binary_case_name(op), "wrapper", binary_wrapper, s, t);
        add(std::string("binary_") + binary_case_name(op), "dnnl", binary_dnnl, s, t);
        add(std::string("binary_") + binary_case_name(op), "loop", binary_loop, s, t);
      }
    }
  }
  for (int64_t rows : {4, 64, 256, 4096}) {
    const BinaryShape s{BinaryCase::bias_add, rows, 256};
    for (int t : thread_counts) {
      add("binary_bias_add", "wrapper", binary_wrapper, s, t);
      add("binary_bias_add", "dnnl", binary_dnnl, s, t);
      add("binary_bias_add", "loop", binary_loop, s, t);
    }
  }
  for (backend::EltwiseOp op : {backend::EltwiseOp::tanh, backend::EltwiseOp::exp, backend::EltwiseOp::relu}) {
    for (int64_t n : kElementCounts) {
      const EltwiseCase e{op, n};
      const std::string group = std::string("eltwise_") + backend::eltwise_op_name(op);
      for (int t : thread_counts) {
        add(group, "wrapper", eltwise_wrapper, e, t);
        add(group, "dnnl", eltwise_dnnl, e, t);
        add(group, "loop", eltwise_loop, e, t);
      }
    }
  }
  for (const Matrix& m : kSoftmax) {
    for (int t : thread_counts) {
      add("softmax", "wrapper", softmax_wrapper, m, t);
      add("softmax", "dnnl", softmax_dnnl, m, t);
      add("softmax", "loop", softmax_loop, m, t);
    }
  }
  for (const ReduceCase& c : reduce_cases()) {
    for (int t : thread_counts) {
      add(c.group(), "wrapper", reduce_wrapper, c, t);
      if (c.axis == 1) add(c.group(), "dnnl", reduce_dnnl, c, t);
      add(c.group(), "loop", reduce_loop, c, t);
    }
  }
}

// ---- the summary ---------------------------------------------------------------------------

// Seconds per call of a case, or a negative value when it did not run (filtered out, failed).
// Counts cases without a quiet repetition in g_disturbed.
int g_disturbed = 0;
std::set<std::string> g_counted;
double best(const std::string& group, const std::string& impl, const std::string& shape, int threads) {
  const std::string name = Names{group, shape, impl, threads}.str();
  auto it = g_best.find(name);
  if (it == g_best.end()) return -1.0;
  if (it->second.quiet == 0 && g_counted.insert(name).second) ++g_disturbed;
  return it->second.seconds;
}

// " !" after a row when one of its cases had no quiet repetition.
const char* mark(std::initializer_list<std::string> names) {
  for (const std::string& name : names) {
    auto it = g_best.find(name);
    if (it != g_best.end() && it->second.quiet == 0) return " !";
  }
  return "";
}

std::string fmt_value(double v, const char* format) {
  if (!(v > 0.0) || !std::isfinite(v)) return "-";
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), format, v);
  return buffer;
}

void print_matmul_table(const char* title, const std::vector<Gemm>& list, const std::vector<int>& thread_counts) {
  std::printf("\n### %s\n\n", title);
  std::printf("| m x k x n | thr | wrapper GFLOP/s | cblas GFLOP/s | dnnl GFLOP/s | wrapper/dnnl time | "
              "wrapper-dnnl us | cblas/dnnl time | wrapper/best time |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const Gemm& g : list) {
    for (int t : thread_counts) {
      const double w = best("matmul", "wrapper", g.name(), t);
      const double c = best("matmul", "cblas", g.name(), t);
      const double d = best("matmul", "dnnl", g.name(), t);
      if (w < 0 && c < 0 && d < 0) continue;
      const double fastest = (c > 0 && d > 0) ? std::min(c, d) : -1.0;
      const double gap = (w > 0 && d > 0) ? (w - d) * 1e6 : std::nan("");
      char gap_text[32] = "-";
      if (std::isfinite(gap)) std::snprintf(gap_text, sizeof(gap_text), "%+.2f", gap);
      std::printf("| %s | %d | %s | %s | %s | %s | %s | %s | %s |%s\n", g.name().c_str(), t,
                  fmt_value(g.flops() / w * 1e-9, "%.1f").c_str(), fmt_value(g.flops() / c * 1e-9, "%.1f").c_str(),
                  fmt_value(g.flops() / d * 1e-9, "%.1f").c_str(), fmt_value(w / d, "%.3f").c_str(), gap_text,
                  fmt_value(c / d, "%.3f").c_str(), fmt_value(w / fastest, "%.3f").c_str(),
                  mark({Names{"matmul", g.name(), "wrapper", t}.str(), Names{"matmul", g.name(), "cblas", t}.str(),
                        Names{"matmul", g.name(), "dnnl", t}.str()}));
    }
  }
}

void print_elementwise_table(const char* title,
                             const std::vector<std::tuple<std::string, std::string, double, double>>& rows,
                             const std::vector<int>& thread_counts) {
  std::printf("\n### %s\n\n", title);
  std::printf("| op | size | thr | wrapper GB/s | dnnl GB/s | loop GB/s | wrapper Gelem/s | wrapper/dnnl time | "
              "wrapper/loop time |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|\n");
  for (const auto& [group, shape, bytes, elements] : rows) {
    for (int t : thread_counts) {
      const double w = best(group, "wrapper", shape, t);
      const double d = best(group, "dnnl", shape, t);
      const double l = best(group, "loop", shape, t);
      if (w < 0 && d < 0 && l < 0) continue;
      std::printf("| %s | %s | %d | %s | %s | %s | %s | %s | %s |%s\n", group.c_str(), shape.c_str(), t,
                  fmt_value(bytes / w * 1e-9, "%.1f").c_str(), fmt_value(bytes / d * 1e-9, "%.1f").c_str(),
                  fmt_value(bytes / l * 1e-9, "%.1f").c_str(), fmt_value(elements / w * 1e-9, "%.2f").c_str(),
                  fmt_value(w / d, "%.3f").c_str(), fmt_value(w / l, "%.3f").c_str(),
                  mark({Names{group, shape, "wrapper", t}.str(), Names{group, shape, "dnnl", t}.str(),
                        Names{group, shape, "loop", t}.str()}));
    }
  }
}

void print_summary(const std::vector<int>& thread_counts) {
  std::printf("\n## Summary (min over quiet repetitions; ratios are time / time, < 1 means the first is faster)\n");
  std::printf("\n### matmul wrapper overhead at 256x256x256\n\n");
  for (int t : thread_counts) {
    const double w = best("matmul", "wrapper", "256x256x256", t);
    const double d = best("matmul", "dnnl", "256x256x256", t);
    if (w > 0 && d > 0)
      std::printf("- thr %d: wrapper %.2f us, raw oneDNN %.2f us, wrapper/raw = %.4f (%+.2f%%, %+.2f us)%s\n", t,
                  w * 1e6, d * 1e6, w / d, (w / d - 1.0) * 100.0, (w - d) * 1e6,
                  w / d < 1.05 ? "" : "  ** over the 5% budget **");
  }
  print_matmul_table("matmul, square", kSquare, thread_counts);
  print_matmul_table("matmul, skinny", kSkinny, thread_counts);
  print_matmul_table("matmul, small (cblas/dnnl < 1: cblas_sgemm wins)", kSmall, thread_counts);

  std::vector<std::tuple<std::string, std::string, double, double>> binary_rows, eltwise_rows;
  for (BinaryCase op : {BinaryCase::add, BinaryCase::mul}) {
    for (int64_t n : kElementCounts) {
      const BinaryShape s{op, n / 256, 256};
      binary_rows.emplace_back(std::string("binary_") + binary_case_name(op), s.name(), s.bytes(),
                               static_cast<double>(n));
    }
  }
  for (int64_t rows : {4, 64, 256, 4096}) {
    const BinaryShape s{BinaryCase::bias_add, rows, 256};
    binary_rows.emplace_back("binary_bias_add", s.name(), s.bytes(), static_cast<double>(rows * 256));
  }
  for (backend::EltwiseOp op : {backend::EltwiseOp::tanh, backend::EltwiseOp::exp, backend::EltwiseOp::relu}) {
    for (int64_t n : kElementCounts) {
      const EltwiseCase e{op, n};
      eltwise_rows.emplace_back(std::string("eltwise_") + backend::eltwise_op_name(op), e.name(), e.bytes(),
                                static_cast<double>(n));
    }
  }
  print_elementwise_table("binary (bytes = 4 x (a + b + out) elements)", binary_rows, thread_counts);
  print_elementwise_table("eltwise forward (bytes = 4 x (x + y) elements)", eltwise_rows, thread_counts);
  std::vector<std::tuple<std::string, std::string, double, double>> softmax_rows, reduce_rows;
  for (const Matrix& m : kSoftmax) softmax_rows.emplace_back("softmax", m.name(), 8.0 * m.elements(), m.elements());
  for (const ReduceCase& c : reduce_cases())
    reduce_rows.emplace_back(c.group(), c.name(), 4.0 * c.m.elements(), c.m.elements());
  print_elementwise_table("softmax forward, last axis (bytes = 4 x (x + y) elements)", softmax_rows, thread_counts);
  print_elementwise_table("reductions (bytes = 4 x input elements; dnnl only over the last axis)", reduce_rows,
                          thread_counts);

  int quiet = 0, total = 0;
  for (const auto& [name, record] : g_best) {
    quiet += record.quiet;
    total += record.total;
  }
  std::printf("\nQuiet repetitions: %d of %d. Cases without one: %d (rows marked !; rerun them when the "
              "machine is idle).\n",
              quiet, total, g_disturbed);
}

std::vector<int> parse_threads(const char* text) {
  std::vector<int> out;
  const char* p = text;
  while (*p != '\0') {
    char* end = nullptr;
    const long value = std::strtol(p, &end, 10);
    if (end == p || value < 1) return {};
    out.push_back(static_cast<int>(value));
    p = *end == ',' ? end + 1 : end;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // As minidl does at start-up (md::backend pins it on first use anyway): OpenBLAS's own
  // thread pool must not spin against OpenMP's.
  openblas_set_num_threads(1);

  // Our defaults first, so that the user's flags (parsed later) override them.
  std::vector<int> thread_counts = {1, 2};
  std::vector<char*> args = {argv[0]};
  std::string defaults[] = {"--benchmark_repetitions=5", "--benchmark_min_time=0.1",
                            "--benchmark_enable_random_interleaving=true"};
  for (std::string& d : defaults) args.push_back(d.data());
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--threads=", 10) == 0) {
      thread_counts = parse_threads(argv[i] + 10);
      if (thread_counts.empty()) {
        std::fprintf(stderr, "--threads wants a comma-separated list of counts >= 1, e.g. --threads=1,2\n");
        return 1;
      }
    } else {
      args.push_back(argv[i]);
    }
  }
  int args_count = static_cast<int>(args.size());
  args.push_back(nullptr);

  register_all(thread_counts);
  benchmark::Initialize(&args_count, args.data());
  if (benchmark::ReportUnrecognizedArguments(args_count, args.data())) return 1;
  std::printf("OpenBLAS: %s, %d thread(s); OpenMP max threads at start: %d\n", openblas_get_config(),
              openblas_get_num_threads(), omp_get_max_threads());
  MinReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_summary(thread_counts);
  benchmark::Shutdown();
  return 0;
}
