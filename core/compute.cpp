#include "minidl/core/compute.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>

#include "minidl/core/backend/attention_kernels.h"
#include "minidl/core/backend/backend.h"
#include "minidl/core/error.h"

namespace minidl::compute {
namespace {

bool is_comparison(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le ||
         op == BinaryOp::gt || op == BinaryOp::ge;
}


void check_same_shape(const char* what, const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) {
    throw ShapeError(fmt::format("{}: shapes {} and {} must be equal.", what, shape_to_string(a.shape()),
                                 shape_to_string(b.shape())));
  }
}

}  // namespace

DType binary_result_dtype(BinaryOp op, DType a, DType b) {
  if (is_comparison(op)) return DType::bool_;
  if (op == BinaryOp::div) return DType::float32;
  return a == b ? a : DType::float32;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape());
  Tensor out = Tensor::empty(out_shape, binary_result_dtype(op, a.dtype(), b.dtype()));
  backend::binary(op, a.data(), a.shape(), b.data(), b.shape(), out.mutable_data(), out_shape);
  return out;
}

Tensor binary(BinaryOp op, const Tensor& a, float b) {
  const Tensor scalar = Tensor::scalar(b, a.dtype());
  return binary(op, a, scalar);
}

Tensor eltwise(EltwiseOp op, const Tensor& x, float alpha, float beta) {
  Tensor out = Tensor::empty(x.shape());
  backend::eltwise_forward(op, x.data(), out.mutable_data(), x.size(), alpha, beta);
  return out;
}

Tensor eltwise_backward(EltwiseOp op, const Tensor& x, const Tensor& y, const Tensor& dy, float alpha, float beta) {
  const bool uses_output = backend::eltwise_backward_uses_output(op);
  const Tensor& saved = uses_output ? y : x;
  check_same_shape("eltwise_backward", saved, dy);
  Tensor dx = Tensor::empty(dy.shape());
  backend::eltwise_backward(op, uses_output ? nullptr : x.data(), uses_output ? y.data() : nullptr, dy.data(),
                            dx.mutable_data(), dy.size(), alpha, beta);
  return dx;
}

Tensor softmax(const Tensor& x, int64_t axis, bool log) {
  if (x.ndim() == 0) throw ValueError("softmax needs a tensor of rank >= 1; received a scalar.");
  const int a = normalize_axis(axis, x.ndim());
  Tensor out = Tensor::empty(x.shape());
  backend::softmax_forward(x.data(), out.mutable_data(), x.shape(), a, log);
  return out;
}

Tensor softmax_backward(const Tensor& y, const Tensor& dy, int64_t axis, bool log) {
  check_same_shape("softmax_backward", y, dy);
  const int a = normalize_axis(axis, y.ndim());
  Tensor dx = Tensor::empty(y.shape());
  backend::softmax_backward(y.data(), dy.data(), dx.mutable_data(), y.shape(), a, log);
  return dx;
}

// ---- recurrent sequences ------------------------------------------------------------------------

namespace {

const char* cell_name(RecurrentCell cell) {
  switch (cell) {
    case RecurrentCell::lstm: return "lstm_sequence";
    case RecurrentCell::gru: return "gru_sequence";
    case RecurrentCell::gru_reset_after: return "gru_sequence (reset_after)";
    case RecurrentCell::simple: return "simple_rnn_sequence";
  }
  return "recurrent";
}

backend::RecurrentGeometry recurrent_geometry(const RecurrentProblem& p) {
  const char* name = cell_name(p.cell);
  if (p.x.ndim() != 3) {
    throw ShapeError(fmt::format("{}: the input must be (batch, time, features); received shape {}.", name,
                                 shape_to_string(p.x.shape())));
  }
  if (p.kernel.ndim() != 2 || p.recurrent_kernel.ndim() != 2) {
    throw ShapeError(fmt::format("{}: kernel and recurrent_kernel must be matrices; received shapes {} and {}.", name,
                                 shape_to_string(p.kernel.shape()), shape_to_string(p.recurrent_kernel.shape())));
  }
  const int64_t gates = backend::recurrent_gate_count(p.cell);
  const int64_t batch = p.x.dim(0), time = p.x.dim(1), input = p.x.dim(2), units = p.recurrent_kernel.dim(0);
  const Shape kernel{input, gates * units}, recurrent{units, gates * units}, state{batch, units};
  const Shape bias = p.cell == RecurrentCell::gru_reset_after ? Shape{2, gates * units} : Shape{gates * units};
  const auto check = [&](const char* what, const Tensor& t, const Shape& expected) {
    if (t.defined() && t.shape() != expected) {
      throw ShapeError(fmt::format("{}: {} must have shape {} for input shape {} and {} units; received {}.", name,
                                   what, shape_to_string(expected), shape_to_string(p.x.shape()), units,
                                   shape_to_string(t.shape())));
    }
  };
  check("recurrent_kernel", p.recurrent_kernel, recurrent);
  check("kernel", p.kernel, kernel);
  check("bias", p.bias, bias);
  check("the initial state h", p.h0, state);
  check("the initial state c", p.c0, state);
  if (p.c0.defined() && p.cell != RecurrentCell::lstm) {
    throw ValueError(fmt::format("{}: only an LSTM has a carry state c.", name));
  }
  if (time < 1) throw ValueError(fmt::format("{}: the input must have at least one time step; received shape {}.",
                                             name, shape_to_string(p.x.shape())));
  return {.cell = p.cell, .activation = p.activation, .batch = batch, .time = time, .input = input, .units = units,
          .reverse = p.reverse};
}

const float* data_or_null(const Tensor& t) { return t.defined() ? t.data() : nullptr; }
float* output_if(bool wanted, Tensor& t, const Shape& shape) {
  if (!wanted) return nullptr;
  t = Tensor::empty(shape);
  return t.mutable_data();
}

backend::RecurrentOperands operands(const RecurrentProblem& p) {
  return {.x = p.x.data(), .h0 = data_or_null(p.h0), .c0 = data_or_null(p.c0), .kernel = p.kernel.data(),
          .recurrent_kernel = p.recurrent_kernel.data(), .bias = data_or_null(p.bias)};
}

}  // namespace

RecurrentResult recurrent_forward(const RecurrentProblem& p) {
  const backend::RecurrentGeometry g = recurrent_geometry(p);
  RecurrentResult r;
  r.sequence = Tensor::empty({g.batch, g.time, g.units});
  r.workspace = Tensor::empty({backend::recurrent_workspace_size(g)});
  float* last_c = output_if(p.cell == RecurrentCell::lstm, r.last_c, {g.batch, g.units});
  backend::recurrent_forward(g, operands(p), r.sequence.mutable_data(), last_c, r.workspace.mutable_data());
  r.last_h = slice(r.sequence, 1, g.time - 1, 1, 1).reshape({g.batch, g.units});
  return r;
}

RecurrentGrads recurrent_backward(const RecurrentProblem& p, const RecurrentResult& forward, const Tensor& d_sequence,
                                  const Tensor& d_last_h, const Tensor& d_last_c, const std::vector<bool>& wanted) {
  const backend::RecurrentGeometry g = recurrent_geometry(p);
  const auto want = [&](size_t i) { return i < wanted.size() && wanted[i]; };
  RecurrentGrads d;
  const backend::RecurrentGradients out{
      .dx = output_if(want(0), d.dx, p.x.shape()),
      .dh0 = output_if(want(1), d.dh0, {g.batch, g.units}),
      .dc0 = output_if(want(2), d.dc0, {g.batch, g.units}),
      .dkernel = output_if(want(3), d.dkernel, p.kernel.shape()),
      .drecurrent_kernel = output_if(want(4), d.drecurrent_kernel, p.recurrent_kernel.shape()),
      .dbias = output_if(want(5), d.dbias,
                         p.cell == RecurrentCell::gru_reset_after ? Shape{2, 3 * g.units} : Shape{
                             backend::recurrent_gate_count(p.cell) * g.units})};
  check_same_shape("recurrent_backward (sequence gradient)", forward.sequence,
                   d_sequence.defined() ? d_sequence : forward.sequence);
  backend::recurrent_backward(g, operands(p), forward.sequence.data(), forward.workspace.data(),
                              data_or_null(d_sequence), data_or_null(d_last_h), data_or_null(d_last_c), out);
  return d;
}

Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& axes, bool keepdims) {
  const std::vector<int> normalized = normalize_axes(axes, x.ndim());
  Shape out_shape;
  int64_t reduced_count = 1;
  for (int i = 0; i < x.ndim(); ++i) {
    const bool reduced = std::find(normalized.begin(), normalized.end(), i) != normalized.end();
    if (!reduced) {
      out_shape.push_back(x.shape()[i]);
    } else {
      reduced_count *= x.shape()[i];
      if (keepdims) out_shape.push_back(1);
    }
  }
  // As NumPy: only an output element with nothing to reduce needs an identity.
  if ((op == ReduceOp::max || op == ReduceOp::min) && reduced_count == 0 && shape_size(out_shape) > 0) {
    throw ValueError(fmt::format("Cannot take the {} of an empty tensor (shape {}): it has no identity.",
                                 backend::reduce_op_name(op), shape_to_string(x.shape())));
  }
  const DType dtype = (op == ReduceOp::mean || x.dtype() == DType::bool_) ? DType::float32 : x.dtype();
  Tensor out = Tensor::empty(out_shape, dtype);
  backend::reduce(op, x.data(), x.shape(), normalized, out.mutable_data());
  return out;
}

Shape matmul_shape(const Shape& a, const Shape& b, bool transpose_a, bool transpose_b) {
  if (a.empty() || b.empty()) {
    throw ShapeError(fmt::format("matmul needs operands of rank >= 1; received shapes {} and {}.", shape_to_string(a),
                                 shape_to_string(b)));
  }
  // A 1-D operand has no axes to swap (matmul() ignores its flag too).
  if (a.size() == 1) transpose_a = false;
  if (b.size() == 1) transpose_b = false;
  const Shape a2 = a.size() == 1 ? Shape{1, a[0]} : a;
  const Shape b2 = b.size() == 1 ? Shape{b[0], 1} : b;
  const int64_t m = transpose_a ? a2[a2.size() - 1] : a2[a2.size() - 2];
  const int64_t ka = transpose_a ? a2[a2.size() - 2] : a2[a2.size() - 1];
  const int64_t kb = transpose_b ? b2[b2.size() - 1] : b2[b2.size() - 2];
  const int64_t n = transpose_b ? b2[b2.size() - 2] : b2[b2.size() - 1];
  if (ka != kb && ka != None && kb != None) {
    throw ShapeError(fmt::format("matmul: cannot multiply shapes {} and {}: the contracted dimensions are {} and {}.",
                                 shape_to_string(a), shape_to_string(b), ka, kb));
  }
  Shape batch;
  try {
    batch = broadcast_shapes(Shape(a2.begin(), a2.end() - 2), Shape(b2.begin(), b2.end() - 2));
  } catch (const ShapeError&) {
    throw ShapeError(fmt::format("matmul: the batch dimensions of shapes {} and {} do not broadcast.",
                                 shape_to_string(a), shape_to_string(b)));
  }
  Shape out = batch;
  if (a.size() > 1) out.push_back(m);
  if (b.size() > 1) out.push_back(n);
  return out;
}

Tensor matmul(const Tensor& a, const Tensor& b, bool transpose_a, bool transpose_b) {
  if (a.ndim() == 2 && b.ndim() == 2) {
    // The common unbatched case, without the general shape rules' copies and broadcasts (a
    // dozen allocations per call, a measurable share of a small training step).
    const Shape& as = a.shape();
    const Shape& bs = b.shape();
    const int64_t contracted_a = transpose_a ? as[0] : as[1];
    const int64_t contracted_b = transpose_b ? bs[1] : bs[0];
    if (contracted_a == contracted_b) {
      const Shape out_shape = {transpose_a ? as[1] : as[0], transpose_b ? bs[0] : bs[1]};
      Tensor out = Tensor::empty(out_shape);
      backend::matmul(a.data(), as, transpose_a, b.data(), bs, transpose_b, out.mutable_data(), out_shape);
      return out;
    }
    // A mismatch falls through to matmul_shape, which names both shapes in its error.
  }
  const Shape out_shape = matmul_shape(a.shape(), b.shape(), transpose_a, transpose_b);
  const Shape a2 = a.ndim() == 1 ? Shape{1, a.shape()[0]} : a.shape();
  const Shape b2 = b.ndim() == 1 ? Shape{b.shape()[0], 1} : b.shape();
  Shape full = out_shape;
  if (a.ndim() == 1) full.insert(full.end() - (b.ndim() > 1 ? 1 : 0), 1);
  if (b.ndim() == 1) full.push_back(1);
  Tensor out = Tensor::empty(out_shape);
  backend::matmul(a.data(), a2, transpose_a && a.ndim() > 1, b.data(), b2, transpose_b && b.ndim() > 1,
                  out.mutable_data(), full);
  return out;
}

Tensor transpose(const Tensor& x, const std::vector<int64_t>& perm) {
  const int64_t ndim = x.ndim();
  std::vector<int> p(ndim);
  if (perm.empty()) {
    std::iota(p.rbegin(), p.rend(), 0);
  } else {
    if (static_cast<int64_t>(perm.size()) != ndim) {
      throw ValueError(fmt::format("transpose: the permutation has {} axes but the tensor (shape {}) has {}.",
                                   perm.size(), shape_to_string(x.shape()), ndim));
    }
    std::vector<bool> seen(ndim, false);
    for (int64_t i = 0; i < ndim; ++i) {
      p[i] = normalize_axis(perm[i], ndim);
      if (seen[p[i]]) throw ValueError(fmt::format("transpose: axis {} appears twice in the permutation.", perm[i]));
      seen[p[i]] = true;
    }
  }
  Shape out_shape(ndim);
  for (int64_t i = 0; i < ndim; ++i) out_shape[i] = x.shape()[p[i]];
  Tensor out = Tensor::empty(out_shape, x.dtype());
  backend::permute(x.data(), x.shape(), p, out.mutable_data());
  return out;
}

Tensor broadcast_to(const Tensor& x, const Shape& shape) {
  if (broadcast_shapes(x.shape(), shape) != shape) {
    throw ShapeError(fmt::format("Cannot broadcast a tensor of shape {} to shape {}.", shape_to_string(x.shape()),
                                 shape_to_string(shape)));
  }
  Tensor out = Tensor::empty(shape, x.dtype());
  backend::broadcast_to(x.data(), x.shape(), out.mutable_data(), shape);
  return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Shape out_shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape()), b.shape());
  Tensor out = Tensor::empty(out_shape, a.dtype() == b.dtype() ? a.dtype() : DType::float32);
  backend::where(cond.data(), cond.shape(), a.data(), a.shape(), b.data(), b.shape(), out.mutable_data(), out_shape);
  return out;
}

bool eltwise_backward_uses_output(EltwiseOp op) { return backend::eltwise_backward_uses_output(op); }

// ---- indexing ----------------------------------------------------------------------------------

Tensor slice(const Tensor& x, int axis, int64_t start, int64_t step, int64_t count) {
  Shape out_shape = x.shape();
  out_shape[axis] = count;
  Tensor out = Tensor::empty(out_shape, x.dtype());
  backend::slice_copy(x.data(), backend::axis_view(x.shape(), axis), start, step, out.mutable_data(), count);
  return out;
}

void slice_assign(const Tensor& src, const Tensor& out, int axis, int64_t start, int64_t step) {
  backend::slice_assign(src.data(), src.shape()[axis], out.mutable_data(), backend::axis_view(out.shape(), axis),
                        start, step);
}

Tensor gather(const Tensor& x, int axis, const Tensor& indices) {
  Shape out_shape(x.shape().begin(), x.shape().begin() + axis);
  out_shape.insert(out_shape.end(), indices.shape().begin(), indices.shape().end());
  out_shape.insert(out_shape.end(), x.shape().begin() + axis + 1, x.shape().end());
  Tensor out = Tensor::empty(out_shape, x.dtype());
  backend::gather(x.data(), backend::axis_view(x.shape(), axis), indices.data(), indices.size(), out.mutable_data());
  return out;
}

void scatter_add(const Tensor& src, const Tensor& indices, const Tensor& out, int axis) {
  backend::scatter_add(src.data(), indices.data(), indices.size(), out.mutable_data(),
                       backend::axis_view(out.shape(), axis));
}

Tensor argmax(const Tensor& x, int axis) {
  Shape out_shape = x.shape();
  out_shape.erase(out_shape.begin() + axis);
  Tensor out = Tensor::empty(out_shape, DType::int32);
  backend::argmax(x.data(), backend::axis_view(x.shape(), axis), out.mutable_data());
  return out;
}

// ---- in-place updates ----------------------------------------------------------------------------

void copy_into(const Tensor& src, const Tensor& dst) {
  if (src.size() != dst.size()) {
    throw ShapeError(fmt::format("copy_into: {} elements ({}) do not fit {} ({}).", src.size(),
                                 shape_to_string(src.shape()), dst.size(), shape_to_string(dst.shape())));
  }
  backend::copy(src.data(), dst.mutable_data(), dst.size());
}

void binary_into(BinaryOp op, const Tensor& dst, const Tensor& src) {
  if (broadcast_shapes(dst.shape(), src.shape()) != dst.shape()) {
    throw ShapeError(fmt::format("Cannot broadcast a tensor of shape {} to shape {}.", shape_to_string(src.shape()),
                                 shape_to_string(dst.shape())));
  }
  backend::binary(op, dst.data(), dst.shape(), src.data(), src.shape(), dst.mutable_data(), dst.shape());
}

// ---- fused additive-attention scores ---------------------------------------------------------------

namespace {

backend::AdditiveScoresProblem scores_problem(const AdditiveScores& p) {
  return {.batch = p.query.dim(0),
          .tq = p.query.dim(1),
          .tv = p.key.dim(1),
          .dim = p.query.dim(2),
          .query = p.query.data(),
          .key = p.key.data(),
          .scale = p.scale.defined() ? p.scale.data() : nullptr,
          .value_mask = p.value_mask.defined() ? p.value_mask.data() : nullptr,
          .causal = p.causal};
}

}  // namespace

Tensor additive_scores(const AdditiveScores& problem) {
  Tensor scores = Tensor::empty({problem.query.dim(0), problem.query.dim(1), problem.key.dim(1)});
  backend::additive_scores_forward(scores_problem(problem), scores.mutable_data());
  return scores;
}

void additive_scores_backward(const AdditiveScores& problem, const Tensor& d_scores, const Tensor& dq,
                              const Tensor& dk, const Tensor& dscale) {
  backend::additive_scores_backward(scores_problem(problem), d_scores.data(),
                                    dq.defined() ? dq.mutable_data() : nullptr,
                                    dk.defined() ? dk.mutable_data() : nullptr,
                                    dscale.defined() ? dscale.mutable_data() : nullptr);
}

// ---- dot-product attention -------------------------------------------------------------------

namespace {

backend::DotAttentionProblem dot_problem(const DotAttention& p) {
  const Tensor &q = p.query, &k = p.key, &v = p.value;
  auto fail = [&](const std::string& why) {
    throw ShapeError(fmt::format("dot_attention: {} (query {}, key {}, value {}{}).", why, shape_to_string(q.shape()),
                                 shape_to_string(k.shape()), shape_to_string(v.shape()),
                                 p.mask.defined() ? ", mask " + shape_to_string(p.mask.shape()) : std::string()));
  };
  if (q.ndim() != 4 || k.ndim() != 4 || v.ndim() != 4) fail("query, key and value must have rank 4 (B, T, N, H)");
  if (k.dim(0) != q.dim(0) || v.dim(0) != q.dim(0)) fail("the batch sizes differ");
  if (k.dim(2) != q.dim(2) || v.dim(2) != q.dim(2)) fail("the numbers of heads differ");
  if (k.dim(3) != q.dim(3)) fail("the query and the key have different depths");
  if (v.dim(1) != k.dim(1)) fail("the key and the value have different lengths");
  backend::DotAttentionProblem out{.batch = q.dim(0),
                                   .tq = q.dim(1),
                                   .tv = k.dim(1),
                                   .heads = q.dim(2),
                                   .key_dim = q.dim(3),
                                   .value_dim = v.dim(3),
                                   .scale = p.scale,
                                   .causal = p.causal,
                                   .zero_masked = p.zero_masked};
  const Shape full = {out.batch, out.heads, out.tq, out.tv};
  if (p.mask.defined()) {
    const Shape& m = p.mask.shape();
    if (m.size() > 4) fail("the mask has more than 4 dimensions");
    int64_t stride = 1;
    for (size_t i = m.size(); i-- > 0;) {
      const size_t axis = 4 - m.size() + i;
      if (m[i] != 1 && m[i] != full[axis]) fail("the mask does not broadcast to (B, N, T, S)");
      out.mask_strides[axis] = m[i] == 1 ? 0 : stride;
      stride *= m[i];
    }
    out.mask = p.mask.data();
  }
  if (p.dropout.defined()) {
    if (p.dropout.shape() != full) fail("the dropout multipliers must have shape (B, N, T, S)");
    out.dropout = p.dropout.data();
  }
  return out;
}

// The backward's weights (B, N, T, S), d_out (B, T, N, Hv) and d_weights (undefined or the
// weights' shape) against the problem; ShapeError with message() otherwise.
template <class Message>
void check_backward_operands(const backend::DotAttentionProblem& p, const Tensor& weights, const Tensor& d_out,
                             const Tensor& d_weights, Message&& message) {
  if (weights.shape() != Shape{p.batch, p.heads, p.tq, p.tv} ||
      d_out.shape() != Shape{p.batch, p.tq, p.heads, p.value_dim} ||
      (d_weights.defined() && d_weights.shape() != weights.shape())) {
    throw ShapeError(message());
  }
}

}  // namespace

DotAttentionResult dot_attention(const DotAttention& problem) {
  const backend::DotAttentionProblem p = dot_problem(problem);
  DotAttentionResult r{Tensor::empty({p.batch, p.tq, p.heads, p.value_dim}),
                       Tensor::empty({p.batch, p.heads, p.tq, p.tv})};
  backend::dot_attention_forward(p, problem.query.data(), problem.key.data(), problem.value.data(),
                                 r.weights.mutable_data(), r.output.mutable_data());
  return r;
}

DotAttentionGrads dot_attention_backward(const DotAttention& problem, const Tensor& weights, const Tensor& d_out,
                                         const Tensor& d_weights, bool want_query, bool want_key, bool want_value) {
  const backend::DotAttentionProblem p = dot_problem(problem);
  check_backward_operands(p, weights, d_out, d_weights, [&] {
    return fmt::format("dot_attention_backward: weights {}, d_out {} do not fit query {} and value {}.",
                       shape_to_string(weights.shape()), shape_to_string(d_out.shape()),
                       shape_to_string(problem.query.shape()), shape_to_string(problem.value.shape()));
  });
  DotAttentionGrads g;
  if (want_query) g.query = Tensor::empty(problem.query.shape());
  if (want_key) g.key = Tensor::empty(problem.key.shape());
  if (want_value) g.value = Tensor::empty(problem.value.shape());
  backend::dot_attention_backward(
      p, problem.query.data(), problem.key.data(), problem.value.data(), weights.data(), d_out.data(),
      d_weights.defined() ? d_weights.data() : nullptr, want_query ? g.query.mutable_data() : nullptr,
      want_key ? g.key.mutable_data() : nullptr, want_value ? g.value.mutable_data() : nullptr);
  return g;
}

namespace {

// The backend problem of packed self-attention: the rank-4 views q, k, v of qkv checked as
// dot_problem checks separate tensors, then the row strides of the packed rows.
backend::DotAttentionProblem packed_problem(const PackedAttention& p) {
  const Tensor& x = p.qkv;
  const int64_t width = p.heads * (2 * p.key_dim + p.value_dim);
  if (x.ndim() != 3 || x.dim(2) != width || p.heads <= 0 || p.key_dim <= 0 || p.value_dim <= 0) {
    throw ShapeError(fmt::format("packed_attention: qkv {} is not (B, T, heads (2 key_dim + value_dim)) for heads={}, "
                                 "key_dim={}, value_dim={}.",
                                 shape_to_string(x.shape()), p.heads, p.key_dim, p.value_dim));
  }
  // Shape-only stand-ins: dot_problem reads the shapes (and the mask's and dropout's data).
  const Shape q = {x.dim(0), x.dim(1), p.heads, p.key_dim}, v = {x.dim(0), x.dim(1), p.heads, p.value_dim};
  backend::DotAttentionProblem out = dot_problem({.query = Tensor::symbolic(q),
                                                  .key = Tensor::symbolic(q),
                                                  .value = Tensor::symbolic(v),
                                                  .mask = p.mask,
                                                  .dropout = p.dropout,
                                                  .scale = p.scale,
                                                  .causal = p.causal,
                                                  .zero_masked = p.zero_masked});
  out.q_row = out.k_row = out.v_row = width;
  return out;
}

// Offsets of the key and value columns in a packed row.
int64_t packed_key_offset(const PackedAttention& p) { return p.heads * p.key_dim; }
int64_t packed_value_offset(const PackedAttention& p) { return 2 * p.heads * p.key_dim; }

}  // namespace

DotAttentionResult packed_attention(const PackedAttention& problem) {
  const backend::DotAttentionProblem p = packed_problem(problem);
  DotAttentionResult r{Tensor::empty({p.batch, p.tq, p.heads, p.value_dim}),
                       Tensor::empty({p.batch, p.heads, p.tq, p.tv})};
  const float* qkv = problem.qkv.data();
  backend::dot_attention_forward(p, qkv, qkv + packed_key_offset(problem), qkv + packed_value_offset(problem),
                                 r.weights.mutable_data(), r.output.mutable_data());
  return r;
}

Tensor packed_attention_backward(const PackedAttention& problem, const Tensor& weights, const Tensor& d_out,
                                 const Tensor& d_weights) {
  const backend::DotAttentionProblem p = packed_problem(problem);
  check_backward_operands(p, weights, d_out, d_weights, [&] {
    return fmt::format("packed_attention_backward: weights {}, d_out {} do not fit qkv {}.",
                       shape_to_string(weights.shape()), shape_to_string(d_out.shape()),
                       shape_to_string(problem.qkv.shape()));
  });
  // dq, dk and dv together cover every element of d_qkv, so it needs no clearing.
  Tensor d_qkv = Tensor::empty(problem.qkv.shape());
  const float* qkv = problem.qkv.data();
  float* d = d_qkv.mutable_data();
  backend::dot_attention_backward(p, qkv, qkv + packed_key_offset(problem), qkv + packed_value_offset(problem),
                                  weights.data(), d_out.data(), d_weights.defined() ? d_weights.data() : nullptr, d,
                                  d + packed_key_offset(problem), d + packed_value_offset(problem));
  return d_qkv;
}

Tensor pack_columns(const std::vector<Tensor>& parts, int64_t rows) {
  int64_t width = 0;
  for (const Tensor& part : parts) {
    if (rows <= 0 || part.size() % rows != 0) {
      throw ShapeError(fmt::format("pack_columns: a part of shape {} is not {} rows.", shape_to_string(part.shape()),
                                   rows));
    }
    width += part.size() / rows;
  }
  Tensor out = Tensor::empty({rows, width});
  int64_t start = 0;
  for (const Tensor& part : parts) {
    const int64_t n = part.size() / rows;
    slice_assign(part.reshape({rows, n}), out, 1, start, 1);
    start += n;
  }
  return out;
}

Tensor matmul_bias(const Tensor& x, const Tensor& w, const Tensor& bias) {
  if (x.ndim() < 1 || w.ndim() != 2 || bias.ndim() != 1 || x.dim(-1) != w.dim(0) || bias.dim(0) != w.dim(1)) {
    throw ShapeError(fmt::format("matmul_bias: x {} @ w {} + bias {} needs w of shape (x.shape[-1], n) and bias (n,).",
                                 shape_to_string(x.shape()), shape_to_string(w.shape()),
                                 shape_to_string(bias.shape())));
  }
  Shape out_shape = x.shape();
  out_shape.back() = w.dim(1);
  Tensor y = Tensor::empty(out_shape);
  int64_t rows = 1;
  for (size_t i = 0; i + 1 < x.shape().size(); ++i) rows *= x.shape()[i];
  backend::matmul_bias(x.data(), w.data(), bias.data(), y.mutable_data(), rows, x.dim(-1), w.dim(1));
  return y;
}

// ---- optimizer updates -------------------------------------------------------------------------

namespace {

// The writable elements of an optimizer operand, after checking its size against the gradient.
float* update_operand(const char* what, const Tensor& t, const Tensor& g) {
  if (!t.defined()) return nullptr;
  if (t.size() != g.size()) {
    throw ShapeError(fmt::format("Optimizer update: the {} has {} elements ({}) but the gradient has {} ({}).", what,
                                 t.size(), shape_to_string(t.shape()), g.size(), shape_to_string(g.shape())));
  }
  return t.mutable_data();
}

}  // namespace

void sgd_update(const Tensor& w, const Tensor& momentum, const Tensor& g, float learning_rate, float mu,
                bool nesterov) {
  backend::sgd_update(update_operand("weight", w, g), update_operand("momentum", momentum, g), g.data(), g.size(),
                      learning_rate, mu, nesterov);
}

void adam_update(const Tensor& w, const Tensor& m, const Tensor& v, const Tensor& v_hat, const Tensor& g,
                 const AdamStep& step) {
  backend::adam_update(update_operand("weight", w, g), update_operand("momentum", m, g),
                       update_operand("velocity", v, g), update_operand("velocity_hat", v_hat, g), g.data(), g.size(),
                       step);
}

void adam_update_all(const std::vector<AdamTensors>& variables, const AdamStep& step) {
  std::vector<backend::AdamOperands> operands;
  operands.reserve(variables.size());
  for (const AdamTensors& x : variables) {
    operands.push_back({.w = update_operand("weight", x.w, x.g),
                        .m = update_operand("momentum", x.m, x.g),
                        .v = update_operand("velocity", x.v, x.g),
                        .v_hat = update_operand("velocity_hat", x.v_hat, x.g),
                        .g = x.g.data(),
                        .n = x.g.size()});
  }
  backend::adam_update_all(operands, step);
}

void rmsprop_update(const Tensor& w, const Tensor& velocity, const Tensor& momentum, const Tensor& average,
                    const Tensor& g, const RmspropStep& step) {
  backend::rmsprop_update(update_operand("weight", w, g), update_operand("velocity", velocity, g),
                          update_operand("momentum", momentum, g), update_operand("average_gradient", average, g),
                          g.data(), g.size(), step);
}

void adagrad_update(const Tensor& w, const Tensor& accumulator, const Tensor& g, float learning_rate, float epsilon) {
  backend::adagrad_update(update_operand("weight", w, g), update_operand("accumulator", accumulator, g), g.data(),
                          g.size(), learning_rate, epsilon);
}

void decay_weights(const Tensor& w, float weight_decay, float learning_rate) {
  backend::decay_weights(w.mutable_data(), w.size(), weight_decay, learning_rate);
}

}  // namespace minidl::compute
