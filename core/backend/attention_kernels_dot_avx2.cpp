// AVX2 + FMA row kernels of dot-product attention (see detail/dot_attention_rows.h): the loops of
// detail/dot_attention_rows_generic.inc compiled again under a target pragma, with internal
// linkage, called only after cpu_has_avx2_fma() (as attention_kernels_avx2.cpp).
#include <bit>
#include <cstdint>

#include "minidl/core/backend/detail/dot_attention_rows.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma")

namespace minidl::backend::detail {
namespace {

#define MINIDL_ROW_MADD(a, b, c) __builtin_fmaf((a), (b), (c))
#include "minidl/core/backend/detail/dot_attention_rows_generic.inc"
#undef MINIDL_ROW_MADD

}  // namespace

#pragma GCC pop_options

const DotAttentionRowKernels& avx2_dot_attention_row_kernels() {
  static const DotAttentionRowKernels kernels{softmax_row, softmax_backward_row};
  return kernels;
}

}  // namespace minidl::backend::detail
