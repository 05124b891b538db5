#pragma once
// Tensor-level compute on concrete tensors: shape checks, output allocation, then the backend.
// These are not recorded for gradients; the differentiable md::ops (autograd/) call them.
//   md::Tensor c = md::compute::binary(md::backend::BinaryOp::add, a, b);   // broadcasting
//   md::Tensor s = md::compute::reduce(md::backend::ReduceOp::sum, c, {0}, /*keepdims=*/false);
#include <cstdint>
#include <span>
#include <vector>

#include "minidl/core/backend/kinds.h"
#include "minidl/core/tensor.h"

namespace minidl::compute {

using backend::BinaryOp;
using backend::EltwiseOp;
using backend::ReduceOp;

// a (op) b with NumPy broadcasting. Comparisons give bool tensors. Throws ShapeError naming
// both shapes when they do not broadcast.
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
// The dtype binary(op, a, b) gives: bool for comparisons, float32 for division and mixed
// dtypes, else the common dtype.
DType binary_result_dtype(BinaryOp op, DType a, DType b);

// a (op) scalar.
Tensor binary(BinaryOp op, const Tensor& a, float b);

Tensor eltwise(EltwiseOp op, const Tensor& x, float alpha = 0.0f, float beta = 0.0f);
// dx = dy * f'(x), from the forward input x or output y (see backend::eltwise_backward).
Tensor eltwise_backward(EltwiseOp op, const Tensor& x, const Tensor& y, const Tensor& dy, float alpha = 0.0f,
                        float beta = 0.0f);
// True when eltwise_backward reads y (tanh, exp, sigmoid, sqrt) rather than x.
bool eltwise_backward_uses_output(EltwiseOp op);

Tensor softmax(const Tensor& x, int64_t axis, bool log = false);
Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t axis, bool log = false);

// ---- pooling and batch normalization ---------------------------------------------------------
// A pooling window as Keras's ops.max_pool/average_pool take it, with one entry per spatial
// axis of x ((batch, spatial..., channels) when channels_last, else (batch, channels,
// spatial...)); "same" pads as TensorFlow and XLA do (the smaller half before).
struct PoolingSpec {
  std::vector<int64_t> pool_size, strides;
  bool same_padding = false;
  bool channels_last = true;
};
// The output shape (None dims stay None); ValueError with Keras's text for a window that does
// not fit ("Computed output size would be zero or negative. ...").
Shape pooling_output_shape(const Shape& x, const PoolingSpec& spec);
struct PoolingResult {
  Tensor y;
  Tensor workspace;  // max pooling's arg-max record for the backward; undefined when none was written
};
// Max (or average) pooling of x. want_workspace asks max pooling to keep its arg-max record.
PoolingResult pool(const Tensor& x, const PoolingSpec& spec, bool max, bool want_workspace = false);
// dx of pool(x) for dy (x's shape); `workspace` is the forward's (may be undefined).
Tensor pool_backward(const Tensor& x, const Tensor& dy, const Tensor& workspace, const PoolingSpec& spec, bool max);
// g (x's shape) read at each window's first largest entry of x: pool's output shape.
Tensor max_pool_select(const Tensor& x, const Tensor& g, const PoolingSpec& spec);

// Batch normalization with batch statistics over every axis of x but `axis`: y, and the
// batch mean and biased variance (shape (channels,)). gamma and beta have shape (channels,).
struct BatchNormResult {
  Tensor y, mean, variance;
};
BatchNormResult batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t axis, float epsilon);
struct BatchNormGrads {
  Tensor dx, dgamma, dbeta;
};
BatchNormGrads batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& dy,
                                   const Tensor& gamma, int64_t axis, float epsilon);

// ---- recurrent sequences (core/backend/recurrent.cpp) ------------------------------------------
// A whole recurrent layer over x (batch, time, input) with Keras's weights (backend.h has the
// equations' layout): kernel (input, G units), recurrent_kernel (units, G units), bias (G units),
// (2, G units) for gru_reset_after, or undefined (zeros); h0 and c0 (batch, units) or undefined
// (zeros), c0 for lstm only. `reverse` is Keras's go_backwards (the sequence in step order).
using backend::RecurrentCell;
struct RecurrentProblem {
  RecurrentCell cell = RecurrentCell::lstm;
  EltwiseOp activation = EltwiseOp::tanh;  // simple only: tanh, relu or sigmoid
  Tensor x{}, h0{}, c0{}, kernel{}, recurrent_kernel{}, bias{};
  bool reverse = false;
};
struct RecurrentResult {
  Tensor sequence{}, last_h{}, last_c{};  // (batch, time, units), (batch, units), (batch, units) or undefined
  Tensor workspace{};                     // what recurrent_backward reads
};
// Throws ShapeError naming the shapes that do not fit together.
RecurrentResult recurrent_forward(const RecurrentProblem& p);
struct RecurrentGrads {
  Tensor dx{}, dh0{}, dc0{}, dkernel{}, drecurrent_kernel{}, dbias{};  // undefined where not wanted
};
// The gradients wanted (in RecurrentGrads order) from the outputs' gradients (each may be
// undefined: zeros), given the forward's result.
RecurrentGrads recurrent_backward(const RecurrentProblem& p, const RecurrentResult& forward, const Tensor& d_sequence,
                                  const Tensor& d_last_h, const Tensor& d_last_c, const std::vector<bool>& wanted);

// Reduces over `axes` (empty = all). keepdims leaves reduced axes as size 1.
Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);

// NumPy matmul: batched over leading dims (broadcast), 1-D operands promoted and squeezed.
// The transpose flags swap the last two axes of a (b) first, for free.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);
// The shape matmul(a, b) would have; throws ShapeError naming both shapes.
Shape matmul_shape(const Shape& a, const Shape& b, bool transpose_a = false, bool transpose_b = false);

// ---- convolution (core/backend/convolution.cpp) ----------------------------------------------
// An N-d convolution with explicit geometry: x (batch, spatial..., C) (or (batch, C, spatial...)
// when channels_first), kernel in Keras's layout (kernel..., C / groups, filters), groups =
// C / kernel.shape[-2]. pad_after may be negative. The md::ops convolutions (autograd/ops_conv.cpp)
// turn Keras's padding strings into these numbers.
struct ConvParams {
  std::vector<int64_t> strides, dilation, pad_before, pad_after;  // one per spatial axis
  bool channels_first = false;
};
// The output shape (None where an input dim is None); throws ValueError naming the shapes when the
// kernel does not fit the input (rank, channels, a non-positive output size).
Shape conv_output_shape(const Shape& x, const Shape& kernel, const ConvParams& p);
Tensor conv(const Tensor& x, const Tensor& kernel, const ConvParams& p);
// The gradient of conv for x (of shape x_shape) from dy, and for the kernel (of shape kernel_shape).
Tensor conv_backward_data(const Tensor& kernel, const Tensor& dy, const Shape& x_shape, const ConvParams& p);
Tensor conv_backward_weights(const Tensor& x, const Tensor& dy, const Shape& kernel_shape, const ConvParams& p);

// Axes permuted: result.shape[i] = x.shape[perm[i]]. An empty perm reverses the axes.
Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm = {});

Tensor broadcast_to(const Tensor& x, const Shape& shape);

// cond ? a : b elementwise with broadcasting.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- indexing along one axis (the shape and gather ops of autograd/) ------------------------
// x at positions start + i * step (i < count) along `axis` (0 <= axis < rank, step > 0).
Tensor slice(const Tensor& x, int axis, int64_t start, int64_t step, int64_t count);
// Writes src into `out` at positions start + i * step along `axis` (in place; src has out's
// shape except along axis). The other positions of out keep their values.
void slice_assign(const Tensor& src, const Tensor& out, int axis, int64_t start, int64_t step);
// x gathered along `axis` at `indices` (non-negative, in range): shape x.shape[:axis] +
// indices.shape + x.shape[axis+1:].
Tensor gather(const Tensor& x, int axis, const Tensor& indices);
// out (in place) += src scattered along `axis` at `indices` (the inverse of gather; repeats add).
void scatter_add(const Tensor& src, const Tensor& indices, const Tensor& out, int axis);
// The first index of the largest value along `axis` (int32, that axis removed).
Tensor argmax(const Tensor& x, int axis);

// ---- in-place updates of existing storage (Variable::assign and friends) ----------------------
void copy_into(const Tensor& src, const Tensor& dst);  // same element count
// dst = dst (op) src, src broadcasting to dst's shape.
void binary_into(BinaryOp op, const Tensor& dst, const Tensor& src);

// ---- fused additive-attention scores (core/backend/attention_kernels.h) ------------------------
// scores (B, Tq, Tv) = sum_d scale[d] * tanh(q[b,i,d] + k[b,j,d]) for q (B, Tq, D), k (B, Tv, D),
// with Keras's -1e9 where value_mask (B, Tv) is 0 or, when causal, where j > i. scale and
// value_mask may be undefined (ones; no mask).
struct AdditiveScores {
  Tensor query, key, scale, value_mask;
  bool causal = false;
};
Tensor additive_scores(const AdditiveScores& problem);
// The gradients of additive_scores from d_scores (B, Tq, Tv), written into dq, dk and dscale
// (each undefined when not wanted).
void additive_scores_backward(const AdditiveScores& problem, const Tensor& d_scores, const Tensor& dq,
                              const Tensor& dk, const Tensor& dscale);

// ---- collectives across processes (core/backend/collectives.cpp, Open MPI) --------------------
// What md::distribution (models/distribution.h) builds data-parallel training on: MPI_COMM_WORLD
// from the main thread. Failures are md::Error with MPI's text (never a silent abort).
namespace collectives {
bool launched();     // started by mpirun (or another PMI launcher)
bool initialized();  // MPI_Init has run in this process, by minidl or anyone else
// MPI_Init_thread (funneled), MPI_ERRORS_RETURN; at exit MPI_Finalize, or MPI_Abort of the whole
// job when the process exits non-zero (the others may be waiting for it in a collective).
void init();
int rank();
int size();
void allreduce_sum(std::span<float> data);  // in place, everywhere
void allreduce_sum(std::span<double> data);
void broadcast(std::span<float> data, int root);
// Process r's `send` at [r * send.size(), ...) of the result, everywhere.
std::vector<float> allgather(std::span<const float> send);
std::vector<double> allgather(std::span<const double> send);
std::vector<uint64_t> allgather(std::span<const uint64_t> send);
// counts[r] elements from process r, back to back (counts[rank()] == send.size()).
std::vector<float> allgatherv(std::span<const float> send, const std::vector<int64_t>& counts);
void barrier();
[[noreturn]] void abort(int code);  // ends every process of the job
}  // namespace collectives

// ---- multi-head attention: dot-product attention, biased projections ------------------------
// (core/backend/dot_attention.cpp, matmul_bias.cpp)
// Multi-head attention on Keras's projected layouts (the equations are in backend.h): query
// (B, T, N, H), key (B, S, N, H), value (B, S, N, Hv) -> output (B, T, N, Hv) and weights
// (B, N, T, S). `mask` (any dtype, non-zero = keep) broadcasts right-aligned against (B, N, T, S);
// `dropout` holds (B, N, T, S) multipliers; both may be undefined. ShapeError names the shapes
// that do not fit.
struct DotAttention {
  Tensor query, key, value, mask, dropout;
  float scale = 1.0f;
  bool causal = false, zero_masked = false;
};
struct DotAttentionResult {
  Tensor output, weights;
};
DotAttentionResult dot_attention(const DotAttention& problem);
// The gradients wanted (want_query, want_key, want_value; the others stay undefined) from d_out
// and d_weights (the gradient reaching the returned weights; may be undefined), given the
// forward's weights.
struct DotAttentionGrads {
  Tensor query, key, value;
};
DotAttentionGrads dot_attention_backward(const DotAttention& problem, const Tensor& weights, const Tensor& d_out,
                                         const Tensor& d_weights, bool want_query, bool want_key, bool want_value);
// x (..., k) @ w (k, n) + bias (n): the leading axes of x are rows. ShapeError names the shapes.
Tensor matmul_bias(const Tensor& x, const Tensor& w, const Tensor& bias);

// ---- packed self-attention: q, k and v from one product (core/backend/dot_attention.cpp) ----
// MultiHeadAttention's self-attention projects x once with the three kernels side by side:
// qkv (B, T, N (2H + Hv)), each row [query (N, H) | key (N, H) | value (N, Hv)]. The attention
// reads the three in place (row strides), and its backward writes dq, dk and dv into one d_qkv
// of qkv's shape, the operand of one product for dx and one for the packed kernel gradient.
// mask, dropout and the flags mean what they mean in DotAttention.
struct PackedAttention {
  Tensor qkv, mask, dropout;
  int64_t heads = 0, key_dim = 0, value_dim = 0;
  float scale = 1.0f;
  bool causal = false, zero_masked = false;
};
DotAttentionResult packed_attention(const PackedAttention& problem);
// d_qkv from the forward's weights, d_out and d_weights (may be undefined).
Tensor packed_attention_backward(const PackedAttention& problem, const Tensor& weights, const Tensor& d_out,
                                 const Tensor& d_weights);
// The parts, each seen as (rows, n_i) (every part has `rows` * n_i elements), side by side:
// (rows, sum n_i). Builds the packed kernel (rows = the input features) and bias (rows = 1).
Tensor pack_columns(const std::vector<Tensor>& parts, int64_t rows);

// ---- packed projection: one product per block (core/compute_packed_projection.cpp) ----------
// x (..., k) against kernels w_i (each seen as (k, n_i)) and biases b_i (n_i elements; none, or one
// per kernel): y (..., sum n_i), the blocks x w_i + b_i side by side, each its own product written
// in place (backend::strided_matmuls: no packed copy of the kernels; a share of rows per thread).
Tensor packed_projection(const Tensor& x, const std::vector<Tensor>& kernels, const std::vector<Tensor>& biases);
// From dy (..., sum n_i): dx = sum_i dy_i w_i^T (x's shape), dw_i = x^T dy_i (w_i's shape) and db_i
// = the column sums of dy_i (b_i's shape, given by bias_shapes); each only when wanted (undefined
// otherwise).
struct PackedProjectionGrads {
  Tensor x;
  std::vector<Tensor> kernels, biases;
};
PackedProjectionGrads packed_projection_backward(const Tensor& x, const std::vector<Tensor>& kernels, const Tensor& dy,
                                                 bool want_x, bool want_kernels,
                                                 const std::vector<Shape>& bias_shapes);

// ---- optimizer updates (optim/) ------------------------------------------------------------
// In place, one pass: the weights `w`, their slots and the gradient `g` must hold the same
// number of elements (ShapeError otherwise); an undefined slot is one the optimizer does not
// keep. The formulas are in core/backend/backend.h. Callers bump the storage versions.
using backend::AdamStep;
using backend::RmspropStep;
void sgd_update(const Tensor& w, const Tensor& momentum, const Tensor& g, float learning_rate, float mu,
                bool nesterov);
void adam_update(const Tensor& w, const Tensor& m, const Tensor& v, const Tensor& v_hat, const Tensor& g,
                 const AdamStep& step);
// adam_update of several variables with the same step in one pass (backend::adam_update_all),
// each checked as adam_update checks it.
struct AdamTensors {
  Tensor w, m, v, v_hat, g;
};
void adam_update_all(const std::vector<AdamTensors>& variables, const AdamStep& step);
void rmsprop_update(const Tensor& w, const Tensor& velocity, const Tensor& momentum, const Tensor& average,
                    const Tensor& g, const RmspropStep& step);
void adagrad_update(const Tensor& w, const Tensor& accumulator, const Tensor& g, float learning_rate, float epsilon);
void decay_weights(const Tensor& w, float weight_decay, float learning_rate);

}  // namespace minidl::compute
