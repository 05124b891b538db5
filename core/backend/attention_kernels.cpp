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

std::atomic<KernelPath> requested_path{KernelPath::automatic};

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
// begin(r, keys) for each row, then visit(r, g, first_key, count) for each row's keys in each
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
      begin(g0 + g, rows[g]);
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
  const detail::AttentionForwardRow forward_row = row_kernels().forward_row;

  const int64_t tile = tile_keys(kForwardTileFloats, dim);
  const auto run_rows = [&](int64_t r0, int64_t r1) {
    walk_row_tiles(
        plan, tq, r0, r1, tile,
        [&](int64_t r, const RowKeys& row) {
          if (row.count < tv) std::fill(scores + r * tv, scores + (r + 1) * tv, kMaskedScore);
        },
        [&](int64_t r, int64_t, const int32_t* keys, int64_t count) {
          float* out = scores + r * tv;
          if (dim > 0) {
            forward_row(problem.query + r * dim, problem.key + (r / tq) * tv * dim, dim, keys, count, scale, out);
          } else {
            for (int64_t t = 0; t < count; ++t) out[keys[t]] = 0.0f;
          }
        },
        [&](int64_t r, int64_t, const RowKeys& row, bool) {
          if (!row.fully_masked) return;
          for (float* out = scores + r * tv; out != scores + (r + 1) * tv; ++out) *out -= kMaskPenalty;
        });
  };

  const int threads = choose_threads(plan);
  if (threads == 1) {
    run_rows(0, plan.rows());
    return;
  }
  const std::vector<int64_t> bounds = chunk_bounds(plan, threads, problem.batch, tq);
  const int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 1)
  for (int64_t c = 0; c < chunks; ++c) run_rows(bounds[c], bounds[c + 1]);
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
  const detail::AttentionBackwardRow backward_row = row_kernels().backward_row;
  const int64_t key_batch_size = tv * dim;

  std::vector<float> ones;
  const float* scale = problem.scale;
  if (!scale) {
    ones.assign(static_cast<size_t>(dim), 1.0f);
    scale = ones.data();
  }
  const std::vector<int64_t> bounds = chunk_bounds(plan, threads, batch, tq);
  const int64_t chunks = static_cast<int64_t>(bounds.size()) - 1;
  // Per thread: the dq sums of a group's rows and the group's dscale sum, from the kernel.
  const int64_t scratch_floats = (kRowGroup + 1) * dim;
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
    double* ds_partial = dscale_partials.data() + static_cast<size_t>(c) * dim;
    int64_t current = -1;
    float* dk_batch = nullptr;
    walk_row_tiles(
        plan, tq, r0, r1, tile,
        [&](int64_t r, const RowKeys&) {
          const int64_t b = r / tq;
          if (dk && b != current) {
            current = b;
            // A chunk that starts inside b is not b's first chunk: its dk goes to the slot.
            dk_batch = r0 > b * tq ? dk_slots.get() + c * key_batch_size : dk + b * key_batch_size;
            std::fill(dk_batch, dk_batch + key_batch_size, 0.0f);
          }
        },
        [&](int64_t r, int64_t g, const int32_t* keys, int64_t count) {
          backward_row(problem.query + r * dim, problem.key + (r / tq) * key_batch_size, dim, keys, count,
                       d_scores + r * tv, dq_acc + g * dim, ds_acc, dk_batch);
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
