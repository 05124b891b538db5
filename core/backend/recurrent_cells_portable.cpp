// Baseline x86-64 build of the recurrent cell row kernels (detail/recurrent_cell_kernels.h).
#include <bit>
#include <cstdint>

#include "minidl/core/backend/detail/attention_row_kernels.h"  // the tanh coefficients, outside the namespace below
#include "minidl/core/backend/detail/recurrent_cell_kernels.h"

namespace minidl::backend::detail {
namespace {

#define MINIDL_ROW_MADD(a, b, c) ((a) * (b) + (c))

// The product's tile in plain C++ (the compiler vectorises the column loop): each element sums
// over k in order, then adds the bias and then c, as the AVX2 tile does.
constexpr int kTileRows = 4;

template <int Rows>
void panel_tile(int64_t cols, int64_t k, const float* a, int64_t lda, const float* panel, float* c, int64_t ldc,
                bool accumulate, const float* bias) {
  float sums[Rows][kPanelWidth] = {};
  for (int64_t kk = 0; kk < k; ++kk) {
    const float* b = panel + kk * kPanelWidth;
    for (int r = 0; r < Rows; ++r) {
      const float av = a[r * lda + kk];
      for (int64_t j = 0; j < kPanelWidth; ++j) sums[r][j] += av * b[j];
    }
  }
  for (int r = 0; r < Rows; ++r) {
    float* row = c + r * ldc;
    for (int64_t j = 0; j < cols; ++j) {
      const float sum = bias ? sums[r][j] + bias[j] : sums[r][j];
      row[j] = accumulate ? row[j] + sum : sum;
    }
  }
}
#include "minidl/core/backend/detail/recurrent_cell_kernels.inc"
#undef MINIDL_ROW_MADD

}  // namespace

const RecurrentCellKernels& portable_recurrent_cell_kernels() { return kRecurrentCellKernels; }

}  // namespace minidl::backend::detail
