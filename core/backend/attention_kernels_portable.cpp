// Portable row kernels for the additive-attention scores (see detail/attention_row_kernels.h):
// the plain C++ loops of detail/attention_row_kernels_generic.inc, built for whatever ISA the
// library is built for (SSE2 on baseline x86-64). They evaluate the same rational tanh as the
// AVX2 and AVX-512 kernels, so the paths agree to float rounding. The dot-product attention's
// softmax rows (detail/dot_attention_rows.h) are built here too.
#include <bit>
#include <cstdint>
#include <cstring>

#include "minidl/core/backend/detail/attention_row_kernels.h"
#include "minidl/core/backend/detail/dot_attention_rows.h"

namespace minidl::backend::detail {
namespace {

#define MINIDL_ROW_MADD(a, b, c) ((a) * (b) + (c))
#include "minidl/core/backend/detail/attention_row_kernels_generic.inc"
#include "minidl/core/backend/detail/dot_attention_rows_generic.inc"
#undef MINIDL_ROW_MADD

}  // namespace

const AttentionRowKernels& portable_attention_row_kernels() {
  static const AttentionRowKernels kernels = row_kernels_with(forward_row, backward_row);
  return kernels;
}

const DotAttentionRowKernels& portable_dot_attention_row_kernels() {
  static const DotAttentionRowKernels kernels{softmax_row, softmax_backward_row};
  return kernels;
}

}  // namespace minidl::backend::detail
