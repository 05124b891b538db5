// Multi-head dot-product attention (backend.h, "dot-product attention") on Keras's projected
// layouts. Each (batch, head) pair is one task: its query, key and value are strided blocks of
// the (batch, time, heads, channels) tensors (leading dimension heads * channels, or the
// problem's row strides when q, k and v are columns of one packed projection), so oneDNN's
// sgemm reads them in place and writes the output and the q/k/v gradients in place: no head
// transposes. A task keeps its (tq, tv) block of scores in cache between the product, the mask,
// the softmax (our vectorised rows, detail/dot_attention_rows.h) and the product with the values.
//
// Threads: with at least as many tasks as threads, the tasks are spread over the OpenMP team
// (schedule(dynamic): one vCPU of this kind of VM is often slower than the other) and each sgemm
// runs on its calling thread; results do not depend on which thread ran a task. With fewer tasks
// (one long sequence), the tasks run in turn and each sgemm and row loop uses the whole team.
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "minidl/core/backend/attention_kernels.h"
#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/dot_attention_rows.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {
namespace {

constexpr float kMaskedScore = -1e9f;  // Keras's constant for masked scores
// Below this many multiply-adds per call the whole problem runs on the calling thread.
constexpr int64_t kMinParallelWork = 1 << 16;

const detail::DotAttentionRowKernels& dot_rows() {
  static const detail::DotAttentionRowKernels& kernels =
      cpu_has_avx2_fma() ? detail::avx2_dot_attention_row_kernels() : detail::portable_dot_attention_row_kernels();
  return kernels;
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
