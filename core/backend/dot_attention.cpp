// Multi-head dot-product attention (backend.h, "dot-product attention") on Keras's projected
// layouts. Each (batch, head) pair is one task: its query, key and value are strided blocks of
// the (batch, time, heads, channels) tensors (leading dimension heads * channels, or the
// problem's row strides when q, k and v are columns of one packed projection), read and written
// in place: no head transposes. Two implementations of a task, by kernel path
// (attention_kernels.h):
//   avx2 / avx512: the blocked path. K^T and V (backward: V^T and K) are packed into 16-column
//     panels once per task, then blocks of ~64 query rows go through our AVX2 products
//     (dot_attention_avx2.cpp), the mask and the softmax while their scores sit in L2; the
//     backward accumulates dV and dK over the blocks.
//   portable: each product is one oneDNN sgemm call on the whole (tq, tv) block, the softmax rows
//     the portable loops of detail/dot_attention_rows.h.
// Both give the same results up to rounding (the tests run both).
//
// Threads: with at least as many tasks as threads, the tasks are spread over the OpenMP team
// (schedule(dynamic): one vCPU of this kind of VM is often slower than the other) and each sgemm
// runs on its calling thread; results do not depend on which thread ran a task. With fewer tasks
// (one long sequence), the tasks run in turn on the sgemm path (either kernel path), each sgemm and row
// loop on the whole team.
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "minidl/core/backend/attention_kernels.h"
#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/dot_attention_gemm.h"
#include "minidl/core/backend/detail/dot_attention_rows.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {
namespace {

constexpr float kMaskedScore = -1e9f;  // Keras's constant for masked scores
// Below this many multiply-adds per call the whole problem runs on the calling thread.
constexpr int64_t kMinParallelWork = 1 << 16;

// The kernel path (attention_kernels.h: tests pin one) picks both the row kernels and the products:
// avx2 and avx512 run the blocked tasks on our packed-panel products (detail/dot_attention_gemm.h),
// portable runs each (batch, head) block on oneDNN's sgemm.
bool blocked_path() { return active_kernel_path() != KernelPath::portable; }

const detail::DotAttentionRowKernels& dot_rows() {
  return blocked_path() ? detail::avx2_dot_attention_row_kernels() : detail::portable_dot_attention_row_kernels();
}

// c (m x n, row stride ldc) = alpha op(a) op(b) + beta c, row-major, on oneDNN's sgemm (one
// thread inside an OpenMP region, the team outside one).
void attention_gemm(bool transpose_a, bool transpose_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                    int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
    }
    return;
  }
  const dnnl_status_t status =
      dnnl_sgemm(transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  if (status != dnnl_success) {
    throw std::runtime_error("dot_attention: dnnl_sgemm failed (status " + std::to_string(status) + ")");
  }
}

// The views of one (b, h) task into the operands.
struct Task {
  const DotAttentionProblem& p;
  int64_t b, h;
  int64_t ldq() const { return p.q_row != 0 ? p.q_row : p.heads * p.key_dim; }
  int64_t ldk() const { return p.k_row != 0 ? p.k_row : p.heads * p.key_dim; }
  int64_t ldv() const { return p.v_row != 0 ? p.v_row : p.heads * p.value_dim; }
  int64_t ldo() const { return p.out_row != 0 ? p.out_row : p.heads * p.value_dim; }
  int64_t q_offset() const { return b * p.tq * ldq() + h * p.key_dim; }
  int64_t k_offset() const { return b * p.tv * ldk() + h * p.key_dim; }
  int64_t v_offset() const { return b * p.tv * ldv() + h * p.value_dim; }
  int64_t out_offset() const { return b * p.tq * ldo() + h * p.value_dim; }
  int64_t weights_offset() const { return (b * p.heads + h) * p.tq * p.tv; }
  bool has_mask() const { return p.mask != nullptr || p.causal; }
  // keep[j] for row i: the mask entry (0 = masked) and the causal rule j <= i.
  template <class Body>
  void for_masked(int64_t i, Body&& body) const {
    const float* m = p.mask ? p.mask + b * p.mask_strides[0] + h * p.mask_strides[1] + i * p.mask_strides[2] : nullptr;
    const int64_t sj = p.mask_strides[3];
    for (int64_t j = 0; j < p.tv; ++j) {
      if ((m && m[j * sj] == 0.0f) || (p.causal && j > i)) body(j);
    }
  }
};

// Runs task(t, scratch) for t in [0, tasks), on the team when worthwhile (see the file comment).
// `scratch_floats` per thread.
template <class Body>
void run_tasks(const DotAttentionProblem& p, int64_t work, int64_t scratch_floats, Body&& body) {
  const int64_t tasks = p.batch * p.heads;
  const int threads = omp_get_max_threads();
  if (tasks >= threads && threads > 1 && work >= kMinParallelWork) {
    std::vector<float> scratch(static_cast<size_t>(scratch_floats * threads));
#pragma omp parallel
    {
      float* mine = scratch.data() + scratch_floats * omp_get_thread_num();
#pragma omp for schedule(dynamic)
      for (int64_t t = 0; t < tasks; ++t) body(t, mine, false);
    }
    return;
  }
  const detail::OneThreadScope one_thread(work < kMinParallelWork);
  std::vector<float> scratch(static_cast<size_t>(scratch_floats));
  for (int64_t t = 0; t < tasks; ++t) body(t, scratch.data(), work >= kMinParallelWork && threads > 1);
}

// Calls row(i) for i in [0, rows): over the team when `parallel` (not inside a region).
template <class Row>
void for_rows(int64_t rows, bool parallel, Row&& row) {
  if (!parallel) {
    for (int64_t i = 0; i < rows; ++i) row(i);
    return;
  }
  detail::parallel_for(rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) row(i);
  });
}

// ---- the blocked path (avx2 / avx512 kernel paths) ----
// Per (batch, head) task: the key and value operands are packed into panels once, then the
// queries go by blocks of rows whose (rows, tv) scores stay in L2 from the product through the
// mask and softmax to the product with the values; the backward accumulates dV and dK block by
// block. Only with at least as many tasks as threads (or too little work for the team): one long
// sequence runs each task on the whole team, which the sgemm path does.

// Query rows per block: a multiple of the 6-row register tile, the block's scores about
// `block_floats` floats.
int64_t query_block(int64_t tq, int64_t tv, int64_t block_floats) {
  const int64_t rows = std::max<int64_t>(6, block_floats / std::max<int64_t>(tv, 1)) / 6 * 6;
  return std::max<int64_t>(1, std::min(tq, rows));
}
// The forward's blocks: ~64 KiB of scores, from the product through the softmax to the product
// with V while they sit in L2.
constexpr int64_t kForwardBlockFloats = 1 << 14;
// The backward's blocks are 4x larger (~256 KiB of scores and as much of their gradient): dv and
// dk accumulate over the blocks (each block reads and rewrites them), so fewer, deeper blocks
// mean fewer of those passes and longer products (k = the block's rows). At (8, 256, 256, 8) on
// 2 threads the backward took 7.0-7.3 ms against 7.7-8.0 with the forward's blocks
// (bench/RESULTS.md, issue 14 sixth pass); the forward was no faster with larger blocks.
constexpr int64_t kBackwardBlockFloats = 1 << 16;

// The blocked path's softmax rows: the AVX-512 build on the avx512 kernel path (its exp keeps
// twice as much of a row in flight), else the AVX2 build beside the products.
const detail::DotAttentionRowKernels& blocked_rows() {
  return active_kernel_path() == KernelPath::avx512 ? detail::avx512_dot_attention_softmax_rows()
                                                    : detail::avx2_attention_gemm_kernels().rows;
}

bool use_blocked(const DotAttentionProblem& p, int64_t work) {
  return blocked_path() && (p.batch * p.heads >= omp_get_max_threads() || work < kMinParallelWork);
}

// The mask fill, softmax and zeroing of the forward for row i of a task.
void forward_row(const Task& task, const detail::DotAttentionRowKernels& rows, int64_t i, float* row) {
  const DotAttentionProblem& p = task.p;
  if (task.has_mask()) task.for_masked(i, [&](int64_t j) { row[j] = kMaskedScore; });
  rows.softmax_row(row, p.tv);
  if (p.zero_masked && task.has_mask()) task.for_masked(i, [&](int64_t j) { row[j] = 0.0f; });
}

// The backward of row i: from g = d(used weights) to d(scores), in place (see the sgemm path).
void backward_row(const Task& task, const detail::DotAttentionRowKernels& rows, int64_t i, const float* w,
                  const float* drop, const float* dw, float* row) {
  const DotAttentionProblem& p = task.p;
  const int64_t tv = p.tv;
  if (drop) {
    for (int64_t j = 0; j < tv; ++j) row[j] *= drop[j];
  }
  if (dw) {
    for (int64_t j = 0; j < tv; ++j) row[j] += dw[j];
  }
  if (p.zero_masked && task.has_mask()) task.for_masked(i, [&](int64_t j) { row[j] = 0.0f; });
  rows.softmax_backward_row(w, row, tv);
  if (task.has_mask()) task.for_masked(i, [&](int64_t j) { row[j] = 0.0f; });
}

void blocked_forward(const DotAttentionProblem& p, int64_t work, const float* q, const float* k, const float* v,
                     float* weights, float* out) {
  const auto& gemm = detail::avx2_attention_gemm_kernels();
  const auto& rows = blocked_rows();
  const int64_t tq = p.tq, tv = p.tv, block = query_block(tq, tv, kForwardBlockFloats);
  const int64_t kt_size = detail::packed_panels_size(p.key_dim, tv);
  const int64_t v_size = detail::packed_panels_size(tv, p.value_dim);
  run_tasks(p, work, kt_size + v_size + (p.dropout ? block * tv : 0), [&](int64_t t, float* scratch, bool) {
    const Task task{p, t / p.heads, t % p.heads};
    float* kt = scratch;
    float* vp = kt + kt_size;
    float* dropped = vp + v_size;
    gemm.pack(p.key_dim, tv, k + task.k_offset(), 1, task.ldk(), kt);  // K^T
    gemm.pack(tv, p.value_dim, v + task.v_offset(), task.ldv(), 1, vp);
    for (int64_t i0 = 0; i0 < tq; i0 += block) {
      const int64_t n = std::min(block, tq - i0);
      float* w = weights + task.weights_offset() + i0 * tv;
      gemm.gemm(n, tv, p.key_dim, p.scale, q + task.q_offset() + i0 * task.ldq(), task.ldq(), 1, kt, false, w, tv);
      if (tv > 0) {
        for (int64_t i = 0; i < n; ++i) forward_row(task, rows, i0 + i, w + i * tv);
      }
      const float* used = w;
      if (p.dropout) {
        const float* drop = p.dropout + task.weights_offset() + i0 * tv;
        for (int64_t e = 0; e < n * tv; ++e) dropped[e] = w[e] * drop[e];
        used = dropped;
      }
      gemm.gemm(n, p.value_dim, tv, 1.0f, used, tv, 1, vp, false, out + task.out_offset() + i0 * task.ldo(),
                task.ldo());
    }
  });
}

void blocked_backward(const DotAttentionProblem& p, int64_t work, const float* q, const float* k, const float* v,
                      const float* weights, const float* d_out, const float* d_weights, float* dq, float* dk,
                      float* dv) {
  const auto& gemm = detail::avx2_attention_gemm_kernels();
  const auto& rows = blocked_rows();
  const int64_t tq = p.tq, tv = p.tv, block = query_block(tq, tv, kBackwardBlockFloats);
  const bool want_scores = dq != nullptr || dk != nullptr;
  // Scratch: V^T and K packed once per task, one block of d_out and of Q packed per block, the
  // block's dropped-out weights and its gradient of the scores.
  const int64_t vt_size = want_scores ? detail::packed_panels_size(p.value_dim, tv) : 0;
  const int64_t k_size = dq ? detail::packed_panels_size(tv, p.key_dim) : 0;
  const int64_t dout_size = dv ? detail::packed_panels_size(block, p.value_dim) : 0;
  const int64_t q_size = dk ? detail::packed_panels_size(block, p.key_dim) : 0;
  const int64_t used_size = p.dropout ? block * tv : 0, g_size = want_scores ? block * tv : 0;
  run_tasks(p, work, vt_size + k_size + dout_size + q_size + used_size + g_size, [&](int64_t t, float* scratch, bool) {
    const Task task{p, t / p.heads, t % p.heads};
    float* vt = scratch;
    float* kp = vt + vt_size;
    float* dout_p = kp + k_size;
    float* qp = dout_p + dout_size;
    float* dropped = qp + q_size;
    float* g = dropped + used_size;
    if (tq == 0) {
      // No query reaches a key: dk and dv are zero (the blocks below accumulate into them).
      for (int64_t j = 0; j < tv; ++j) {
        if (dv) std::fill_n(dv + task.v_offset() + j * task.ldv(), p.value_dim, 0.0f);
        if (dk) std::fill_n(dk + task.k_offset() + j * task.ldk(), p.key_dim, 0.0f);
      }
      return;
    }
    if (want_scores) gemm.pack(p.value_dim, tv, v + task.v_offset(), 1, task.ldv(), vt);  // V^T
    if (dq) gemm.pack(tv, p.key_dim, k + task.k_offset(), task.ldk(), 1, kp);
    for (int64_t i0 = 0; i0 < tq; i0 += block) {
      const int64_t n = std::min(block, tq - i0);
      const bool accumulate = i0 > 0;
      const float* w = weights + task.weights_offset() + i0 * tv;
      const float* drop = p.dropout ? p.dropout + task.weights_offset() + i0 * tv : nullptr;
      const float* dw = d_weights ? d_weights + task.weights_offset() + i0 * tv : nullptr;
      const float* d_out_block = d_out + task.out_offset() + i0 * task.ldo();
      const float* used = w;
      if (drop) {
        for (int64_t e = 0; e < n * tv; ++e) dropped[e] = w[e] * drop[e];
        used = dropped;
      }
      if (dv) {
        // dv += used^T d_out: A is the block transposed (row stride 1, column stride tv).
        gemm.pack(n, p.value_dim, d_out_block, task.ldo(), 1, dout_p);
        gemm.gemm(tv, p.value_dim, n, 1.0f, used, 1, tv, dout_p, accumulate, dv + task.v_offset(), task.ldv());
      }
      if (!want_scores) continue;
      gemm.gemm(n, tv, p.value_dim, 1.0f, d_out_block, task.ldo(), 1, vt, false, g, tv);
      if (tv > 0) {
        for (int64_t i = 0; i < n; ++i) {
          backward_row(task, rows, i0 + i, w + i * tv, drop ? drop + i * tv : nullptr, dw ? dw + i * tv : nullptr,
                       g + i * tv);
        }
      }
      if (dq) {
        gemm.gemm(n, p.key_dim, tv, p.scale, g, tv, 1, kp, false, dq + task.q_offset() + i0 * task.ldq(), task.ldq());
      }
      if (dk) {
        gemm.pack(n, p.key_dim, q + task.q_offset() + i0 * task.ldq(), task.ldq(), 1, qp);
        gemm.gemm(tv, p.key_dim, n, p.scale, g, 1, tv, qp, accumulate, dk + task.k_offset(), task.ldk());
      }
    }
  });
}

void validate(const DotAttentionProblem& p) {
  if (p.batch < 0 || p.tq < 0 || p.tv < 0 || p.heads < 0 || p.key_dim < 0 || p.value_dim < 0) {
    throw std::invalid_argument("dot_attention: negative dimension");
  }
}

}  // namespace

void dot_attention_forward(const DotAttentionProblem& p, const float* q, const float* k, const float* v, float* weights,
                           float* out) {
  validate(p);
  if (p.batch * p.heads * p.tq == 0) return;
  detail::ensure_initialized();
  const auto& rows = dot_rows();
  const int64_t tq = p.tq, tv = p.tv;
  const int64_t work = p.batch * p.heads * tq * tv * (p.key_dim + p.value_dim);
  if (use_blocked(p, work)) return blocked_forward(p, work, q, k, v, weights, out);
  run_tasks(p, work, p.dropout ? tq * tv : 0, [&](int64_t t, float* scratch, bool parallel_rows) {
    const Task task{p, t / p.heads, t % p.heads};
    float* w = weights + task.weights_offset();
    // s = scale q k^T, straight into the weights block.
    attention_gemm(false, true, tq, tv, p.key_dim, p.scale, q + task.q_offset(), task.ldq(), k + task.k_offset(),
                   task.ldk(), 0.0f, w, tv);
    if (tv > 0) {
      for_rows(tq, parallel_rows, [&](int64_t i) {
        float* row = w + i * tv;
        if (task.has_mask()) task.for_masked(i, [&](int64_t j) { row[j] = kMaskedScore; });
        rows.softmax_row(row, tv);
        if (p.zero_masked && task.has_mask()) task.for_masked(i, [&](int64_t j) { row[j] = 0.0f; });
      });
    }
    const float* used = w;
    if (p.dropout) {
      const float* drop = p.dropout + task.weights_offset();
      for (int64_t e = 0; e < tq * tv; ++e) scratch[e] = w[e] * drop[e];
      used = scratch;
    }
    attention_gemm(false, false, tq, p.value_dim, tv, 1.0f, used, tv, v + task.v_offset(), task.ldv(), 0.0f,
                   out + task.out_offset(), task.ldo());
  });
}

void dot_attention_backward(const DotAttentionProblem& p, const float* q, const float* k, const float* v,
                            const float* weights, const float* d_out, const float* d_weights, float* dq, float* dk,
                            float* dv) {
  validate(p);
  if (p.batch * p.heads == 0) return;
  detail::ensure_initialized();
  const auto& rows = dot_rows();
  const int64_t tq = p.tq, tv = p.tv;
  const int64_t work = p.batch * p.heads * tq * tv * (2 * p.key_dim + 2 * p.value_dim);
  if (use_blocked(p, work)) return blocked_backward(p, work, q, k, v, weights, d_out, d_weights, dq, dk, dv);
  const bool want_scores = dq != nullptr || dk != nullptr;
  // Scratch per thread: the used (dropped-out) weights and the gradient of the scores.
  const int64_t block = tq * tv;
  run_tasks(p, work, (p.dropout ? block : 0) + (want_scores ? block : 0),
            [&](int64_t t, float* scratch, bool parallel_rows) {
              const Task task{p, t / p.heads, t % p.heads};
              const float* w = weights + task.weights_offset();
              const float* drop = p.dropout ? p.dropout + task.weights_offset() : nullptr;
              const float* used = w;
              float* g = scratch;
              if (drop) {
                float* dropped = scratch;
                for (int64_t e = 0; e < block; ++e) dropped[e] = w[e] * drop[e];
                used = dropped;
                g = scratch + block;
              }
              // dv = used^T d_out
              if (dv) {
                attention_gemm(true, false, tv, p.value_dim, tq, 1.0f, used, tv, d_out + task.out_offset(), task.ldo(),
                               0.0f, dv + task.v_offset(), task.ldv());
              }
              if (!want_scores) return;
              // g = d(weights): d_out v^T (through the dropout), plus what reached the returned weights.
              attention_gemm(false, true, tq, tv, p.value_dim, 1.0f, d_out + task.out_offset(), task.ldo(),
                             v + task.v_offset(), task.ldv(), 0.0f, g, tv);
              const float* dw = d_weights ? d_weights + task.weights_offset() : nullptr;
              if (tv > 0) {
                for_rows(tq, parallel_rows, [&](int64_t i) {
                  float* row = g + i * tv;
                  if (drop) {
                    const float* d = drop + i * tv;
                    for (int64_t j = 0; j < tv; ++j) row[j] *= d[j];
                  }
                  if (dw) {
                    const float* d = dw + i * tv;
                    for (int64_t j = 0; j < tv; ++j) row[j] += d[j];
                  }
                  // Through the zeroing (zero_masked) and the -1e9 fill, masked entries pass no gradient.
                  // The softmax's backward may read the zeroed weights: in a row that keeps a key, the
                  // masked weights were exactly 0 already; a fully masked row's gradient is zeroed below.
                  if (p.zero_masked && task.has_mask()) task.for_masked(i, [&](int64_t j) { row[j] = 0.0f; });
                  rows.softmax_backward_row(w + i * tv, row, tv);
                  if (task.has_mask()) task.for_masked(i, [&](int64_t j) { row[j] = 0.0f; });
                });
              }
              // dq = scale g k, dk = scale g^T q
              if (dq) {
                attention_gemm(false, false, tq, p.key_dim, tv, p.scale, g, tv, k + task.k_offset(), task.ldk(), 0.0f,
                               dq + task.q_offset(), task.ldq());
              }
              if (dk) {
                attention_gemm(true, false, tv, p.key_dim, tq, p.scale, g, tv, q + task.q_offset(), task.ldq(), 0.0f,
                               dk + task.k_offset(), task.ldk());
              }
            });
}

}  // namespace minidl::backend
