// AVX2 + FMA row kernels for the additive-attention scores (see detail/attention_row_kernels.h):
// the portable loops of detail/attention_row_kernels_generic.inc compiled again, under a target
// pragma, for 8-float vectors with fused multiply-adds in the rational tanh. The library stays
// built for baseline x86-64: only the functions defined after the pragma use AVX2, they have
// internal linkage (no AVX2 copy of a shared inline function can reach the rest of the library),
// and the driver calls them only after checking the CPU (cpu_has_avx2_fma()). This is the path
// of CPUs without AVX-512 (AMD EPYC before Zen 4, most desktop chips): about half the time of
// the SSE2 build on the fused attention. The dot-product attention's softmax rows
// (detail/dot_attention_rows.h) are built here too, from detail/dot_attention_rows_generic.inc.
#include <bit>
#include <cstdint>
#include <cstring>

#include "minidl/core/backend/detail/attention_row_kernels.h"
#include "minidl/core/backend/detail/dot_attention_rows.h"

// clang (the fuzz preset) has no `#pragma GCC target`: it pushes the target attribute instead.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#endif

namespace minidl::backend::detail {
namespace {

#define MINIDL_ROW_MADD(a, b, c) __builtin_fmaf((a), (b), (c))
#include "minidl/core/backend/detail/attention_row_kernels_generic.inc"
#include "minidl/core/backend/detail/dot_attention_rows_generic.inc"
#undef MINIDL_ROW_MADD

}  // namespace

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const AttentionRowKernels& avx2_attention_row_kernels() {
  static const AttentionRowKernels kernels = row_kernels_with(forward_row, backward_row);
  return kernels;
}

const DotAttentionRowKernels& avx2_dot_attention_row_kernels() {
  static const DotAttentionRowKernels kernels{softmax_row, softmax_backward_row};
  return kernels;
}

}  // namespace minidl::backend::detail
