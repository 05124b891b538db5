// Portable row kernels of dot-product attention (see detail/dot_attention_rows.h): the plain C++
// loops of detail/dot_attention_rows_generic.inc built for baseline x86-64 (SSE2). The same
// polynomial exp as the AVX2 build, so the paths agree to float rounding.
#include <bit>
#include <cstdint>

#include "minidl/core/backend/detail/dot_attention_rows.h"

namespace minidl::backend::detail {
namespace {

#define MINIDL_ROW_MADD(a, b, c) ((a) * (b) + (c))
#include "minidl/core/backend/detail/dot_attention_rows_generic.inc"
#undef MINIDL_ROW_MADD

}  // namespace

const DotAttentionRowKernels& portable_dot_attention_row_kernels() {
  static const DotAttentionRowKernels kernels{softmax_row, softmax_backward_row};
  return kernels;
}

}  // namespace minidl::backend::detail
