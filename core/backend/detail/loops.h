#pragma once
// Private to core/backend: our own OpenMP loops for the cases oneDNN 2.6 runs only through
// slow ref:* kernels (PERF-RESEARCH.md, section 0), and shape helpers shared by the wrappers.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>

#include "minidl/core/backend/backend.h"

namespace minidl::backend::detail {

// Below this many elements a loop runs on the calling thread: an OpenMP region costs more.
inline constexpr int64_t kParallelGrain = 1 << 14;

// Calls body(begin, end) over [0, n): once on the calling thread when n <= grain, else over a
// static split across the OpenMP team (one contiguous chunk per thread, the same split for the
// same n and thread count). Small loops stay out of OpenMP altogether: a region with a false
// if() clause still costs about 2 us, which small models pay on every op.
template <class Body>
void parallel_for(int64_t n, int64_t grain, Body&& body) {
  if (n <= grain) {
    if (n > 0) body(int64_t{0}, n);
    return;
  }
#pragma omp parallel
  {
    const int64_t threads = omp_get_num_threads(), thread = omp_get_thread_num();
    const int64_t chunk = (n + threads - 1) / threads;
    const int64_t begin = std::min(n, thread * chunk), end = std::min(n, begin + chunk);
    if (begin < end) body(begin, end);
  }
}

// Shapes of an elementwise call after merging adjacent axes that broadcast the same way and
// dropping axes of size 1. `inputs` are right-aligned to out's rank (missing leading axes count
// as size 1), which spares a padded copy of each. Every result has equal rank.
struct Collapsed {
  Dims out;
  std::vector<Dims> inputs;
};
Collapsed collapse_broadcast(const Dims& out, std::initializer_list<std::reference_wrapper<const Dims>> inputs);

// Element strides of `shape` inside a broadcast to `out` of the same rank: 0 where it repeats.
Dims broadcast_strides(const Dims& shape, const Dims& out);

// Calls body(out_offset, input_offsets, count, input_inner_strides) for every innermost row
// of `out`; rows are split across OpenMP threads when the total is large.
template <size_t N, class Body>
void for_each_row(const Dims& out, const std::array<Dims, N>& strides, Body&& body) {
  const size_t ndim = out.size();
  if (ndim == 0) {
    std::array<int64_t, N> offsets{};
    std::array<int64_t, N> inner{};
    body(int64_t{0}, offsets, int64_t{1}, inner);
    return;
  }
  const int64_t inner_count = out[ndim - 1];
  int64_t rows = 1;
  for (size_t d = 0; d + 1 < ndim; ++d) rows *= out[d];
  std::array<int64_t, N> inner{};
  for (size_t k = 0; k < N; ++k) inner[k] = strides[k][ndim - 1];
  const auto run_row = [&](int64_t row) {
    std::array<int64_t, N> offsets{};
    int64_t rest = row;
    for (size_t d = ndim - 1; d-- > 0;) {
      const int64_t index = rest % out[d];
      rest /= out[d];
      for (size_t k = 0; k < N; ++k) offsets[k] += index * strides[k][d];
    }
    body(row * inner_count, offsets, inner_count, inner);
  };
  // Small loops stay out of OpenMP altogether: even a region with if(false) costs microseconds.
  if (rows * inner_count <= kParallelGrain || rows == 1) {
    for (int64_t row = 0; row < rows; ++row) run_row(row);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t row = 0; row < rows; ++row) run_row(row);
}

// The elementwise function of a binary op, for our own loops.
float apply_binary(BinaryOp op, float a, float b);

// max and min that return NaN when either operand is NaN, as NumPy's maximum/minimum, PyTorch
// and TensorFlow do. std::max, std::fmax and the SIMD max instructions that oneDNN 2.6 uses all
// return the other operand instead, which turns a NaN input into a finite result.
inline float nan_max(float a, float b) { return (a > b || a != a) ? a : b; }
inline float nan_min(float a, float b) { return (a < b || a != a) ? a : b; }

// Whether x[0:n) holds a NaN (vectorised; parallel for large n).
bool any_nan(const float* x, int64_t n);

}  // namespace minidl::backend::detail
