#pragma once
// The compute backend: thin typed wrappers over oneDNN primitives and OpenBLAS, plus our own
// OpenMP loops where oneDNN 2.6 has no fast kernel. Everything here works on raw float
// buffers and plain shapes; shape checking and allocation happen one level up, in core/.
// This is the only folder that includes oneDNN or CBLAS headers (and those only in .cpp
// files and detail/, so this header stays dependency-free).
//
//   std::vector<float> a(6), b(3), c(6);
//   md::backend::binary(md::backend::BinaryOp::add, a.data(), {2, 3}, b.data(), {3}, c.data(), {2, 3});
//
// Threads: one pool, libgomp (OpenMP), shared by oneDNN and our loops. OpenBLAS is pinned to
// one thread so that its own pool never spins against OpenMP (PERF-RESEARCH.md, section 0).
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "minidl/core/backend/kinds.h"

namespace minidl::backend {

using Dims = std::vector<int64_t>;

// ---- threads -----------------------------------------------------------------------------
// Sets the OpenMP thread count used by every primitive and loop (n >= 1).
void set_num_threads(int n);
int get_num_threads();

// ---- denormals (core/backend/denormals.cpp) ----------------------------------------------------
// FTZ/DAZ: floats below 2^-126 (denormals) flushed to zero, in results and inputs, on the threads
// that run minidl's compute (md::DenormalsFlushed in core/threading.h says when and why).
void set_flush_denormals(bool on);
bool flush_denormals();
// Sets FTZ/DAZ (when on) on the calling thread, and on the OpenMP threads its parallel regions
// use (once per thread and team size); returns the calling thread's previous mode.
unsigned enter_flushed_denormals();
void restore_float_mode(unsigned previous);
// Whether FTZ and DAZ are set on the calling thread, and on each thread of an OpenMP team of
// get_num_threads() started from it (for tests and benchmarks).
bool thread_flushes_denormals();
std::vector<bool> team_flushes_denormals();

// ---- primitive cache ---------------------------------------------------------------------
// oneDNN primitives are created once per (kind, shapes, attributes) and reused.
struct PrimitiveCacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t entries = 0;
};
PrimitiveCacheStats primitive_cache_stats();

struct PrimitiveInfo {
  std::string key;   // e.g. "binary add f32 64x256 1x256"
  std::string impl;  // oneDNN's implementation name, e.g. "jit:uni"; never "ref:..." when used
  bool used = true;  // false when the primitive was a ref:* fallback and our own loop runs instead
};
std::vector<PrimitiveInfo> primitive_cache_entries();
void clear_primitive_cache();

// ---- matmul ------------------------------------------------------------------------------
// c[batch..., m, n] = op(a)[batch..., m, k] @ op(b)[batch..., k, n], where op transposes the
// last two axes when asked (as strides, no copy). `a_shape`/`b_shape` are the stored shapes,
// rank >= 2; their batch dims broadcast NumPy-style to c's, which has the full rank.
// `accumulate` adds into c instead of overwriting it.
void matmul(const float* a, const Dims& a_shape, bool transpose_a, const float* b, const Dims& b_shape,
            bool transpose_b, float* c, const Dims& c_shape, bool accumulate = false);

// ---- convolution -------------------------------------------------------------------------
// N-d convolution (1 to 3 spatial axes) on oneDNN's convolution primitives, forward, backward-data
// and backward-weights. Activations are plain row-major (batch, spatial..., channels), or
// (batch, channels, spatial...) when `channels_first`; the kernel is in Keras's layout
// (kernel..., in_channels / groups, out_channels), output channel o belonging to group
// o / (out_channels / groups). The primitive picks its own weights layout (format_tag::any) and
// the kernel is reordered to and from it on each call (cached reorders).
//   y[n, o, p] = sum_{i, k} x[n, g(o) * in/groups + i, p * stride + k * dilation - pad_before] w[k, i, o]
// pad_after may be negative (the last input positions are not read): a transposed convolution
// with output_padding is the backward-data pass of such a convolution.
struct ConvGeometry {
  int64_t batch = 0, in_channels = 0, out_channels = 0, groups = 1;
  Dims in_spatial, out_spatial, kernel, strides, dilation, pad_before, pad_after;  // dilation 1 = none
  bool channels_first = false;
};
void conv_forward(const ConvGeometry& g, const float* x, const float* w, float* y);
void conv_backward_data(const ConvGeometry& g, const float* w, const float* dy, float* dx);
void conv_backward_weights(const ConvGeometry& g, const float* x, const float* dy, float* dw);

// ---- binary ------------------------------------------------------------------------------

// out = a (op) b with NumPy broadcasting; comparisons give 1.0f / 0.0f. Shapes are
// right-aligned; out_shape must be their broadcast. `out` may alias `a` when a has out's
// shape; it must not alias `b` unless b has out's shape too.
void binary(BinaryOp op, const float* a, const Dims& a_shape, const float* b, const Dims& b_shape, float* out,
            const Dims& out_shape);

// out = broadcast of x (shape x_shape, right-aligned) to out_shape.
void broadcast_to(const float* x, const Dims& x_shape, float* out, const Dims& out_shape);

// out = cond ? a : b elementwise with broadcasting (cond non-zero means true).
void where(const float* cond, const Dims& cond_shape, const float* a, const Dims& a_shape, const float* b,
           const Dims& b_shape, float* out, const Dims& out_shape);

// ---- eltwise -----------------------------------------------------------------------------

// y = f(x) over n elements. y may alias x.
void eltwise_forward(EltwiseOp op, const float* x, float* y, int64_t n, float alpha = 0.0f, float beta = 0.0f);

// dx = dy * f'(x). `x` is the forward input, `y` the forward output: tanh, exp, sigmoid and
// sqrt differentiate from y (pass nullptr for x), the others from x (pass nullptr for y).
void eltwise_backward(EltwiseOp op, const float* x, const float* y, const float* dy, float* dx, int64_t n,
                      float alpha = 0.0f, float beta = 0.0f);
// True when eltwise_backward reads y rather than x.
bool eltwise_backward_uses_output(EltwiseOp op);

// ---- softmax -----------------------------------------------------------------------------
// y = softmax(x) (or log_softmax when `log`) along `axis` (0 <= axis < rank).
void softmax_forward(const float* x, float* y, const Dims& shape, int axis, bool log);
// dx from the forward output y and the incoming gradient dy.
void softmax_backward(const float* y, const float* dy, float* dx, const Dims& shape, int axis, bool log);

// ---- multi-head attention: dot-product attention, biased projections ------------------------
// (core/backend/dot_attention.cpp, matmul_bias.cpp)
// Multi-head scaled dot-product attention on Keras's projected layouts, with no head transposes:
// query (batch, tq, heads, key_dim), key (batch, tv, heads, key_dim), value (batch, tv, heads,
// value_dim), output (batch, tq, heads, value_dim), weights (batch, heads, tq, tv). Per (b, h):
//   s = scale q k^T;  s[i, j] = -1e9 where not keep(b, h, i, j) (Keras's constant);
//   w = softmax(s) over j;  w[i, j] = 0 where not keep, when zero_masked (Keras's Softmax layer);
//   out = (w * dropout) v
struct DotAttentionProblem {
  int64_t batch = 0, tq = 0, tv = 0, heads = 0, key_dim = 0, value_dim = 0;
  float scale = 1.0f;
  // keep(b, h, i, j) = mask[b s0 + h s1 + i s2 + j s3] != 0 (a zero stride broadcasts), and j <= i
  // when causal. nullptr and not causal: every key is kept.
  const float* mask = nullptr;
  int64_t mask_strides[4] = {0, 0, 0, 0};
  bool causal = false;
  bool zero_masked = false;
  const float* dropout = nullptr;  // (batch, heads, tq, tv) multipliers (0 or 1 / (1 - rate)), or nullptr
  // Row strides (floats from one time step to the next) of q (and dq), k (and dk), v (and dv) and
  // out (and d_out); 0: dense, heads * depth. Packed self-attention reads q, k and v from one
  // (batch, t, [q | k | v]) buffer, the output of one product, and writes dq, dk, dv into one.
  int64_t q_row = 0, k_row = 0, v_row = 0, out_row = 0;
};
// Writes weights (w before the dropout) and out.
void dot_attention_forward(const DotAttentionProblem& p, const float* q, const float* k, const float* v, float* weights,
                           float* out);
// From the forward's weights, d_out and d_weights (the gradient reaching the returned weights;
// nullptr = none), writes the non-null dq, dk and dv.
void dot_attention_backward(const DotAttentionProblem& p, const float* q, const float* k, const float* v,
                            const float* weights, const float* d_out, const float* d_weights, float* dq, float* dk,
                            float* dv);
// y (m, n) = x (m, k) w (k, n) + bias (n) broadcast over the rows, in one oneDNN matmul.
void matmul_bias(const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t k, int64_t n);

// ---- strided products: the column blocks of a packed projection ---------------------------------
// (core/backend/dot_attention_projections.cpp)
// A (rows x cols) operand read in place: element (i, j) at data[i * row + j * col]; one of the
// two strides is 1 (a transposed matrix has row == 1).
struct StridedOperand {
  const float* data = nullptr;
  int64_t row = 0, col = 1;
};
// c (m x n, row stride ldc) = a (m x k) b (k x n) [+ bias (n)] [+ c when `accumulate`]: one oneDNN
// matmul on the operands where they lie (cblas_sgemm for small ones), so a product can read and
// write one column block of a wider matrix. MultiHeadAttention's packed q/k/v projection runs as
// one such product per block: no packed copy of the kernels, and the gradients' products can be
// dealt to the threads (strided_matmuls; bench/RESULTS.md, issue 14 fifth pass). bias may be nullptr.
void strided_matmul(int64_t m, int64_t n, int64_t k, StridedOperand a, StridedOperand b, const float* bias, float* c,
                    int64_t ldc, bool accumulate);
// One product of strided_matmuls. Products of one `chain` run in order on one thread (a chain of
// accumulating products into one c); products of different chains must not overlap in c.
struct StridedProduct {
  int64_t m = 0, n = 0, k = 0;
  StridedOperand a, b;
  const float* bias = nullptr;
  float* c = nullptr;
  int64_t ldc = 0;
  bool accumulate = false;
  int chain = 0;
};
// Runs every product. With several threads and chains that deal out evenly (largest first to the
// least loaded thread, no thread over 1/8 above the mean), each thread runs its chains with
// one-thread products, concurrently: a projection's dx and dW are independent, and oneDNN 2.6 runs
// dW's form (k = 2048) at 130-150 GFLOP/s on two threads, ~90 per thread on one. Otherwise the
// products run in order, each on the whole team.
void strided_matmuls(const std::vector<StridedProduct>& products);

// ---- pooling and batch normalization ---------------------------------------------------------
// A pooling window over 1-3 spatial axes of (batch, spatial..., channels) (channels_last) or
// (batch, channels, spatial...) data. Padding is explicit; "same" pooling pads with pad_left =
// total / 2 and averages over the real entries only (Keras's rule, oneDNN's
// pooling_avg_exclude_padding).
struct PoolingProblem {
  bool max = true;  // else average
  bool channels_last = true;
  int64_t batch = 0, channels = 0;
  Dims in_spatial, out_spatial, kernel, strides, pad_left, pad_right;
};
// The bytes of workspace (the arg-max per output) max pooling writes for its backward; 0 for average.
int64_t pooling_workspace_bytes(const PoolingProblem& p);
// y = pool(x). Writes `workspace` (may be null: no backward wanted) and returns true when it
// did; false when a loop without workspace ran (NaN inputs, which oneDNN's max skips, or a ref:*
// kernel). Channels-last max pooling always runs our own kernels, whose workspace is their own.
bool pooling_forward(const PoolingProblem& p, const float* x, float* y, void* workspace);
// dx = the gradient of pool at x for dy. Max pooling reads the forward's workspace when
// pooling_forward wrote one (pass null otherwise), else sends each window's gradient to its
// first largest entry of x (as XLA's select-and-scatter does); average pooling reads neither.
void pooling_backward(const PoolingProblem& p, const float* x, const float* dy, float* dx, const void* workspace);
// out (pool's output shape) = g at each window's first largest entry of x: the derivative of
// max pooling's backward with respect to dy.
void max_pool_select(const PoolingProblem& p, const float* x, const float* g, float* out);

// Batch statistics over every axis but the channels of x, viewed as (batch, spatial, channels)
// when channels_last, else (batch, channels, spatial).
struct BatchNormProblem {
  int64_t batch = 0, channels = 0, spatial = 1;
  bool channels_last = true;
  float epsilon = 1e-3f;
};
// y = (x - mean) / sqrt(variance + epsilon) * gamma + beta, with the batch mean and the biased
// batch variance, which it also writes (`channels` entries each).
void batch_norm_forward(const BatchNormProblem& p, const float* x, const float* gamma, const float* beta, float* y,
                        float* mean, float* variance);
// dx, dgamma and dbeta of batch_norm_forward for dy (the statistics being functions of x).
void batch_norm_backward(const BatchNormProblem& p, const float* x, const float* mean, const float* variance,
                         const float* dy, const float* gamma, float* dx, float* dgamma, float* dbeta);

// ---- recurrent sequences (core/backend/recurrent.cpp) ---------------------------------------
// A whole recurrent layer over a sequence, forward and backward, in Keras's layouts: x (batch,
// time, input), states (batch, units), kernel (input, G units), recurrent kernel (units, G units)
// with the G gates in Keras's order (RecurrentCell), bias (G units), or (2, G units) [input;
// recurrent] for gru_reset_after. `reverse` is Keras's go_backwards: step s reads x at time
// T-1-s and the sequence is written in step order (sequence[:, s] = h after step s).
//
// oneDNN 2.6 has RNN primitives, but on CPUs without AVX-512 every one of them (LSTM, GRU,
// LBR-GRU, vanilla; forward and backward; any weights format) is its "ref" implementation
// (bench/RESULTS.md, "Recurrent sequences"), so this is our own loop: per step our own product
// against the input and recurrent kernels packed once per call (each thread running all steps of
// its own batch rows), the gate arithmetic in vectorised row kernels
// (detail/recurrent_cell_kernels.h), and the weight gradients as single products over all steps
// on the same tile.
struct RecurrentGeometry {
  RecurrentCell cell = RecurrentCell::lstm;
  EltwiseOp activation = EltwiseOp::tanh;  // simple only: tanh, relu (alpha 0) or sigmoid
  int64_t batch = 0, time = 0, input = 0, units = 0;
  bool reverse = false;
};
int64_t recurrent_gate_count(RecurrentCell cell);  // G: 4, 3, 3, 1
// Floats of the workspace the forward fills and the backward reads.
int64_t recurrent_workspace_size(const RecurrentGeometry& g);
// The operands; h0, c0 (lstm only) and bias may be nullptr (zeros).
struct RecurrentOperands {
  const float *x = nullptr, *h0 = nullptr, *c0 = nullptr, *kernel = nullptr, *recurrent_kernel = nullptr,
              *bias = nullptr;
};
// sequence (batch, time, units); last_c (batch, units) for lstm (else nullptr). The last h is
// sequence[:, time - 1].
void recurrent_forward(const RecurrentGeometry& g, const RecurrentOperands& in, float* sequence, float* last_c,
                       float* workspace);
// Gradients from d_sequence, d_last_h and d_last_c (each may be nullptr: zeros), written to the
// non-null outputs; sequence and workspace are the forward's.
struct RecurrentGradients {
  float *dx = nullptr, *dh0 = nullptr, *dc0 = nullptr, *dkernel = nullptr, *drecurrent_kernel = nullptr,
        *dbias = nullptr;
};
void recurrent_backward(const RecurrentGeometry& g, const RecurrentOperands& in, const float* sequence,
                        const float* workspace, const float* d_sequence, const float* d_last_h, const float* d_last_c,
                        const RecurrentGradients& out);

// ---- reductions --------------------------------------------------------------------------

// out = reduce(x) over `axes` (sorted, unique, each in [0, rank)); out holds the kept axes in
// order (its element count is the product of the kept dims). An empty reduction gives
// 0 (sum), NaN (mean), -inf (max) or +inf (min), as NumPy's identities.
void reduce(ReduceOp op, const float* x, const Dims& shape, const std::vector<int>& axes, float* out);

// ---- layout ------------------------------------------------------------------------------
// out = x with its axes permuted: out.shape[i] = shape[perm[i]].
void permute(const float* x, const Dims& shape, const std::vector<int>& perm, float* out);

// ---- indexing ----------------------------------------------------------------------------
// Every indexing call sees a tensor as (outer, axis, inner): the dims before, at and after the
// axis it works on.
struct AxisView {
  int64_t outer = 1, axis = 1, inner = 1;
};
AxisView axis_view(const Dims& shape, int axis);

// out (outer, count, inner) = x (outer, x_axis, inner) at axis positions start + i * step.
void slice_copy(const float* x, const AxisView& x_view, int64_t start, int64_t step, float* out, int64_t count);
// out (outer, out_axis, inner) at positions start + i * step = src (outer, count, inner); the
// other positions of out are left as they are.
void slice_assign(const float* src, int64_t count, float* out, const AxisView& out_view, int64_t start,
                  int64_t step);
// out (outer, n, inner) = x (outer, x_axis, inner) at axis positions indices[0..n) (already
// non-negative and in range; stored as floats).
void gather(const float* x, const AxisView& x_view, const float* indices, int64_t n, float* out);
// out (outer, out_axis, inner) at indices[i] += src (outer, n, inner); repeated indices add up.
void scatter_add(const float* src, const float* indices, int64_t n, float* out, const AxisView& out_view);
// out (outer, inner) = the first index of the largest value along the axis.
void argmax(const float* x, const AxisView& view, float* out);

// out[0:n] = x[0:n] (parallel for large n).
void copy(const float* x, float* out, int64_t n);
// out[0:n] = value.
void fill(float* out, int64_t n, float value);

// ---- seeded random fills (core/random.h) -----------------------------------------------------
// Element i depends only on (seed, i): the same values at any thread count.
uint32_t philox_bits(uint64_t seed, uint64_t counter, uint32_t stream = 0);  // Philox-4x32-10
void fill_normal(float* out, int64_t n, float mean, float stddev, uint64_t seed);
void fill_uniform(float* out, int64_t n, float minval, float maxval, uint64_t seed);  // [minval, maxval)
void fill_truncated_normal(float* out, int64_t n, float mean, float stddev, uint64_t seed);  // within 2 stddev
// 0 or 1 / (1 - rate); element i draws counter first_counter + i (a data-parallel shard of a
// batch starts where its rows start in the whole batch).
void fill_dropout_mask(float* out, int64_t n, float rate, uint64_t seed, uint64_t first_counter = 0);

// ---- collectives across processes (core/backend/collectives.cpp, Open MPI) -------------------
// MPI_COMM_WORLD, called from the main thread only (MPI_THREAD_FUNNELED). Every failure comes
// back as a std::runtime_error carrying MPI's own text (md::Error one level up): the communicator uses MPI_ERRORS_RETURN, so
// nothing aborts silently. Buffers longer than MPI's int counts are sent in pieces.
// True when mpirun (or another PMIx/PMI launcher) started this process.
bool mpi_launched();
// Whether MPI_Init has run in this process (by anyone).
bool mpi_initialized();
// MPI_Init_thread(FUNNELED) and MPI_ERRORS_RETURN on MPI_COMM_WORLD; at exit MPI_Finalize, or,
// when the process exits with a non-zero status, MPI_Abort of the whole job (no process hangs
// waiting for one that gave up).
void mpi_init();
int mpi_rank();
int mpi_size();
// In place: data = the element-wise sum over all processes.
void mpi_allreduce_sum(float* data, int64_t n);
void mpi_allreduce_sum(double* data, int64_t n);
// data = root's data, everywhere.
void mpi_broadcast(float* data, int64_t n, int root);
// recv[r * n : (r + 1) * n] = process r's send[0 : n], everywhere (recv holds n * size).
void mpi_allgather(const float* send, int64_t n, float* recv);
void mpi_allgather(const double* send, int64_t n, double* recv);
void mpi_allgather(const uint64_t* send, int64_t n, uint64_t* recv);
// Like mpi_allgather, with counts[r] elements from process r, laid out back to back.
void mpi_allgatherv(const float* send, int64_t n, float* recv, const std::vector<int64_t>& counts);
void mpi_barrier();
// Ends every process of the job with `code` (MPI_Abort): for a process that cannot go on
// while the others wait in a collective.
[[noreturn]] void mpi_abort(int code);

// ---- optimizer updates (optim/, through core/compute.h) -----------------------------------------
// In place, one pass over the weights `w`, their slots and the gradient `g` (n elements each),
// in float32 as Keras computes them; a null slot is one the optimizer does not keep.
// SGD: m = mu m - lr g; w += m (or, Nesterov, w += mu m - lr g). Without momentum: w -= lr g.
void sgd_update(float* w, float* momentum, const float* g, int64_t n, float learning_rate, float mu, bool nesterov);
// Adam: m += (g - m)(1 - b1); v += (g^2 - v)(1 - b2); [v_hat = max(v_hat, v)];
// w -= m alpha / (sqrt(v or v_hat) + eps), alpha the bias-corrected rate.
void adam_update(float* w, float* m, float* v, float* v_hat, const float* g, int64_t n, const AdamStep& step);
// One variable of adam_update_all: its n weights, slots (v_hat null without AMSGrad) and gradient.
struct AdamOperands {
  float* w = nullptr;
  float* m = nullptr;
  float* v = nullptr;
  float* v_hat = nullptr;
  const float* g = nullptr;
  int64_t n = 0;
};
// adam_update of several variables with one step, in one pass split across the threads as one
// range (an optimizer step over a whole model); the same result as one call per variable.
void adam_update_all(std::span<const AdamOperands> variables, const AdamStep& step);
// RMSprop: vel = rho vel + (1 - rho) g^2; [avg = rho avg + (1 - rho) g];
// step = lr g / sqrt(vel [- avg^2] + eps); [mom = mu mom + step]; w -= mom or step.
void rmsprop_update(float* w, float* velocity, float* momentum, float* average, const float* g, int64_t n,
                    const RmspropStep& step);
// Adagrad: acc += g^2; w -= lr g / sqrt(acc + eps).
void adagrad_update(float* w, float* accumulator, const float* g, int64_t n, float learning_rate, float epsilon);
// Decoupled weight decay: w = w - w * weight_decay * learning_rate.
void decay_weights(float* w, int64_t n, float weight_decay, float learning_rate);

}  // namespace minidl::backend
