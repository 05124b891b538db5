// The driver of the fused additive-attention score kernels: kernel-path dispatch, mask
// planning (which keys each (b, i) row visits), and the OpenMP split over rows. The per-row
// arithmetic lives in attention_kernels_avx512.cpp and attention_kernels_portable.cpp.
//
// Threads: the rows are cut into chunks of about equal work (a causal row i visits only i + 1
// keys), about four per thread, which the threads take dynamically (schedule(dynamic)): on this
// kind of VM one vCPU is often slower than the other, and a static split waits for it. The cut
// depends only on the thread count, so results never depend on which thread ran a chunk.
// When there are at least as many batch elements as chunks, the cuts fall on batch boundaries;
// a chunk then writes dk straight into the output. A chunk that starts inside a batch element
// writes that element's dk into a private slot instead, and after a barrier the slots are added
// to dk in chunk order. dscale partials are per chunk, in double, also added in chunk order.
// Scratch is allocated once per call.
//
// Caches: each chunk walks its rows in groups of kRowGroup rows of one batch element, tile of
// keys by tile of keys, so large (Tv, D) key blocks are reused from L2 instead of streaming from
// L3 once per query row.
#include "minidl/core/backend/attention_kernels.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "minidl/core/backend/detail/attention_row_kernels.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {
namespace {

constexpr float kMaskedScore = -1e9f;  // Keras's constant: masked scores get -1e9
constexpr float kMaskPenalty = 1e9f;
// Work is counted in tanh evaluations plus a per-row overhead. Below kMinParallelWork a call
// runs on the calling thread (no OpenMP region); each thread gets at least half of it, and a
// chunk at least a quarter (there are at most kChunksPerThread chunks per thread).
constexpr int64_t kMinParallelWork = 4 * detail::kParallelGrain;
constexpr int64_t kRowOverhead = 32;
constexpr int64_t kChunksPerThread = 4;
// Rows are processed in groups of up to kRowGroup rows of one batch element, key tile by key
// tile, so that a tile of keys (and of dk) is read from memory once and then served from L2 to
// the group's rows. A tile holds about kForwardTileFloats key floats (k only) in the forward
// pass and kBackwardTileFloats in the backward pass (k and dk): 256 KiB of the 1 MiB L2 either way.
constexpr int64_t kRowGroup = 8;
constexpr int64_t kForwardTileFloats = 1 << 16;
constexpr int64_t kBackwardTileFloats = 1 << 15;

// The identity path (ScoreTanhMode::guarded). With ta = tanh a, tb = tanh b,
//   tanh(a + b) = (ta + tb) / (1 + ta tb),   1 + ta tb = cosh(a + b) / (cosh a cosh b),
// and the identity's sensitivity to an error in ta is (1 - tb^2) / (1 + ta tb)^2 =
// cosh^2 a / cosh^2(a + b) <= min(cosh^2 a, e^(2|b|)), likewise for tb. With a and b of the same
// sign it is <= 1: well conditioned. With opposite signs both are <= e^(2 min(|a|, |b|)) (a = -b
// gives cosh^2 a). ta and tb come from precise_tanh (error <= 0.5 ulp: 3e-8 near 1), so with
// min(|a|, |b|) <= kIdentityGuard = 1 the amplified input error is at most 2 e^2 3e-8 = 4.4e-7
// and in practice less (both sensitivities are never large at once): over 2M pairs of U(-5,5)
// and of U(-20,20) (a float32 emulation), max |error| 2.8e-7 for the identity restricted this
// way against 4.2e-7 for the direct path's rational tanh, and at a bound of 1.25 already 4.2e-7;
// the kernels measure the same 2.7e-7 with |q| <= 1 against |k| up to 20 (bench/tanh_kernel_bench,
// tests/core/backend_attention_test.cpp). The
// guard is per (query row, tile of kGuardKeys keys) and per feature: the identity runs unless
// some feature d has |q_d| > kIdentityGuard and |k_jd| > kIdentityGuard for a key j of the tile
// (a bound on min(|q_d|, |k_jd|) that ignores signs). The backward forms 1 - t^2 as 1 - t t from
// the identity's t, so its error is twice that of t, as on the direct path.
constexpr float kIdentityGuard = 1.0f;
constexpr int64_t kGuardKeys = 64;

std::atomic<KernelPath> requested_path{KernelPath::automatic};
std::atomic<ScoreTanhMode> tanh_mode{ScoreTanhMode::guarded};

const detail::AttentionRowKernels& row_kernels() {
  switch (active_kernel_path()) {
    case KernelPath::avx512:
      return detail::avx512_attention_row_kernels();
    case KernelPath::avx2:
      return detail::avx2_attention_row_kernels();
    default:
      return detail::portable_attention_row_kernels();
  }
}

void validate(const AdditiveScoresProblem& p) {
  if (p.batch < 0 || p.tq < 0 || p.tv < 0 || p.dim < 0) {
    throw std::invalid_argument("additive attention scores: negative size (batch " + std::to_string(p.batch) + ", tq " +
                                std::to_string(p.tq) + ", tv " + std::to_string(p.tv) + ", dim " +
                                std::to_string(p.dim) + ")");
  }
  if (p.tv > std::numeric_limits<int32_t>::max()) {
    throw std::invalid_argument("additive attention scores: tv = " + std::to_string(p.tv) +
                                " exceeds the 32-bit key index range");
  }
}

// The keys one query row visits.
struct RowKeys {
  const int32_t* keys;  // ascending key indices
  int64_t count;        // >= 1 when tv >= 1
  bool fully_masked;    // no key is kept: every key is listed and the scores get -1e9 added
};

// Which keys each (b, i) row keeps, and the rows' cumulative work for the thread split.
class RowPlan {
 public:
  explicit RowPlan(const AdditiveScoresProblem& p)
      : tq_(p.tq), tv_(p.tv), causal_(p.causal), has_value_mask_(p.value_mask != nullptr) {
    all_keys_.resize(static_cast<size_t>(tv_));
    for (int64_t j = 0; j < tv_; ++j) all_keys_[j] = static_cast<int32_t>(j);
    if (has_value_mask_) {
      kept_.resize(static_cast<size_t>(p.batch * tv_));
      kept_count_.resize(static_cast<size_t>(p.batch));
      for (int64_t b = 0; b < p.batch; ++b) {
        int64_t n = 0;
        for (int64_t j = 0; j < tv_; ++j) {
          if (p.value_mask[b * tv_ + j] != 0.0f) kept_[b * tv_ + n++] = static_cast<int32_t>(j);
        }
        kept_count_[b] = n;
      }
    }
    const int64_t rows = p.batch * tq_;
    prefix_.resize(static_cast<size_t>(rows + 1));
    prefix_[0] = 0;
    for (int64_t r = 0; r < rows; ++r) prefix_[r + 1] = prefix_[r] + row(r).count * p.dim + kRowOverhead;
  }

  int64_t rows() const { return static_cast<int64_t>(prefix_.size()) - 1; }
  int64_t work() const { return prefix_.back(); }

  RowKeys row(int64_t r) const {
    const int64_t b = r / tq_;
    const int64_t i = r % tq_;
    const int32_t* keys = all_keys_.data();
    int64_t count = tv_;
    if (has_value_mask_) {
      keys = kept_.data() + b * tv_;
      count = kept_count_[b];
    }
    if (causal_) {
      count = has_value_mask_ ? std::upper_bound(keys, keys + count, i) - keys : std::min(count, i + 1);
    }
    if (count == 0) return {all_keys_.data(), tv_, true};
    return {keys, count, false};
  }

  // First row of part t out of n: parts of about equal work.
  int64_t split(int64_t t, int64_t n) const {
    if (t >= n) return rows();
    const int64_t target = work() / n * t + work() % n * t / n;
    return std::lower_bound(prefix_.begin(), prefix_.end(), target) - prefix_.begin();
  }

 private:
  int64_t tq_, tv_;
  bool causal_, has_value_mask_;
  std::vector<int32_t> all_keys_;    // 0 .. tv-1
  std::vector<int32_t> kept_;        // (batch, tv): the value mask's kept keys, compacted
  std::vector<int64_t> kept_count_;  // (batch)
  std::vector<int64_t> prefix_;      // (rows + 1): work of rows [0, r)
};

// The identity path's per-call tables, built by prepare() before the rows run:
//   1. per (batch, guard tile of kGuardKeys keys, feature d): whether some key of the tile has
//      |k_d| > kIdentityGuard;
//   2. per (query row, guard tile of its batch): whether the identity may run there (no feature
//      with |q_d| > kIdentityGuard where 1. is set), and per row whether it may anywhere;
//   3. tanh(k) for the keys of every guard tile some row takes the identity on.
// So inputs the guard rejects everywhere pay two integer passes, not the precise tanh. tanh(q) is
// computed per row (query_tanh) into the caller's scratch as the row comes up. Inactive (no
// allocation, every row direct) in ScoreTanhMode::direct and for dim = 0.
class IdentityTables {
 public:
  IdentityTables(const AdditiveScoresProblem& p, ScoreTanhMode mode, const detail::AttentionRowKernels& kernels)
      : p_(p), mode_(mode), kernels_(kernels), tiles_((p.tv + kGuardKeys - 1) / kGuardKeys) {
    if (!active()) return;
    tanh_key_ = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(p.batch * p.tv * p.dim));
    key_big_ = std::make_unique_for_overwrite<int32_t[]>(static_cast<size_t>(p.batch * tiles_ * p.dim));
    ok_ = std::make_unique_for_overwrite<uint8_t[]>(static_cast<size_t>(p.batch * p.tq * tiles_));
    row_ok_ = std::make_unique_for_overwrite<uint8_t[]>(static_cast<size_t>(p.batch * p.tq));
  }

  bool active() const { return mode_ != ScoreTanhMode::direct && p_.dim > 0; }

  // Builds the tables on `threads` threads (the calling one when 1).
  void prepare(int threads) const {
    if (!active()) return;
    const int64_t key_tiles = p_.batch * tiles_, rows = p_.batch * p_.tq;
    if (threads == 1) {  // no OpenMP region: even an if(false) one costs microseconds
      for (int64_t u = 0; u < key_tiles; ++u) flag_key_tile(u);
      for (int64_t r = 0; r < rows; ++r) decide_row(r);
      for (int64_t u = 0; u < key_tiles; ++u) tanh_key_tile(u);
      return;
    }
#pragma omp parallel num_threads(threads)
    {
#pragma omp for schedule(static)
      for (int64_t u = 0; u < key_tiles; ++u) flag_key_tile(u);
#pragma omp for schedule(static)
      for (int64_t r = 0; r < rows; ++r) decide_row(r);
#pragma omp for schedule(static)
      for (int64_t u = 0; u < key_tiles; ++u) tanh_key_tile(u);
    }
  }

  bool row_takes_identity(int64_t r) const { return active() && row_ok_[r] != 0; }
  void query_tanh(int64_t r, float* out) const { kernels_.precise_tanh(p_.query + r * p_.dim, p_.dim, out); }
  const float* tanh_key_batch(int64_t b) const { return tanh_key_.get() + b * p_.tv * p_.dim; }

  // Calls run(identity, keys, count) over the runs of `keys` (ascending) that share a guard
  // tile, identity telling whether the identity path takes row r's run.
  template <class Run>
  void for_each_run(int64_t r, const int32_t* keys, int64_t count, Run&& run) const {
    if (!row_takes_identity(r)) {
      run(false, keys, count);
      return;
    }
    for (int64_t s = 0; s < count;) {
      const int64_t tile = keys[s] / kGuardKeys;
      int64_t e = s + 1;
      while (e < count && keys[e] < (tile + 1) * kGuardKeys) ++e;
      run(ok_[r * tiles_ + tile] != 0, keys + s, e - s);
      s = e;
    }
  }

 private:
  // |x| > kIdentityGuard on the bit pattern (a vectorisable integer compare; NaN counts as large).
  static int32_t above_guard(float x) {
    constexpr uint32_t kGuardBits = std::bit_cast<uint32_t>(kIdentityGuard);
    return static_cast<int32_t>((std::bit_cast<uint32_t>(x) & 0x7fffffffu) > kGuardBits);
  }

  // Key tile u = (batch, tile): its keys [j0, j1) and their first float.
  int64_t first_key(int64_t u) const { return u % tiles_ * kGuardKeys; }
  int64_t end_key(int64_t u) const { return std::min(p_.tv, first_key(u) + kGuardKeys); }
  int64_t first_float(int64_t u) const { return (u / tiles_ * p_.tv + first_key(u)) * p_.dim; }

  void flag_key_tile(int64_t u) const {
    const int64_t dim = p_.dim;
    int32_t* big = key_big_.get() + u * dim;
    std::fill(big, big + dim, 0);
    for (int64_t j = first_key(u); j < end_key(u); ++j) {
      const float* k = p_.key + first_float(u) + (j - first_key(u)) * dim;
      for (int64_t d = 0; d < dim; ++d) big[d] |= above_guard(k[d]);
    }
  }

  void decide_row(int64_t r) const {
    const int64_t dim = p_.dim, b = r / p_.tq;
    const float* q = p_.query + r * dim;
    bool any = false;
    for (int64_t t = 0; t < tiles_; ++t) {
      const int32_t* big = key_big_.get() + (b * tiles_ + t) * dim;
      int32_t conflicts = 0;
      if (mode_ == ScoreTanhMode::guarded) {
        for (int64_t d = 0; d < dim; ++d) conflicts += above_guard(q[d]) & big[d];
      }
      ok_[r * tiles_ + t] = conflicts == 0;
      any = any || conflicts == 0;
    }
    row_ok_[r] = any;
  }

  void tanh_key_tile(int64_t u) const {
    const int64_t b = u / tiles_, t = u % tiles_;
    bool used = false;
    for (int64_t i = 0; i < p_.tq && !used; ++i) used = ok_[(b * p_.tq + i) * tiles_ + t] != 0;
    if (!used) return;
    const int64_t first = first_float(u);
    kernels_.precise_tanh(p_.key + first, (end_key(u) - first_key(u)) * p_.dim, tanh_key_.get() + first);
  }

  const AdditiveScoresProblem& p_;
  ScoreTanhMode mode_;
  const detail::AttentionRowKernels& kernels_;
  int64_t tiles_;                       // guard tiles per batch element
  std::unique_ptr<float[]> tanh_key_;   // (batch, tv, dim); only the tiles in use are written
  std::unique_ptr<int32_t[]> key_big_;  // (batch, tiles, dim): 0 or 1
  std::unique_ptr<uint8_t[]> ok_;       // (batch * tq, tiles): the identity may run
  std::unique_ptr<uint8_t[]> row_ok_;   // (batch * tq): on some tile
};

int choose_threads(const RowPlan& plan) {
  if (plan.work() < kMinParallelWork || omp_in_parallel()) return 1;
  const int64_t max_threads = omp_get_max_threads();
  const int64_t by_work = plan.work() / (kMinParallelWork / 2);
  return static_cast<int>(std::max<int64_t>(1, std::min({max_threads, plan.rows(), by_work})));
}

int64_t tile_keys(int64_t tile_floats, int64_t dim) {
  return std::max<int64_t>(16, tile_floats / std::max<int64_t>(dim, 1) / 4 * 4);
}

// Walks rows [r0, r1) in groups of kRowGroup rows of one batch element; per group calls
// begin(r, g, keys) for each row, then visit(r, g, first_key, count) for each row's keys in each
// tile of `tile` key indices (g = the row's place in its group), then end(r, g, keys, last) per
// row (last: the group's last row).
template <class Begin, class Visit, class End>
void walk_row_tiles(const RowPlan& plan, int64_t tq, int64_t r0, int64_t r1, int64_t tile, Begin&& begin, Visit&& visit,
                    End&& end) {
  RowKeys rows[kRowGroup];
  int64_t cursor[kRowGroup];
  for (int64_t g0 = r0; g0 < r1;) {
    const int64_t g1 = std::min({r1, g0 + kRowGroup, (g0 / tq + 1) * tq});
    const int64_t n = g1 - g0;
    int64_t key_end = 0;  // one past the largest key any row of the group visits
    for (int64_t g = 0; g < n; ++g) {
      rows[g] = plan.row(g0 + g);
      cursor[g] = 0;
      key_end = std::max<int64_t>(key_end, rows[g].keys[rows[g].count - 1] + 1);
      begin(g0 + g, g, rows[g]);
    }
    for (int64_t j0 = 0; j0 < key_end; j0 += tile) {
      for (int64_t g = 0; g < n; ++g) {
        const RowKeys& row = rows[g];
        const int64_t first = cursor[g];
        const int64_t last = row.keys[row.count - 1] < j0 + tile
                                 ? row.count
                                 : std::lower_bound(row.keys + first, row.keys + row.count, j0 + tile) - row.keys;
        if (last > first) visit(g0 + g, g, row.keys + first, last - first);
        cursor[g] = last;
      }
    }
    for (int64_t g = 0; g < n; ++g) end(g0 + g, g, rows[g], g == n - 1);
    g0 = g1;
  }
}

// Chunk c covers rows [bounds[c], bounds[c + 1]); cuts are on batch boundaries when there are
// at least as many batch elements as chunks. One chunk when threads == 1.
std::vector<int64_t> chunk_bounds(const RowPlan& plan, int threads, int64_t batch, int64_t tq) {
  const int64_t chunks =
      threads == 1 ? 1 : std::clamp<int64_t>(plan.work() / (kMinParallelWork / 4), threads, kChunksPerThread * threads);
  std::vector<int64_t> bounds(static_cast<size_t>(chunks) + 1);
  for (int64_t c = 0; c <= chunks; ++c) {
    bounds[c] = plan.split(c, chunks);
    if (batch >= chunks) bounds[c] = (bounds[c] + tq / 2) / tq * tq;  // nearest batch boundary
  }
  return bounds;
}

// The chunk that holds row r.
int64_t chunk_of(const std::vector<int64_t>& bounds, int64_t r) {
  return std::upper_bound(bounds.begin(), bounds.end(), r) - bounds.begin() - 1;
}

}  // namespace

bool cpu_has_avx512() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
  }();
  return has;
}

bool cpu_has_avx2_fma() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  }();
  return has;
}

const char* kernel_path_name(KernelPath path) {
  switch (path) {
    case KernelPath::automatic:
      return "automatic";
    case KernelPath::avx512:
      return "avx512";
    case KernelPath::avx2:
      return "avx2";
    case KernelPath::portable:
      return "portable";
  }
  return "?";
}

std::vector<KernelPath> supported_kernel_paths() {
  std::vector<KernelPath> paths;
  if (cpu_has_avx512()) paths.push_back(KernelPath::avx512);
  if (cpu_has_avx2_fma()) paths.push_back(KernelPath::avx2);
  paths.push_back(KernelPath::portable);
  return paths;
}

void set_kernel_path(KernelPath path) {
  if (path == KernelPath::avx512 && !cpu_has_avx512()) {
    throw std::runtime_error("set_kernel_path(avx512): this CPU does not support AVX-512 F/DQ/BW/VL");
  }
  if (path == KernelPath::avx2 && !cpu_has_avx2_fma()) {
    throw std::runtime_error("set_kernel_path(avx2): this CPU does not support AVX2 and FMA");
  }
  requested_path.store(path, std::memory_order_relaxed);
}

KernelPath active_kernel_path() {
  const KernelPath path = requested_path.load(std::memory_order_relaxed);
  if (path != KernelPath::automatic) return path;
  static const KernelPath fastest = supported_kernel_paths().front();
  return fastest;
}

void set_score_tanh_mode(ScoreTanhMode mode) { tanh_mode.store(mode, std::memory_order_relaxed); }

ScoreTanhMode score_tanh_mode() { return tanh_mode.load(std::memory_order_relaxed); }

const char* score_tanh_mode_name(ScoreTanhMode mode) {
  switch (mode) {
    case ScoreTanhMode::guarded:
      return "guarded";
    case ScoreTanhMode::direct:
      return "direct";
    case ScoreTanhMode::identity:
      return "identity";
  }
  return "?";
}

void score_tanh_elements(ElementwiseTanh which, const float* a, const float* b, int64_t n, float* out) {
  const detail::AttentionRowKernels& kernels = row_kernels();
  switch (which) {
    case ElementwiseTanh::direct:
      kernels.direct_tanh(a, b, n, out);
      break;
    case ElementwiseTanh::precise:
      kernels.precise_tanh(a, n, out);
      break;
    case ElementwiseTanh::identity:
      kernels.identity_tanh(a, b, n, out);
      break;
  }
}

void additive_scores_forward(const AdditiveScoresProblem& problem, float* scores) {
  validate(problem);
  const int64_t tq = problem.tq, tv = problem.tv, dim = problem.dim;
  if (problem.batch == 0 || tq == 0 || tv == 0) return;
  detail::ensure_initialized();

  const RowPlan plan(problem);
  std::vector<float> ones;
  const float* scale = problem.scale;
  if (!scale) {
    ones.assign(static_cast<size_t>(dim), 1.0f);
    scale = ones.data();
  }
  const detail::AttentionRowKernels& kernels = row_kernels();
  const IdentityTables tables(problem, score_tanh_mode(), kernels);
  const int threads = choose_threads(plan);
  // Per thread: tanh(q) of a group's rows (identity path only).
  std::vector<float> query_tanh(tables.active() ? static_cast<size_t>(threads * kRowGroup * dim) : 0);

  const int64_t tile = tile_keys(kForwardTileFloats, dim);
  const auto run_rows = [&](int64_t r0, int64_t r1, int thread) {
    float* tanh_rows = query_tanh.data() + static_cast<size_t>(thread) * kRowGroup * dim;
    walk_row_tiles(
        plan, tq, r0, r1, tile,
        [&](int64_t r, int64_t g, const RowKeys& row) {
          if (row.count < tv) std::fill(scores + r * tv, scores + (r + 1) * tv, kMaskedScore);
          if (tables.row_takes_identity(r)) tables.query_tanh(r, tanh_rows + g * dim);
        },
        [&](int64_t r, int64_t g, const int32_t* keys, int64_t count) {
          float* out = scores + r * tv;
          if (dim == 0) {
            for (int64_t t = 0; t < count; ++t) out[keys[t]] = 0.0f;
            return;
          }
          const int64_t b = r / tq;
          tables.for_each_run(r, keys, count, [&](bool identity, const int32_t* run, int64_t n) {
            if (identity) {
              kernels.forward_row_identity(tanh_rows + g * dim, tables.tanh_key_batch(b), dim, run, n, scale, out);
            } else {
              kernels.forward_row(problem.query + r * dim, problem.key + b * tv * dim, dim, run, n, scale, out);
            }
          });
        },
        [&](int64_t r, int64_t, const RowKeys& row, bool) {
          if (!row.fully_masked) return;
          for (float* out = scores + r * tv; out != scores + (r + 1) * tv; ++out) *out -= kMaskPenalty;
        });
  };

  tables.prepare(threads);
  if (threads == 1) {
    run_rows(0, plan.rows(), 0);
    return;
  }
  const std::vector<int64_t> bounds = chunk_bounds(plan, threads, problem.batch, tq);
  const int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) run_rows(bounds[c], bounds[c + 1], omp_get_thread_num());
}

void additive_scores_backward(const AdditiveScoresProblem& problem, const float* d_scores, float* dq, float* dk,
                              float* dscale) {
  validate(problem);
  const int64_t batch = problem.batch, tq = problem.tq, tv = problem.tv, dim = problem.dim;
  if (!dq && !dk && !dscale) return;
  if (batch == 0 || tq == 0 || tv == 0 || dim == 0) {
    // Sums over nothing.
    if (dq) std::fill(dq, dq + batch * tq * dim, 0.0f);
    if (dk) std::fill(dk, dk + batch * tv * dim, 0.0f);
    if (dscale) std::fill(dscale, dscale + dim, 0.0f);
    return;
  }
  detail::ensure_initialized();

  const RowPlan plan(problem);
  const int threads = choose_threads(plan);
  const detail::AttentionRowKernels& kernels = row_kernels();
  const IdentityTables tables(problem, score_tanh_mode(), kernels);
  const int64_t key_batch_size = tv * dim;

  std::vector<float> ones;
  const float* scale = problem.scale;
  if (!scale) {
    ones.assign(static_cast<size_t>(dim), 1.0f);
    scale = ones.data();
  }
  const std::vector<int64_t> bounds = chunk_bounds(plan, threads, batch, tq);
  const int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;
  // Per thread: the dq sums of a group's rows, the group's dscale sum, from the kernel, and the
  // tanh(q) of the group's rows (identity path only).
  const int64_t scratch_floats = (kRowGroup + 1) * dim + (tables.active() ? kRowGroup * dim : 0);
  std::vector<float> row_scratch(static_cast<size_t>(threads) * scratch_floats);
  // Per chunk: the dscale partial sum, in double.
  std::vector<double> dscale_partials(static_cast<size_t>(chunks) * dim, 0.0);
  // Per chunk that starts inside a batch element: that element's dk. Uninitialised; the chunk
  // zeroes its slot.
  std::unique_ptr<float[]> dk_slots;
  bool any_slot = false;
  for (int64_t c = 0; c < chunks; ++c) any_slot = any_slot || bounds[c] % tq != 0;
  if (dk && any_slot) dk_slots = std::make_unique_for_overwrite<float[]>(chunks * key_batch_size);

  const int64_t tile = tile_keys(kBackwardTileFloats, dim);
  const auto run_chunk = [&](int64_t c, int thread) {
    const int64_t r0 = bounds[c], r1 = bounds[c + 1];
    if (r0 >= r1) return;
    float* dq_acc = row_scratch.data() + static_cast<size_t>(thread) * scratch_floats;  // (group row, dim)
    float* ds_acc = dq_acc + kRowGroup * dim;                                           // (dim)
    float* tanh_rows = ds_acc + dim;                                                    // (group row, dim)
    double* ds_partial = dscale_partials.data() + static_cast<size_t>(c) * dim;
    int64_t current = -1;
    float* dk_batch = nullptr;
    walk_row_tiles(
        plan, tq, r0, r1, tile,
        [&](int64_t r, int64_t g, const RowKeys&) {
          const int64_t b = r / tq;
          if (dk && b != current) {
            current = b;
            // A chunk that starts inside b is not b's first chunk: its dk goes to the slot.
            dk_batch = r0 > b * tq ? dk_slots.get() + c * key_batch_size : dk + b * key_batch_size;
            std::fill(dk_batch, dk_batch + key_batch_size, 0.0f);
          }
          if (tables.row_takes_identity(r)) tables.query_tanh(r, tanh_rows + g * dim);
        },
        [&](int64_t r, int64_t g, const int32_t* keys, int64_t count) {
          const int64_t b = r / tq;
          tables.for_each_run(r, keys, count, [&](bool identity, const int32_t* run, int64_t n) {
            if (identity) {
              kernels.backward_row_identity(tanh_rows + g * dim, tables.tanh_key_batch(b), dim, run, n,
                                            d_scores + r * tv, dq_acc + g * dim, ds_acc, dk_batch);
            } else {
              kernels.backward_row(problem.query + r * dim, problem.key + b * key_batch_size, dim, run, n,
                                   d_scores + r * tv, dq_acc + g * dim, ds_acc, dk_batch);
            }
          });
        },
        [&](int64_t r, int64_t g, const RowKeys&, bool last) {
          float* row_dq = dq_acc + g * dim;
          if (dq) {
            float* out = dq + r * dim;
            for (int64_t d = 0; d < dim; ++d) out[d] = scale[d] * row_dq[d];
          }
          std::fill(row_dq, row_dq + dim, 0.0f);  // ready for the next group
          if (last) {
            if (dscale) {
              for (int64_t d = 0; d < dim; ++d) ds_partial[d] += ds_acc[d];
            }
            std::fill(ds_acc, ds_acc + dim, 0.0f);
          }
        });
  };

  // dk key row kr: add the slots of the later chunks of its batch element, then apply scale.
  const auto finish_dk = [&](int64_t kr) {
    const int64_t b = kr / tv, j = kr % tv;
    float* out = dk + kr * dim;
    const int64_t c_lo = chunk_of(bounds, b * tq), c_hi = chunk_of(bounds, (b + 1) * tq - 1);
    for (int64_t c = c_lo + 1; c <= c_hi; ++c) {
      if (bounds[c] == bounds[c + 1]) continue;
      const float* part = dk_slots.get() + c * key_batch_size + j * dim;
      for (int64_t d = 0; d < dim; ++d) out[d] += part[d];
    }
    if (problem.scale) {
      for (int64_t d = 0; d < dim; ++d) out[d] *= scale[d];
    }
  };

  tables.prepare(threads);
  if (threads == 1) {
    run_chunk(0, 0);
    if (dk && problem.scale) {
      for (int64_t kr = 0; kr < batch * tv; ++kr) finish_dk(kr);
    }
  } else {
#pragma omp parallel num_threads(threads)
    {
      const int thread = omp_get_thread_num();
#pragma omp for schedule(dynamic, 1)
      for (int64_t c = 0; c < chunks; ++c) run_chunk(c, thread);
      if (dk && (any_slot || problem.scale)) {
#pragma omp for schedule(static)
        for (int64_t kr = 0; kr < batch * tv; ++kr) finish_dk(kr);
      }
    }
  }
  if (dscale) {
    for (int64_t d = 0; d < dim; ++d) {
      double sum = 0.0;
      for (int64_t c = 0; c < chunks; ++c) sum += dscale_partials[static_cast<size_t>(c) * dim + d];
      dscale[d] = static_cast<float>(sum);
    }
  }
}

}  // namespace minidl::backend
