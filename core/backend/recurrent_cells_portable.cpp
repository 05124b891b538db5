// Baseline x86-64 build of the recurrent cell row kernels (detail/recurrent_cell_kernels.h).
#include <bit>
#include <cstdint>

#include "minidl/core/backend/detail/attention_row_kernels.h"  // the tanh coefficients, outside the namespace below
#include "minidl/core/backend/detail/recurrent_cell_kernels.h"

namespace minidl::backend::detail {
namespace {

#define MINIDL_ROW_MADD(a, b, c) ((a) * (b) + (c))
#include "minidl/core/backend/detail/recurrent_cell_kernels.inc"
#undef MINIDL_ROW_MADD

}  // namespace

const RecurrentCellKernels& portable_recurrent_cell_kernels() { return kRecurrentCellKernels; }

}  // namespace minidl::backend::detail
