// Recurrent sequences: LSTM, GRU (both reset placements) and simple RNN layers over a whole
// sequence, forward and backward (backend.h has the contract and why this is not oneDNN's RNN
// primitive). Every product runs on our own tile (detail/recurrent_cell_kernels.h): the per-step
// ones (input projection, recurrent product, its gradient) against kernels packed once per call,
// the input gradient against the packed kernel, and the weight gradients (k = batch * time deep)
// on both sides packed; the gate arithmetic runs in the row kernels beside it.
//
// Layout: x, the sequence and every per-step buffer are batch-major, (batch, time, width), so a
// time step is a strided set of rows; the per-step products take the stride as their leading
// dimension (only the weight gradients' left-hand sides are transposed, once per call). Per-step
// buffers (gates, c, ...) are indexed by the input time they consumed (tau); the sequence by step.
// They differ only under `reverse`.
#include <xmmintrin.h>  // SSE, part of baseline x86-64: the 4 x 4 transposes of transpose_rows

#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <stdexcept>
#include <string>
#include <vector>

#include "minidl/core/backend/attention_kernels.h"
#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"
#include "minidl/core/backend/detail/recurrent_cell_kernels.h"

namespace minidl::backend {
namespace {

using detail::RecurrentCellKernels;

// The kernel path the attention kernels run (set_kernel_path), so tests pin either; AVX-512 CPUs
// run the AVX2 build.
const RecurrentCellKernels& cell_kernels() {
  return active_kernel_path() == KernelPath::portable ? detail::portable_recurrent_cell_kernels()
                                                      : detail::avx2_recurrent_cell_kernels();
}

// The recurrence never mixes batch rows, so each thread runs every step of its own contiguous
// rows: one parallel region per pass, no barrier between steps, its products single-threaded.
// Splitting each step's
// small product across the team instead costs two synchronisations per step and products too
// thin to share well. Below kRowsPerThread rows a thread, fewer threads.
constexpr int64_t kRowsPerThread = 8;

// A thread's share: rows [begin, end) of the batch, and its place in the team, for the work
// around the recurrence that the same region splits otherwise (packing, weight gradients).
struct Slice {
  int64_t begin, end;
  int thread, team;
  // [first, last) of `count` items for this thread, in multiples of `align` but for the last.
  std::pair<int64_t, int64_t> share(int64_t count, int64_t align = 1) const {
    const int64_t units = (count + align - 1) / align;
    return {std::min(count, units * thread / team * align), std::min(count, units * (thread + 1) / team * align)};
  }
  void barrier() const {
    if (team > 1) {
#pragma omp barrier
    }
  }
};

// body(Slice) on every thread of one team (the whole batch on the calling thread when one
// thread is enough or the call is already inside a parallel region). Every thread gets rows.
template <class Body>
void for_batch_slices(int64_t batch, Body&& body) {
  const int64_t threads = std::min<int64_t>(omp_get_max_threads(), batch / kRowsPerThread);
  if (threads <= 1 || omp_in_parallel()) {
    body(Slice{0, batch, 0, 1});
    return;
  }
#pragma omp parallel num_threads(static_cast<int>(threads))
  {
    const int team = omp_get_num_threads(), thread = omp_get_thread_num();
    body(Slice{batch * thread / team, batch * (thread + 1) / team, thread, team});
  }
}

// Grow-only per-thread scratch, one slot per use.
float* scratch(int slot, int64_t floats) {
  thread_local std::vector<float> buffers[14];
  std::vector<float>& buffer = buffers[slot];
  if (static_cast<int64_t>(buffer.size()) < floats) buffer.resize(static_cast<size_t>(floats));
  return buffer.data();
}

// The right-hand side b (k x n) of a per-step product, packed into panels (the layout of
// detail/recurrent_cell_kernels.h): b(i, j) = src[i ld + j], or src[j ld + i] when `transposed`
// (the backward's products take the recurrent kernel transposed). Packed once per call, each
// thread packing its share of the panels; every step and every thread then reads the same copy.
struct Packed {
  const float* src;
  int64_t ld;
  bool transposed;
  int64_t k, n;
  float* panels = nullptr;

  int64_t panel_count() const { return (n + detail::kPanelWidth - 1) / detail::kPanelWidth; }
  void allocate(int slot) { panels = scratch(slot, panel_count() * detail::kPanelWidth * k); }
  void pack(const Slice& slice) const {
    const auto [begin, end] = slice.share(panel_count());
    // Rows outer when the source is row-major: each source row is read once, front to back (the
    // weight gradients pack blocks of the gate gradients straight from memory this way).
    for (int64_t i = 0; i < k && !transposed; ++i) {
      const float* src_row = src + i * ld;
      for (int64_t p = begin; p < end; ++p) {
        float* row = panels + (p * k + i) * detail::kPanelWidth;
        const int64_t first = p * detail::kPanelWidth, cols = std::min(detail::kPanelWidth, n - first);
        for (int64_t j = 0; j < cols; ++j) row[j] = src_row[first + j];
        for (int64_t j = cols; j < detail::kPanelWidth; ++j) row[j] = 0.0f;
      }
    }
    for (int64_t p = begin; p < end && transposed; ++p) {
      float* panel = panels + p * detail::kPanelWidth * k;
      const int64_t first = p * detail::kPanelWidth, cols = std::min(detail::kPanelWidth, n - first);
      for (int64_t i = 0; i < k; ++i) {
        float* row = panel + i * detail::kPanelWidth;
        for (int64_t j = 0; j < cols; ++j) row[j] = src[(first + j) * ld + i];
        for (int64_t j = cols; j < detail::kPanelWidth; ++j) row[j] = 0.0f;
      }
    }
  }
};

bool all_finite(const float* p, int64_t n) {
  // Every exponent bit set is an infinity or a NaN; one pass, no early exit, compares and ors
  // only, so it vectorises on baseline x86-64 too.
  uint32_t bad = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    bad |= (bits & 0x7f800000u) == 0x7f800000u ? 1u : 0u;
  }
  return bad == 0;
}

bool all_zero(const float* p, int64_t n) {
  uint32_t any = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    any |= bits;
  }
  return any == 0;  // +0 only: what a zero state holds
}

int activation_code(EltwiseOp op) {
  switch (op) {
    case EltwiseOp::tanh: return 0;
    case EltwiseOp::relu: return 1;
    case EltwiseOp::sigmoid: return 2;
    default: throw std::invalid_argument("recurrent: a simple RNN runs tanh, relu or sigmoid only");
  }
}

// Where the rows of one sequence live: row b of step s, or of input time tau.
struct Layout {
  int64_t batch, time, units, gates;  // gates = G * units
  bool reverse;
  int64_t tau(int64_t s) const { return reverse ? time - 1 - s : s; }
  // Offsets of (b, t) rows in buffers of width `width`; the leading dimension of a step is time * width.
  int64_t row(int64_t b, int64_t t, int64_t width) const { return (b * time + t) * width; }
};

// The state before step s: h0 (leading dimension units) or the sequence at s - 1.
struct Prev {
  const float* base;
  int64_t ld;
  const float* operator()(int64_t b) const { return base + b * ld; }
};

// The weight gradients are products over every (b, tau) row of the sequence, k = batch * time
// deep: dW = A^T G with A the rows the step's product read (x, h_prev, r h_prev) and G the
// gate gradients. They run on the per-step products' tile (panel_product), with both sides laid
// out as it wants them: A^T in rows (`Transposed`, k long, filled by each thread for its own
// batch rows after the loop), G in blocks of kDepthBlock rows, each block in 16-column panels
// (`GradientPanels`, written by the loop while each step's rows are in cache; packing it
// afterwards from memory stalled on every row). A 16 x kDepthBlock panel (16 KB) stays in L1
// while every row tile of A^T passes over it. dnnl_sgemm ran these about 25% slower per flop than
// the tile.
//
// Each thread sums over its own batch rows only (k = its rows * time), into its own partial
// weight gradients, which are then added in thread order: its A^T and G never leave its core.
// Splitting the columns instead (each thread every row of its columns, the sums independent of
// the thread count) had each thread read the other's half of A^T and G and, at the next call,
// write lines the other had read: with the VM's two vCPUs in its slow placement (a barrier
// 2x as long) the backward loop took 37% longer and the transposes twice as long, the backward
// 30% (rnn_bench, 2026-12-08). The k order within a thread is (b, tau) -> tau * rows + b, time
// outer: a thread's rows of one step are then neighbours in every panel, so the loop writes each
// panel one run of lines per step (a line per panel per row, 16 KB apart, when batch outer).
constexpr int64_t kDepthBlock = 256;

// G (k x n), rows in the order tau * rows + b of one thread, in blocks of kDepthBlock rows; block k0 holds
// ceil(n / 16) panels of its depth(k0) rows x 16 columns (the panel layout of
// detail/recurrent_cell_kernels.h), zero past n.
struct GradientPanels {
  float* data = nullptr;
  int64_t k = 0, n = 0;

  int64_t width() const { return (n + detail::kPanelWidth - 1) / detail::kPanelWidth * detail::kPanelWidth; }
  void allocate(int slot, int64_t rows, int64_t cols) {
    k = rows;
    n = cols;
    data = scratch(slot, k * width());
  }
  int64_t depth(int64_t k0) const { return std::min(kDepthBlock, k - k0); }
  // The panels of the block at k0 from column `first` (a multiple of 16) on.
  const float* panels(int64_t k0, int64_t first) const { return data + k0 * width() + first * depth(k0); }
  // Rows [kk0, kk0 + count) from rows + i * ld, panel by panel, so each panel takes them as one
  // contiguous run.
  void put_rows(int64_t kk0, int64_t count, const float* rows, int64_t ld) const {
    for (int64_t i0 = 0; i0 < count;) {
      const int64_t kk = kk0 + i0, k0 = kk / kDepthBlock * kDepthBlock, kc = depth(k0);
      const int64_t run = std::min(count - i0, k0 + kc - kk);
      float* block = data + k0 * width() + (kk - k0) * detail::kPanelWidth;
      for (int64_t c = 0; c < n; c += detail::kPanelWidth) {
        float* dst = block + c * kc;
        const int64_t cols = std::min(detail::kPanelWidth, n - c);
        for (int64_t i = 0; i < run; ++i, dst += detail::kPanelWidth) {
          const float* src = rows + (i0 + i) * ld + c;
          if (cols == detail::kPanelWidth) {
            std::memcpy(dst, src, sizeof(float) * detail::kPanelWidth);
          } else {
            std::memcpy(dst, src, sizeof(float) * cols);
            std::fill(dst + cols, dst + detail::kPanelWidth, 0.0f);
          }
        }
      }
      i0 += run;
    }
  }
  // The block at k0's columns [lo, hi) repacked as panels starting at lo (for a term that starts
  // inside a panel: gru's r h_prev columns when 2 units is no multiple of 16), zero past hi.
  void shifted(int64_t k0, int64_t lo, int64_t hi, float* out) const {
    const int64_t kc = depth(k0);
    const float* block = data + k0 * width();
    for (int64_t q = 0; lo + q * detail::kPanelWidth < hi; ++q) {
      for (int64_t kk = 0; kk < kc; ++kk) {
        float* dst = out + (q * kc + kk) * detail::kPanelWidth;
        for (int64_t j = 0; j < detail::kPanelWidth; ++j) {
          const int64_t c = lo + q * detail::kPanelWidth + j;
          dst[j] = c < hi ? block[(c / detail::kPanelWidth * kc + kk) * detail::kPanelWidth + c % detail::kPanelWidth]
                          : 0.0f;
        }
      }
    }
  }
};

std::vector<const float*>& thread_rows() {
  thread_local std::vector<const float*> rows;
  return rows;
}

// A^T of one thread: `rows` rows of k = its batch rows * time floats, row j holding column j of
// A's rows in the order of the gate gradients' rows (GradientPanels).
struct Transposed {
  float* data;
  int64_t rows;
};

// A^T of the slice's rows (at every tau): a(b, tau) points at row (b, tau) of A.
template <class Row>
void transpose_rows(const Transposed& at, const Layout& L, const Slice& slice, Row&& a) {
  if (at.rows == 0) return;
  const int64_t nb = slice.end - slice.begin, k = nb * L.time;
  std::vector<const float*>& rows = thread_rows();
  rows.resize(static_cast<size_t>(nb));
  for (int64_t tau = 0; tau < L.time; ++tau) {
    for (int64_t b = 0; b < nb; ++b) rows[b] = a(slice.begin + b, tau);
    // Stores front to back, loads down the columns of rows that sit in L1 (stores k apart, one
    // cache line each, were most of this function's time); 4 x 4 blocks through registers (one
    // float at a time, the loads and stores were a third of the backward loop's own time).
    float* dst = at.data + tau * nb;
    int64_t j = 0;
    for (; j + 4 <= at.rows; j += 4) {
      int64_t b = 0;
      for (; b + 4 <= nb; b += 4) {
        __m128 r0 = _mm_loadu_ps(rows[b] + j), r1 = _mm_loadu_ps(rows[b + 1] + j), r2 = _mm_loadu_ps(rows[b + 2] + j),
               r3 = _mm_loadu_ps(rows[b + 3] + j);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(dst + j * k + b, r0);
        _mm_storeu_ps(dst + (j + 1) * k + b, r1);
        _mm_storeu_ps(dst + (j + 2) * k + b, r2);
        _mm_storeu_ps(dst + (j + 3) * k + b, r3);
      }
      for (; b < nb; ++b) {
        for (int64_t jj = j; jj < j + 4; ++jj) dst[jj * k + b] = rows[b][jj];
      }
    }
    for (; j < at.rows; ++j) {
      for (int64_t b = 0; b < nb; ++b) dst[j * k + b] = rows[b][j];
    }
  }
}

// out[:, lo:hi) (leading dimension gates) = A^T G[:, lo:hi).
struct WeightTerm {
  const Transposed* at;
  float* out;
  int64_t lo, hi;
};

// The terms' columns within [c0, c1) (c0 a multiple of 16), and bias[c0:c1) = the column sums of
// G (when bias is not null), as k-deep products in blocks of kDepthBlock rows, every element
// summing its blocks in order. A term starting inside a panel (gru's r h_prev columns when
// 2 units is no multiple of 16) repacks its own columns.
void weight_gradients(const RecurrentCellKernels& kernels, const Layout& L, const GradientPanels& g_panels,
                      int64_t c0, int64_t c1, std::initializer_list<WeightTerm> terms, float* bias) {
  const int64_t k = g_panels.k, GU = L.gates;
  float* own = scratch(10, (GU + detail::kPanelWidth) * std::min(k, kDepthBlock));
  if (bias && c1 > c0) std::fill(bias + c0, bias + c1, 0.0f);
  for (int64_t k0 = 0; k0 < k; k0 += kDepthBlock) {
    const int64_t kc = g_panels.depth(k0);
    for (const WeightTerm& term : terms) {
      const int64_t lo = std::max(term.lo, c0), hi = std::min(term.hi, c1);
      if (!term.out || hi <= lo) continue;
      const float* panels = g_panels.panels(k0, lo);
      if (lo % detail::kPanelWidth != 0) {
        g_panels.shifted(k0, lo, hi, own);
        panels = own;
      }
      kernels.panel_product(term.at->rows, hi - lo, kc, term.at->data + k0, k, panels, term.out + lo, GU, k0 > 0,
                            nullptr);
    }
    // The bias: column sums of the block's panels, which the products above just read.
    for (int64_t first = c0; bias && first < c1; first += detail::kPanelWidth) {
      const float* panel = g_panels.panels(k0, first);
      float sums[detail::kPanelWidth] = {};
      for (int64_t kk = 0; kk < kc; ++kk) {
#pragma omp simd
        for (int64_t j = 0; j < detail::kPanelWidth; ++j) sums[j] += panel[kk * detail::kPanelWidth + j];
      }
      for (int64_t j = 0; j < std::min(detail::kPanelWidth, c1 - first); ++j) bias[first + j] += sums[j];
    }
  }
}

}  // namespace

int64_t recurrent_gate_count(RecurrentCell cell) {
  switch (cell) {
    case RecurrentCell::lstm: return 4;
    case RecurrentCell::gru:
    case RecurrentCell::gru_reset_after: return 3;
    case RecurrentCell::simple: return 1;
  }
  return 1;
}

int64_t recurrent_workspace_size(const RecurrentGeometry& g) {
  // Gates (activated) per step, plus units-wide rows per step: c and tanh(c) (lstm), r h_prev
  // (gru), h_prev U_h + b_h (gru_reset_after).
  const int64_t steps = g.batch * g.time;
  const int64_t rows = g.cell == RecurrentCell::simple ? 0 : g.cell == RecurrentCell::lstm ? 2 : 1;
  const int64_t extra = rows * steps * g.units;
  return steps * recurrent_gate_count(g.cell) * g.units + extra;
}

void recurrent_forward(const RecurrentGeometry& g, const RecurrentOperands& in, float* sequence, float* last_c,
                       float* workspace) {
  detail::ensure_initialized();
  const int64_t B = g.batch, T = g.time, I = g.input, U = g.units, GU = recurrent_gate_count(g.cell) * U;
  if (B == 0 || T == 0 || U == 0) return;
  const Layout L{B, T, U, GU, g.reverse};
  const RecurrentCellKernels& k = cell_kernels();
  const int act = g.cell == RecurrentCell::simple ? activation_code(g.activation) : 0;
  float* gates = workspace;
  float* extra = workspace + B * T * GU;
  float* zeros = scratch(0, B * U);
  std::fill(zeros, zeros + B * U, 0.0f);
  const float* h0 = in.h0 ? in.h0 : zeros;
  const float* c0 = in.c0 ? in.c0 : zeros;

  const float* recurrent_bias = g.cell == RecurrentCell::gru_reset_after && in.bias ? in.bias + GU : nullptr;
  const int64_t ldg = T * GU;
  // The recurrent kernel, packed: all of it, or (gru) its z, r columns and its h columns apart.
  const bool gru = g.cell == RecurrentCell::gru;
  const Packed recurrent_kernel{in.recurrent_kernel, GU, false, U, gru ? 2 * U : GU};
  const Packed recurrent_kernel_h{gru ? in.recurrent_kernel + 2 * U : in.recurrent_kernel, GU, false, U, gru ? U : 0};
  // The input kernel too: each step projects its own rows just before the recurrent product,
  // which then finds them in cache (one product over all steps would write the whole sequence's
  // gates out to memory first).
  const Packed input_kernel{in.kernel, GU, false, I, GU};
  // With no h0 or a zero one (the layers' initial state) the first step's h_prev U is zero:
  // skipped (1/T of the recurrent products), unless U holds a NaN or an infinity, which 0 * U
  // carries into the gates as Keras's product does.
  const bool zero_start = (!in.h0 || all_zero(in.h0, B * U)) && all_finite(in.recurrent_kernel, U * GU);
  // Rows [b0, b1) through every step. Pointers below are at row b0; row b of the slice is + b * ld.
  for_batch_slices(B, [&](const Slice& slice) {
    const int64_t b0 = slice.begin, nb = slice.end - slice.begin;
    // Each thread packs the kernels whole into its own buffers (scratch is thread_local), a plain
    // copy: no barrier, and no thread reads panels another wrote (shared panels, half packed by
    // each thread, took the forward ~5% longer with the VM's vCPUs in their slow placement).
    Packed packed = recurrent_kernel, packed_h = recurrent_kernel_h, packed_w = input_kernel;
    packed.allocate(6);
    packed_h.allocate(7);
    packed_w.allocate(8);
    const Slice whole{slice.begin, slice.end, 0, 1};
    packed.pack(whole);
    packed_h.pack(whole);
    packed_w.pack(whole);
    float* hu = g.cell == RecurrentCell::gru_reset_after ? scratch(1, nb * GU) : nullptr;
    for (int64_t s = 0; s < T; ++s) {
      const int64_t tau = L.tau(s);
      const Prev h_prev = s == 0 ? Prev{h0 + b0 * U, U} : Prev{sequence + L.row(b0, s - 1, U), T * U};
      float* gates_s = gates + L.row(b0, tau, GU);
      float* h_s = sequence + L.row(b0, s, U);
      float* extra_s = extra + L.row(b0, tau, U);
      // The input projection: gates = x W (+ the input bias).
      k.panel_product(nb, GU, I, in.x + L.row(b0, tau, I), T * I, packed_w.panels, gates_s, ldg, false, in.bias);
      switch (g.cell) {
        case RecurrentCell::lstm: {
          const Prev c_prev = s == 0 ? Prev{c0 + b0 * U, U} : Prev{extra + L.row(b0, L.tau(s - 1), U), T * U};
          float* tanh_c_s = extra_s + B * T * U;  // tanh(c), after every step's c
          if (s > 0 || !zero_start) {
            k.panel_product(nb, GU, U, h_prev.base, h_prev.ld, packed.panels, gates_s, ldg, true, nullptr);
          }
          for (int64_t b = 0; b < nb; ++b) {
            k.lstm_forward(gates_s + b * ldg, c_prev(b), extra_s + b * T * U, tanh_c_s + b * T * U, h_s + b * T * U, U);
          }
          break;
        }
        case RecurrentCell::gru: {
          // (r h_prev) U_h below always runs: a NaN r makes it NaN even where h_prev is zero.
          if (s > 0 || !zero_start) {
            k.panel_product(nb, 2 * U, U, h_prev.base, h_prev.ld, packed.panels, gates_s, ldg, true, nullptr);
          }
          for (int64_t b = 0; b < nb; ++b) k.gru_forward_gates(gates_s + b * ldg, h_prev(b), extra_s + b * T * U, U);
          k.panel_product(nb, U, U, extra_s, T * U, packed_h.panels, gates_s + 2 * U, ldg, true, nullptr);
          for (int64_t b = 0; b < nb; ++b) k.gru_forward_output(gates_s + b * ldg, h_prev(b), h_s + b * T * U, U);
          break;
        }
        case RecurrentCell::gru_reset_after: {
          k.panel_product(nb, GU, U, h_prev.base, h_prev.ld, packed.panels, hu, GU, false, recurrent_bias);
          for (int64_t b = 0; b < nb; ++b) {
            k.gru_after_forward(gates_s + b * ldg, hu + b * GU, h_prev(b), extra_s + b * T * U, h_s + b * T * U, U);
          }
          break;
        }
        case RecurrentCell::simple: {
          if (s > 0 || !zero_start) {
            k.panel_product(nb, GU, U, h_prev.base, h_prev.ld, packed.panels, gates_s, ldg, true, nullptr);
          }
          for (int64_t b = 0; b < nb; ++b) k.simple_forward(gates_s + b * ldg, h_s + b * T * U, U, act);
          break;
        }
      }
    }
  });
  if (g.cell == RecurrentCell::lstm && last_c) {
    const int64_t tau = L.tau(T - 1);
    for (int64_t b = 0; b < B; ++b) std::memcpy(last_c + b * U, extra + L.row(b, tau, U), sizeof(float) * U);
  }
}

void recurrent_backward(const RecurrentGeometry& g, const RecurrentOperands& in, const float* sequence,
                        const float* workspace, const float* d_sequence, const float* d_last_h, const float* d_last_c,
                        const RecurrentGradients& out) {
  detail::ensure_initialized();
  const int64_t B = g.batch, T = g.time, I = g.input, U = g.units, GU = recurrent_gate_count(g.cell) * U;
  const int64_t bias_size = (g.cell == RecurrentCell::gru_reset_after ? 2 : 1) * GU;
  if (B == 0 || T == 0 || U == 0) {
    // Nothing ran: every gradient is zero, except the states' which pass straight through.
    if (out.dx) fill(out.dx, B * T * I, 0.0f);
    if (out.dkernel) fill(out.dkernel, I * GU, 0.0f);
    if (out.drecurrent_kernel) fill(out.drecurrent_kernel, U * GU, 0.0f);
    if (out.dbias) fill(out.dbias, bias_size, 0.0f);
    if (out.dh0) d_last_h ? copy(d_last_h, out.dh0, B * U) : fill(out.dh0, B * U, 0.0f);
    if (out.dc0) d_last_c ? copy(d_last_c, out.dc0, B * U) : fill(out.dc0, B * U, 0.0f);
    return;
  }
  const Layout L{B, T, U, GU, g.reverse};
  const RecurrentCellKernels& k = cell_kernels();
  const int act = g.cell == RecurrentCell::simple ? activation_code(g.activation) : 0;
  const float* gates = workspace;
  const float* extra = workspace + B * T * GU;
  float* zeros = scratch(0, B * U);
  std::fill(zeros, zeros + B * U, 0.0f);
  const float* h0 = in.h0 ? in.h0 : zeros;
  const float* c0 = in.c0 ? in.c0 : zeros;

  // d(pre-activation) of the input projection, rows (b, tau), and (gru_reset_after) of h_prev U +
  // b_h. Every row is kept only for dx; otherwise each thread keeps its current step's rows, and
  // the weight gradients read the panels the loop fills: 3.6 MB less to pass through the caches at
  // the bench's shapes.
  const bool after = g.cell == RecurrentCell::gru_reset_after, gru = g.cell == RecurrentCell::gru;
  const bool all_rows = out.dx != nullptr;
  float* d_gates = all_rows ? scratch(1, B * T * GU) : nullptr;
  float* d_recurrent = after && all_rows ? scratch(2, B * T * GU) : d_gates;
  const int64_t ldd = all_rows ? T * GU : GU;  // between the rows of one step
  float* dh = scratch(3, B * U);       // the gradient reaching h at this step
  float* dh_next = scratch(4, B * U);  // the gradient reaching h_prev, from the step's products
  float* dc = scratch(5, 2 * B * U);   // lstm: reaching c (in place, step to step); gru: d(r h_prev)
  if (d_last_h) std::memcpy(dh_next, d_last_h, sizeof(float) * B * U);
  else std::fill(dh_next, dh_next + B * U, 0.0f);
  if (g.cell == RecurrentCell::lstm) {
    if (d_last_c) std::memcpy(dc, d_last_c, sizeof(float) * B * U);
    else std::fill(dc, dc + B * U, 0.0f);
  }

  const int64_t ldg = T * GU;
  // The recurrent kernel transposed and packed: all of it, or (gru) its z, r rows and its h rows.
  Packed packed{in.recurrent_kernel, GU, true, gru ? 2 * U : GU, U};
  Packed packed_h{gru ? in.recurrent_kernel + 2 * U : in.recurrent_kernel, GU, true, gru ? U : 0, U};
  packed.allocate(6);
  packed_h.allocate(7);
  // The kernel transposed and packed, for dx = dG W^T.
  Packed packed_wt{in.kernel, GU, true, out.dx ? GU : 0, I};
  packed_wt.allocate(9);
  const bool weights_wanted = out.dkernel || out.drecurrent_kernel || out.dbias;
  // The weight gradients' sizes, and where each thread past the first puts its partial sums (one
  // buffer: kernel, recurrent kernel, bias, those asked for).
  const int64_t dkernel_size = out.dkernel ? I * GU : 0, drecurrent_size = out.drecurrent_kernel ? U * GU : 0,
                dbias_size = out.dbias ? bias_size : 0;
  std::vector<const float*> partials(static_cast<size_t>(std::max(1, omp_get_max_threads())), nullptr);
  // Rows [b0, b1) through every step, backwards (as the forward: no barrier between steps); then
  // the weight gradients over the slice's own rows, added up across the threads.
  for_batch_slices(B, [&](const Slice& slice) {
    const int64_t b0 = slice.begin, b1 = slice.end, nb = b1 - b0;
    // A^T of the weight gradients' products over this thread's rows: x, h_prev and (gru) r h_prev,
    // each k = nb T long; G again, packed by the loop (gru_reset_after: its two gradients). Both
    // per thread (scratch is thread_local).
    const int64_t k_rows = nb * T;
    float* at_data = scratch(8, (I + (gru ? 2 : 1) * U) * k_rows);
    const Transposed at_x{at_data, out.dkernel ? I : 0};
    const Transposed at_h{at_data + I * k_rows, out.drecurrent_kernel ? U : 0};
    const Transposed at_rh{at_data + (I + U) * k_rows, gru && out.drecurrent_kernel ? U : 0};
    GradientPanels g_input, g_recurrent;
    if (weights_wanted) {
      g_input.allocate(11, k_rows, GU);
      if (after) g_recurrent.allocate(12, k_rows, GU);
    }
    packed.pack(slice);
    packed_h.pack(slice);
    packed_wt.pack(slice);
    float* dh_b = dh + b0 * U;
    float* dh_next_b = dh_next + b0 * U;
    float* dc_b = dc + b0 * U;
    float* dg_rows = all_rows ? nullptr : scratch(1, nb * GU);  // the step's rows, when not all are kept
    float* dr_rows = all_rows || !after ? dg_rows : scratch(2, nb * GU);
    slice.barrier();  // the packed kernel is whole
    for (int64_t s = T - 1; s >= 0; --s) {
      const int64_t tau = L.tau(s);
      const Prev h_prev = s == 0 ? Prev{h0 + b0 * U, U} : Prev{sequence + L.row(b0, s - 1, U), T * U};
      const float* gates_s = gates + L.row(b0, tau, GU);
      const float* extra_s = extra + L.row(b0, tau, U);
      float* dg_s = all_rows ? d_gates + L.row(b0, tau, GU) : dg_rows;
      float* dr_s = all_rows ? d_recurrent + L.row(b0, tau, GU) : dr_rows;
      // The product into the gradient reaching h_prev: at the first step only for dh0 (1/T of the
      // backward's per-step products when no one asks for it).
      const bool to_h_prev = s > 0 || out.dh0;
      for (int64_t b = 0; b < nb; ++b) {
        const float* dy = d_sequence ? d_sequence + L.row(b0 + b, s, U) : nullptr;
        for (int64_t j = 0; j < U; ++j) dh_b[b * U + j] = dh_next_b[b * U + j] + (dy ? dy[j] : 0.0f);
      }
      switch (g.cell) {
        case RecurrentCell::lstm: {
          const Prev c_prev = s == 0 ? Prev{c0 + b0 * U, U} : Prev{extra + L.row(b0, L.tau(s - 1), U), T * U};
          const float* tanh_c_s = extra_s + B * T * U;
          for (int64_t b = 0; b < nb; ++b) {
            k.lstm_backward(gates_s + b * ldg, c_prev(b), tanh_c_s + b * T * U, dh_b + b * U, dc_b + b * U,
                            dg_s + b * ldd, U);
          }
          if (to_h_prev) k.panel_product(nb, U, GU, dg_s, ldd, packed.panels, dh_next_b, U, false, nullptr);
          break;
        }
        case RecurrentCell::gru: {
          for (int64_t b = 0; b < nb; ++b) {
            k.gru_backward_output(gates_s + b * ldg, h_prev(b), dh_b + b * U, dg_s + b * ldd, dh_next_b + b * U, U);
          }
          k.panel_product(nb, U, U, dg_s + 2 * U, ldd, packed_h.panels, dc_b, U, false, nullptr);
          for (int64_t b = 0; b < nb; ++b) {
            k.gru_backward_reset(gates_s + b * ldg, h_prev(b), dc_b + b * U, dg_s + b * ldd, dh_next_b + b * U, U);
          }
          if (to_h_prev) k.panel_product(nb, U, 2 * U, dg_s, ldd, packed.panels, dh_next_b, U, true, nullptr);
          break;
        }
        case RecurrentCell::gru_reset_after: {
          for (int64_t b = 0; b < nb; ++b) {
            k.gru_after_backward(gates_s + b * ldg, extra_s + b * T * U, h_prev(b), dh_b + b * U, dg_s + b * ldd,
                                 dr_s + b * ldd, dh_next_b + b * U, U);
          }
          if (to_h_prev) k.panel_product(nb, U, GU, dr_s, ldd, packed.panels, dh_next_b, U, true, nullptr);
          break;
        }
        case RecurrentCell::simple: {
          for (int64_t b = 0; b < nb; ++b) {
            k.simple_backward(sequence + L.row(b0 + b, s, U), dh_b + b * U, dg_s + b * ldd, U, act);
          }
          if (to_h_prev) k.panel_product(nb, U, GU, dg_s, ldd, packed.panels, dh_next_b, U, false, nullptr);
          break;
        }
      }
      if (weights_wanted) {
        g_input.put_rows(tau * nb, nb, dg_s, ldd);
        if (after) g_recurrent.put_rows(tau * nb, nb, dr_s, ldd);
      }
    }
    // The input gradient of the slice's own rows needs nothing from the other threads.
    if (out.dx) {
      k.panel_product(nb * T, I, GU, d_gates + b0 * T * GU, GU, packed_wt.panels, out.dx + b0 * T * I, I, false,
                      nullptr);
    }
    // A^T of the slice's rows: x, h_prev (h0 or the sequence at the step before), r h_prev.
    transpose_rows(at_x, L, slice, [&](int64_t b, int64_t tau) { return in.x + L.row(b, tau, I); });
    transpose_rows(at_h, L, slice, [&](int64_t b, int64_t tau) {
      const int64_t s = g.reverse ? T - 1 - tau : tau;
      return s == 0 ? h0 + b * U : sequence + L.row(b, s - 1, U);
    });
    transpose_rows(at_rh, L, slice, [&](int64_t b, int64_t tau) { return extra + L.row(b, tau, U); });
    // The weight gradients over the slice's rows: the first thread's straight into the outputs,
    // the others' into their partial sums. gru: the recurrent kernel's z, r columns are products
    // with h_prev, its h columns with r h_prev; gru_reset_after: with the recurrent part's own
    // gradients.
    if (!weights_wanted) return;
    float* dkernel = out.dkernel;
    float* drecurrent = out.drecurrent_kernel;
    float* dbias = out.dbias;
    if (slice.thread > 0) {
      float* partial = scratch(13, dkernel_size + drecurrent_size + dbias_size);
      partials[static_cast<size_t>(slice.thread)] = partial;
      dkernel = out.dkernel ? partial : nullptr;
      drecurrent = out.drecurrent_kernel ? partial + dkernel_size : nullptr;
      dbias = out.dbias ? partial + dkernel_size + drecurrent_size : nullptr;
    }
    if (after) {
      weight_gradients(k, L, g_input, 0, GU, {{&at_x, dkernel, 0, GU}}, dbias);
      weight_gradients(k, L, g_recurrent, 0, GU, {{&at_h, drecurrent, 0, GU}}, dbias ? dbias + GU : nullptr);
    } else {
      weight_gradients(k, L, g_input, 0, GU,
                       {{&at_x, dkernel, 0, GU},
                        {&at_h, drecurrent, 0, gru ? 2 * U : GU},
                        {&at_rh, drecurrent, 2 * U, gru ? GU : 0}},
                       dbias);
    }
    if (slice.team == 1) return;
    slice.barrier();  // every thread's partial sums are done
    // Added in thread order, each thread its share of every output's elements.
    const auto add_partials = [&](float* dst, int64_t size, int64_t offset) {
      // Plain locals, not a structured binding: clang 14 (the fuzz preset) cannot capture a
      // binding into the simd loop's implicit region.
      const std::pair<int64_t, int64_t> elements = slice.share(size);
      const int64_t e0 = elements.first, e1 = elements.second;
      for (int t = 1; t < slice.team; ++t) {
        const float* src = partials[static_cast<size_t>(t)] + offset;
#pragma omp simd
        for (int64_t e = e0; e < e1; ++e) dst[e] += src[e];
      }
    };
    if (out.dkernel) add_partials(out.dkernel, dkernel_size, 0);
    if (out.drecurrent_kernel) add_partials(out.drecurrent_kernel, drecurrent_size, dkernel_size);
    if (out.dbias) add_partials(out.dbias, dbias_size, dkernel_size + drecurrent_size);
  });
  if (out.dh0) std::memcpy(out.dh0, dh_next, sizeof(float) * B * U);
  if (out.dc0) {
    if (g.cell == RecurrentCell::lstm) std::memcpy(out.dc0, dc, sizeof(float) * B * U);
    else fill(out.dc0, B * U, 0.0f);
  }
}

}  // namespace minidl::backend
