// AVX2 + FMA build of the recurrent cell row kernels (detail/recurrent_cell_kernels.h), under a
// target pragma as attention_kernels_avx2.cpp: the library stays baseline x86-64, recurrent.cpp
// calls these only after cpu_has_avx2_fma().
#include <bit>
#include <cstdint>

#include "minidl/core/backend/detail/attention_row_kernels.h"  // the tanh coefficients, outside the namespace below
#include "minidl/core/backend/detail/recurrent_cell_kernels.h"

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
#include "minidl/core/backend/detail/recurrent_cell_kernels.inc"
#undef MINIDL_ROW_MADD

}  // namespace

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif

const RecurrentCellKernels& avx2_recurrent_cell_kernels() { return kRecurrentCellKernels; }

}  // namespace minidl::backend::detail
