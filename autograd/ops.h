#pragma once
// Differentiable ops: md::ops::*. Each one computes through core/backend (oneDNN/OpenBLAS or
// our fused loops) and, when a GradientTape watches an input, records its gradient rule.
// Binary ops broadcast NumPy-style, and their gradients are summed back to each input's
// shape. Axes may be negative.
//
//   md::Tensor h = md::ops::relu(md::ops::matmul(x, w.value()) + b.value());
//   md::Tensor p = md::ops::softmax(h, /*axis=*/-1);
//   md::Tensor loss = md::ops::mean(md::ops::square(p - y));
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl::ops {

// ---- elementwise, binary (broadcasting) ----------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor subtract(const Tensor& a, const Tensor& b);
Tensor multiply(const Tensor& a, const Tensor& b);
Tensor divide(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);  // ties send the gradient to a
Tensor minimum(const Tensor& a, const Tensor& b);  // ties send the gradient to a
Tensor add(const Tensor& a, float b);
Tensor subtract(const Tensor& a, float b);
Tensor multiply(const Tensor& a, float b);
Tensor divide(const Tensor& a, float b);
Tensor power(const Tensor& x, float exponent);  // x^exponent

// ---- elementwise, unary ---------------------------------------------------------------------
Tensor negative(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor softplus(const Tensor& x);                          // log(1 + exp(x))
// keras.ops.gelu: the tanh approximation by default, as Keras's op (the default lives in the op's
// definition, autograd/ops_unary.cpp); the "gelu" activation is the exact erf form, gelu(x, false).
Tensor gelu(const Tensor& x);
Tensor gelu(const Tensor& x, bool approximate);
Tensor clip(const Tensor& x, float min_value, float max_value);

// ---- comparisons and logic (not differentiable; bool results) ------------------------------
Tensor equal(const Tensor& a, const Tensor& b);
Tensor not_equal(const Tensor& a, const Tensor& b);
Tensor less(const Tensor& a, const Tensor& b);
Tensor less_equal(const Tensor& a, const Tensor& b);
Tensor greater(const Tensor& a, const Tensor& b);
Tensor greater_equal(const Tensor& a, const Tensor& b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& x);
// The index of the largest entry along `axis` (int32; the first one on ties).
Tensor argmax(const Tensor& x, int64_t axis = -1);
// The same values with another dtype; float -> int32 truncates, anything -> bool tests != 0.
Tensor cast(const Tensor& x, DType dtype);

// ---- selection ------------------------------------------------------------------------------
// cond ? a : b, broadcasting all three; the gradient flows to the chosen branch.
Tensor where(const Tensor& condition, const Tensor& a, const Tensor& b);

// ---- reductions (axes = {} means all; keepdims leaves them as size 1) -----------------------
Tensor sum(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
Tensor mean(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
// Ties share the gradient equally, as TensorFlow's reduce_max.
Tensor max(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);
Tensor min(const Tensor& x, const std::vector<int64_t>& axes = {}, bool keepdims = false);

// ---- linear algebra ---------------------------------------------------------------------------
// NumPy matmul, batched over leading dims with broadcasting; the flags transpose the last two
// axes of an operand for free.
Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a = false, bool transpose_b = false);

// ---- convolution -----------------------------------------------------------------------------
// Keras's ops.conv, ops.depthwise_conv, ops.conv_transpose and ops.separable_conv on oneDNN's
// convolution primitives (autograd/ops_conv.cpp). Inputs are (batch, spatial..., channels), or
// (batch, channels, spatial...) with data_format "channels_first", 1 to 3 spatial axes. Kernels
// in Keras's layouts: conv (kernel..., C / groups, filters) with groups = C / kernel.shape[-2];
// depthwise (kernel..., C, depth_multiplier); transpose (kernel..., filters, C); separable's
// pointwise (1..., C * depth_multiplier, filters). strides, dilation_rate and output_padding take
// one value or one per spatial axis; padding "valid" or "same" (and "causal", all of the padding
// before, for conv and depthwise_conv).
//   md::Tensor y = md::ops::conv(x, kernel, {.strides = {2}, .padding = "same"});
struct ConvOptions {
  std::vector<int64_t> strides{1};
  std::string padding = "valid";
  std::string data_format = "channels_last";
  std::vector<int64_t> dilation_rate{1};
  std::optional<std::vector<int64_t>> output_padding{};  // conv_transpose only; none = Keras's default
};
Tensor conv(const Tensor& x, const Tensor& kernel, const ConvOptions& options = {});
Tensor depthwise_conv(const Tensor& x, const Tensor& kernel, const ConvOptions& options = {});
Tensor conv_transpose(const Tensor& x, const Tensor& kernel, const ConvOptions& options = {});
// depthwise_conv with `options`, then a 1x1 conv (stride 1) with the pointwise kernel.
Tensor separable_conv(const Tensor& x, const Tensor& depthwise_kernel, const Tensor& pointwise_kernel,
                      const ConvOptions& options = {});

// ---- softmax -------------------------------------------------------------------------------
Tensor softmax(const Tensor& x, int64_t axis = -1);
Tensor log_softmax(const Tensor& x, int64_t axis = -1);

// ---- pooling and batch normalization ---------------------------------------------------------
// Keras's ops.max_pool / ops.average_pool over the spatial axes of (batch, spatial..., channels)
// ("channels_last") or (batch, channels, spatial...) ("channels_first") inputs of rank 3-5.
// pool_size and strides: one value (repeated) or one per spatial axis; strides {} = pool_size.
// padding "valid" or "same" ("same" averages exclude the padding, as Keras's do). Max pooling
// sends each window's gradient to its first largest entry, as JAX (XLA's select-and-scatter).
//   md::Tensor y = md::ops::max_pool(x, {2, 2});   // (64, 28, 28, 32) -> (64, 14, 14, 32)
Tensor max_pool(const Tensor& x, const std::vector<int64_t>& pool_size, const std::vector<int64_t>& strides = {},
                const std::string& padding = "valid", const std::string& data_format = "channels_last");
Tensor average_pool(const Tensor& x, const std::vector<int64_t>& pool_size, const std::vector<int64_t>& strides = {},
                    const std::string& padding = "valid", const std::string& data_format = "channels_last");
// Batch normalization with the batch's statistics over every axis but `axis` (what
// BatchNormalization computes in training): (x - mean) / sqrt(var + epsilon) * gamma + beta with
// the biased variance, on oneDNN's fused primitives. gamma and beta have shape (x.shape[axis],);
// differentiable in x, gamma and beta (second order through composed ops). `statistics`, when
// given, receives the batch mean and variance (not differentiable).
struct BatchStatistics {
  Tensor mean, variance;
};
Tensor fused_batch_normalization(const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t axis = -1,
                                 float epsilon = 1e-3f, BatchStatistics* statistics = nullptr);
// Keras's ops.batch_normalization: x normalised with the given mean and variance (shape
// (x.shape[axis],)), then scaled and offset (undefined scale/offset: none). Composed of
// differentiable ops, so differentiable in every input.
Tensor batch_normalization(const Tensor& x, const Tensor& mean, const Tensor& variance, int64_t axis,
                           const Tensor& offset = Tensor(), const Tensor& scale = Tensor(), float epsilon = 1e-3f);

// ---- recurrent sequences -----------------------------------------------------------------------
// Keras's LSTM, GRU and SimpleRNN layers over a whole sequence, each one fused op (the fast path of
// the recurrent layers; autograd/ops_recurrent.cpp on core/backend/recurrent.cpp). Weights in
// Keras's layouts, gates in Keras's order: LSTM kernel (in, 4 units) i, f, c, o, recurrent_kernel
// (units, 4 units), bias (4 units); GRU z, r, h with bias (3 units), or (2, 3 units) [input bias;
// recurrent bias] when reset_after; SimpleRNN (in, units). An undefined bias is use_bias=false, an
// undefined h0 or c0 a zero state. The activations are Keras's defaults (sigmoid gates, tanh);
// simple_rnn_sequence takes "tanh", "relu" or "sigmoid" and throws ValueError for any other name
// (the layers then run their composed cell). go_backwards reads the input from its last step and
// returns the sequence in that (reversed) order, as Keras does.
//   auto out = md::ops::lstm_sequence(x, {}, {}, kernel, recurrent_kernel, bias, false);
//   md::Tensor sequence = out[0], last_h = out[1], last_c = out[2];
// Gradients reach x, the states and every weight; a second derivative (a tape recording the
// backward pass) differentiates the same equations composed from md::ops, step by step.
// On symbolic inputs they give the output specs inside a layer's shape inference and throw
// otherwise (they have no Keras op class to trace as).
// x (batch, time, in); returns {sequence (batch, time, units), last h (batch, units), last c}
std::vector<Tensor> lstm_sequence(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& kernel,
                                  const Tensor& recurrent_kernel, const Tensor& bias, bool go_backwards);
// Returns {sequence, last h}.
std::vector<Tensor> gru_sequence(const Tensor& x, const Tensor& h0, const Tensor& kernel,
                                 const Tensor& recurrent_kernel, const Tensor& bias, bool reset_after,
                                 bool go_backwards);
// Returns {sequence, last h}.
std::vector<Tensor> simple_rnn_sequence(const Tensor& x, const Tensor& h0, const Tensor& kernel,
                                        const Tensor& recurrent_kernel, const Tensor& bias,
                                        const std::string& activation, bool go_backwards);

// ---- dot-product attention -----------------------------------------------------------------------
// Keras's ops.dot_product_attention on its layouts, as one fused op (autograd/ops_dot_attention.cpp
// on core/backend/dot_attention.cpp: per (batch, head) block, strided products in place, no head
// transposes), plus what MultiHeadAttention's unfused path adds: dropout on the weights, Keras's
// Softmax-layer zeroing of masked weights, and the weights themselves.
//   query (B, T, N, H), key (B, S, N, H), value (B, S, N, Hv) -> output (B, T, N, Hv)
//   scores = scale q k^T (scale: 1 / sqrt(H) unless given), -1e9 where masked (Keras's constant:
//   a fully masked row attends uniformly); weights (B, N, T, S) = softmax over S
//   output = dropout(weights) v
//   auto [out, weights] = md::ops::dot_product_attention(q, k, v, {.mask = keep, .is_causal = true});
// Gradients reach query, key and value (and flow from the weights when return_weights); a second
// derivative (a tape recording the backward pass) differentiates dot_product_attention_reference.
struct DotProductAttentionOptions {
  Tensor mask{};                 // non-zero = attend; broadcasts right-aligned to (B, N, T, S); undefined: none
  std::optional<float> scale{};  // none: 1 / sqrt(H)
  bool is_causal = false;        // query i attends to keys j <= i
  float dropout_rate = 0.0f;     // inverted dropout on the weights (ops::dropout's multipliers)
  uint64_t dropout_seed = 0;
  bool zero_masked_weights = false;  // masked weights become 0 after the softmax (Keras's Softmax layer)
  bool return_weights = false;       // the weights are differentiable outputs (else returned, not recorded)
};
// Returns {output, weights before dropout}.
std::pair<Tensor, Tensor> dot_product_attention(const Tensor& query, const Tensor& key, const Tensor& value,
                                                const DotProductAttentionOptions& options = {});
// The same from generic ops (transpose, matmul, where, softmax, dropout): the reference the fused
// op is tested against, and what symbolic inputs trace.
std::pair<Tensor, Tensor> dot_product_attention_reference(const Tensor& query, const Tensor& key, const Tensor& value,
                                                          const DotProductAttentionOptions& options = {});
// x (..., k) @ w (k, n) + bias (n) as one fused op (the bias added by the product itself), for
// the projections of EinsumDense and MultiHeadAttention. Differentiable in all three (to any
// order: its gradient is made of matmul and sum); symbolic inputs trace as matmul + add.
Tensor matmul_bias(const Tensor& x, const Tensor& w, const Tensor& bias);

// ---- packed self-attention: one product for the query, key and value projections ------------
// What MultiHeadAttention runs when it is called with query = value (= key), as PyTorch's
// nn.MultiheadAttention does (autograd/ops_dot_attention.cpp on compute::packed_attention):
//   md::Tensor qkv = md::ops::packed_projection(x, {wq, wk, wv}, {bq, bk, bv});   // (B, T, sum n_i)
//   auto [out, weights] = md::ops::packed_self_attention(qkv, {.heads = 4, .key_dim = 32, .value_dim = 32});
// packed_projection: each kernel (k, ...) flattened to (k, n_i), each bias of n_i elements (or no
// biases): y = x [W_1 | W_2 | ...] + [b_1 | b_2 | ...]. Its gradient is one product for dx, one for
// the packed kernel gradient (split afterwards) and one column sum for the biases, not one per
// projection plus the sums of three dx; made of ops, so it differentiates again. At most three
// kernels. Symbolic inputs trace as one matmul per kernel.
Tensor packed_projection(const Tensor& x, const std::vector<Tensor>& kernels, const std::vector<Tensor>& biases = {});
struct PackedHeads {
  int64_t heads = 0, key_dim = 0, value_dim = 0;
};
// qkv (B, T, heads (2 key_dim + value_dim)), rows [query (heads, key_dim) | key | value]: the
// attention of dot_product_attention on the three (T = S), read in place; the gradient reaches
// qkv as one tensor. Returns {output (B, T, heads, value_dim), weights before dropout}.
std::pair<Tensor, Tensor> packed_self_attention(const Tensor& qkv, const PackedHeads& heads,
                                                const DotProductAttentionOptions& options = {});
// The same from slices of qkv and dot_product_attention_reference (for tests, symbolic inputs
// and second derivatives); T must be known.
std::pair<Tensor, Tensor> packed_self_attention_reference(const Tensor& qkv, const PackedHeads& heads,
                                                          const DotProductAttentionOptions& options = {});

// ---- shapes ----------------------------------------------------------------------------------
Tensor reshape(const Tensor& x, const Shape& shape);  // one dim may be -1
Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm = {});  // {} reverses
Tensor swapaxes(const Tensor& x, int64_t axis1, int64_t axis2);
Tensor expand_dims(const Tensor& x, int64_t axis);
Tensor squeeze(const Tensor& x, std::optional<int64_t> axis = std::nullopt);  // all size-1 axes by default
Tensor broadcast_to(const Tensor& x, const Shape& shape);
// Sums x down to `shape` (the inverse of broadcasting); used by every broadcasting gradient.
Tensor sum_to(const Tensor& x, const Shape& shape);
Tensor concatenate(const std::vector<Tensor>& tensors, int64_t axis = 0);
Tensor stack(const std::vector<Tensor>& tensors, int64_t axis = 0);

// Basic slicing along one axis: x[..., start:stop:step, ...] with Python's rules (negative and
// out-of-range bounds clamp; step > 0). std::nullopt = the end.
Tensor slice(const Tensor& x, int64_t axis, std::optional<int64_t> start, std::optional<int64_t> stop,
             int64_t step = 1);
// x[index] along axis 0 with that axis removed (negative counts from the end).
Tensor index(const Tensor& x, int64_t i);

// Gathers entries along `axis` (NumPy take): out.shape = x.shape[:axis] + indices.shape +
// x.shape[axis+1:]. Negative indices count from the end; the gradient scatters back, adding.
Tensor take(const Tensor& x, const Tensor& indices, int64_t axis = 0);
// One-hot float32 rows for integer indices: shape indices.shape + (depth,). Out-of-range
// indices (including negative ones) give all-zero rows, as Keras's one_hot.
Tensor one_hot(const Tensor& indices, int64_t depth);

// ---- regularisation ------------------------------------------------------------------------
// Inverted dropout: zeroes each entry with probability `rate` and scales the rest by
// 1 / (1 - rate). The mask depends only on (seed, element index).
Tensor dropout(const Tensor& x, float rate, uint64_t seed);

}  // namespace minidl::ops

namespace minidl {

// Operators on tensors call the ops above, so they are differentiable and broadcast.
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& x);
Tensor operator+(const Tensor& a, float b);
Tensor operator-(const Tensor& a, float b);
Tensor operator*(const Tensor& a, float b);
Tensor operator/(const Tensor& a, float b);
Tensor operator+(float a, const Tensor& b);
Tensor operator-(float a, const Tensor& b);
Tensor operator*(float a, const Tensor& b);
Tensor operator/(float a, const Tensor& b);

}  // namespace minidl
