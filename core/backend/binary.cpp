#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {
namespace {

using detail::Collapsed;
using detail::SmallDims;

dnnl::algorithm to_dnnl(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
      return dnnl::algorithm::binary_add;
    case BinaryOp::sub:
      return dnnl::algorithm::binary_sub;
    case BinaryOp::mul:
      return dnnl::algorithm::binary_mul;
    case BinaryOp::div:
      return dnnl::algorithm::binary_div;
    case BinaryOp::max:
      return dnnl::algorithm::binary_max;
    case BinaryOp::min:
      return dnnl::algorithm::binary_min;
    case BinaryOp::eq:
      return dnnl::algorithm::binary_eq;
    case BinaryOp::ne:
      return dnnl::algorithm::binary_ne;
    case BinaryOp::lt:
      return dnnl::algorithm::binary_lt;
    case BinaryOp::le:
      return dnnl::algorithm::binary_le;
    case BinaryOp::gt:
      return dnnl::algorithm::binary_gt;
    case BinaryOp::ge:
      return dnnl::algorithm::binary_ge;
  }
  return dnnl::algorithm::binary_add;
}

// The op that gives the same result with the operands swapped, if there is one.
bool swapped_op(BinaryOp op, BinaryOp* out) {
  switch (op) {
    case BinaryOp::add:
    case BinaryOp::mul:
    case BinaryOp::max:
    case BinaryOp::min:
    case BinaryOp::eq:
    case BinaryOp::ne:
      *out = op;
      return true;
    case BinaryOp::lt:
      *out = BinaryOp::gt;
      return true;
    case BinaryOp::gt:
      *out = BinaryOp::lt;
      return true;
    case BinaryOp::le:
      *out = BinaryOp::ge;
      return true;
    case BinaryOp::ge:
      *out = BinaryOp::le;
      return true;
    default:
      return false;
  }
}

// One innermost row: out[j] = combine(a[j * a_step], b[j * b_step]). The steps are 1 or 0 (an
// operand that repeats one value) on collapsed shapes; those cases get loops the compiler
// vectorises.
template <class Combine>
void combine_row(const float* a, int64_t a_step, const float* b, int64_t b_step, float* out, int64_t n,
                 Combine combine) {
  if (a_step == 1 && b_step == 1) {
    for (int64_t j = 0; j < n; ++j) out[j] = combine(a[j], b[j]);
  } else if (a_step == 1 && b_step == 0) {
    const float bv = b[0];
    for (int64_t j = 0; j < n; ++j) out[j] = combine(a[j], bv);
  } else if (a_step == 0 && b_step == 1) {
    const float av = a[0];
    for (int64_t j = 0; j < n; ++j) out[j] = combine(av, b[j]);
  } else {
    for (int64_t j = 0; j < n; ++j) out[j] = combine(a[j * a_step], b[j * b_step]);
  }
}

template <class Combine>
void combine_rows(const float* a, const SmallDims& a_dims, const float* b, const SmallDims& b_dims, float* out,
                  const SmallDims& out_dims, Combine combine) {
  const std::array<SmallDims, 2> strides = {detail::broadcast_strides(a_dims, out_dims),
                                       detail::broadcast_strides(b_dims, out_dims)};
  detail::for_each_row<2>(out_dims, strides, [&](int64_t o, const std::array<int64_t, 2>& in, int64_t count,
                                                 const std::array<int64_t, 2>& inner) {
    combine_row(a + in[0], inner[0], b + in[1], inner[1], out + o, count, combine);
  });
}

// a (op) b on our own loop, either operand broadcasting: small add/sub/mul/div (below) and the
// cases oneDNN would run on ref:any. Each element is one IEEE operation, what oneDNN's kernel
// computes, so the results are bit-identical. `out` may alias an operand of out's shape: every
// element reads only its own position of that operand.
void binary_loop(BinaryOp op, const float* a, const SmallDims& a_dims, const float* b, const SmallDims& b_dims,
                 float* out, const SmallDims& out_dims) {
  switch (op) {
    case BinaryOp::add:
      return combine_rows(a, a_dims, b, b_dims, out, out_dims, [](float x, float y) { return x + y; });
    case BinaryOp::sub:
      return combine_rows(a, a_dims, b, b_dims, out, out_dims, [](float x, float y) { return x - y; });
    case BinaryOp::mul:
      return combine_rows(a, a_dims, b, b_dims, out, out_dims, [](float x, float y) { return x * y; });
    case BinaryOp::div:
      return combine_rows(a, a_dims, b, b_dims, out, out_dims, [](float x, float y) { return x / y; });
    default:
      return combine_rows(a, a_dims, b, b_dims, out, out_dims,
                          [op](float x, float y) { return detail::apply_binary(op, x, y); });
  }
}

// src0 must have out's (collapsed) shape here; src1 may broadcast.
void binary_full_src0(BinaryOp op, const float* a, const float* b, const SmallDims& b_small, float* out,
                      const SmallDims& out_small) {
  const Dims b_dims = b_small.to_vector(), out_dims = out_small.to_vector();
  const detail::OneThreadScope one_thread(detail::product(out_dims) <= detail::kSingleThreadElements);
  const std::string key = detail::KeyBuilder("binary").add(binary_op_name(op)).add(out_dims).add(b_dims).str();
  const auto& entry = detail::thread_primitive(
      key,
      [&] {
        dnnl::binary::desc desc(to_dnnl(op), detail::dense_desc(out_dims), detail::dense_desc(b_dims),
                                detail::dense_desc(out_dims));
        return dnnl::binary::primitive_desc(desc, detail::engine());
      },
      [&] {
        return std::vector<detail::ArgumentDesc>{{DNNL_ARG_SRC_0, detail::dense_desc(out_dims)},
                                                 {DNNL_ARG_SRC_1, detail::dense_desc(b_dims)},
                                                 {DNNL_ARG_DST, detail::dense_desc(out_dims)}};
      });
  if (entry.is_reference()) {
    detail::mark_unused(key);
    binary_loop(op, a, out_small, b, b_small, out, out_small);
    return;
  }
  entry.run({a, b, out});
}

// Up to this many output elements, add/sub/mul/div run in binary_loop instead of oneDNN: one
// primitive execute costs 4-5K instructions (argument map, scratchpad, a parallel region; callgrind
// on the 32-32-1 MLP step of bench/autograd_bench), about what our loop needs for 4K elements.
constexpr int64_t kSmallBinaryElements = 1 << 12;

bool small_arithmetic(BinaryOp op, const SmallDims& out_dims) {
  const bool arithmetic = op == BinaryOp::add || op == BinaryOp::sub || op == BinaryOp::mul || op == BinaryOp::div;
  return arithmetic && detail::product(out_dims) <= kSmallBinaryElements;
}

// oneDNN 2.6's binary_max/min return the other operand where one is NaN (the SIMD max
// instructions do); NumPy, PyTorch and TensorFlow return NaN. Our loop does, at any size.
bool propagates_nan_only_in_our_loop(BinaryOp op) { return op == BinaryOp::max || op == BinaryOp::min; }

}  // namespace

const char* binary_op_name(BinaryOp op) {
  switch (op) {
    case BinaryOp::add:
      return "add";
    case BinaryOp::sub:
      return "sub";
    case BinaryOp::mul:
      return "mul";
    case BinaryOp::div:
      return "div";
    case BinaryOp::max:
      return "max";
    case BinaryOp::min:
      return "min";
    case BinaryOp::eq:
      return "eq";
    case BinaryOp::ne:
      return "ne";
    case BinaryOp::lt:
      return "lt";
    case BinaryOp::le:
      return "le";
    case BinaryOp::gt:
      return "gt";
    case BinaryOp::ge:
      return "ge";
  }
  return "?";
}

void binary(BinaryOp op, const float* a, const Dims& a_shape, const float* b, const Dims& b_shape, float* out,
            const Dims& out_shape) {
  detail::ensure_initialized();
  if (detail::product(out_shape) == 0) return;
  Collapsed c = detail::collapse_broadcast(out_shape, {a_shape, b_shape});
  if (c.out.empty()) {  // every axis has size 1: a single element
    out[0] = detail::apply_binary(op, a[0], b[0]);
    return;
  }
  SmallDims a_dims = c.inputs[0];
  SmallDims b_dims = c.inputs[1];
  if (small_arithmetic(op, c.out) || propagates_nan_only_in_our_loop(op)) {
    binary_loop(op, a, a_dims, b, b_dims, out, c.out);
    return;
  }
  // oneDNN 2.6 only broadcasts src1 quickly; a src0 broadcast runs ref:any (40-75x slower).
  BinaryOp swapped;
  if (a_dims != c.out && b_dims == c.out && swapped_op(op, &swapped)) {
    std::swap(a, b);
    std::swap(a_dims, b_dims);
    op = swapped;
  }
  std::vector<float> scratch;
  if (a_dims != c.out) {
    // Materialise a's broadcast in `out`, then combine with b in place. When `out` aliases b
    // (allowed when b has out's shape), that would overwrite b first: use a scratch buffer.
    float* target = out;
    if (b == out) {
      scratch.resize(static_cast<size_t>(detail::product(c.out)));
      target = scratch.data();
    }
    broadcast_to(a, a_dims.to_vector(), target, c.out.to_vector());
    a = target;
  }
  binary_full_src0(op, a, b, b_dims, out, c.out);
}

void broadcast_to(const float* x, const Dims& x_shape, float* out, const Dims& out_shape) {
  detail::ensure_initialized();
  if (detail::product(out_shape) == 0) return;
  Collapsed c = detail::collapse_broadcast(out_shape, {x_shape});
  if (c.out.empty()) {
    out[0] = x[0];
    return;
  }
  if (c.inputs[0] == c.out) {
    copy(x, out, detail::product(c.out));
    return;
  }
  const std::array<SmallDims, 1> strides = {detail::broadcast_strides(c.inputs[0], c.out)};
  detail::for_each_row<1>(c.out, strides, [&](int64_t o, const std::array<int64_t, 1>& in, int64_t count,
                                              const std::array<int64_t, 1>& inner) {
    const float* px = x + in[0];
    float* po = out + o;
    if (inner[0] == 0) {
      std::fill_n(po, count, px[0]);
    } else {
      std::memcpy(po, px, sizeof(float) * count);
    }
  });
}

void where(const float* cond, const Dims& cond_shape, const float* a, const Dims& a_shape, const float* b,
           const Dims& b_shape, float* out, const Dims& out_shape) {
  detail::ensure_initialized();
  if (detail::product(out_shape) == 0) return;
  Collapsed c = detail::collapse_broadcast(out_shape, {cond_shape, a_shape, b_shape});
  const std::array<SmallDims, 3> strides = {detail::broadcast_strides(c.inputs[0], c.out),
                                       detail::broadcast_strides(c.inputs[1], c.out),
                                       detail::broadcast_strides(c.inputs[2], c.out)};
  detail::for_each_row<3>(c.out, strides, [&](int64_t o, const std::array<int64_t, 3>& in, int64_t count,
                                              const std::array<int64_t, 3>& inner) {
    const float* pc = cond + in[0];
    const float* pa = a + in[1];
    const float* pb = b + in[2];
    float* po = out + o;
    for (int64_t j = 0; j < count; ++j) po[j] = pc[j * inner[0]] != 0.0f ? pa[j * inner[1]] : pb[j * inner[2]];
  });
}

void copy(const float* x, float* out, int64_t n) {
  if (n <= 0 || x == out) return;
  detail::parallel_for(n, detail::kParallelGrain * 4, [&](int64_t begin, int64_t end) {
    std::memcpy(out + begin, x + begin, sizeof(float) * (end - begin));
  });
}

void fill(float* out, int64_t n, float value) {
  detail::parallel_for(n, detail::kParallelGrain * 4,
                       [&](int64_t begin, int64_t end) { std::fill(out + begin, out + end, value); });
}

}  // namespace minidl::backend
