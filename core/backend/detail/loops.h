#pragma once
// Private to core/backend: our own OpenMP loops for the cases oneDNN 2.6 runs only through
// slow ref:* kernels (PERF-RESEARCH.md, section 0), and shape helpers shared by the wrappers.
#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

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

// The grain, in rows, for parallel_for over rows of `row_elements` elements each: a loop stays
// on the calling thread while its rows hold no more than kParallelGrain elements in all.
inline int64_t row_grain(int64_t row_elements) {
  return std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(row_elements, 1));
}

// A shape held in place up to kInline axes (on the heap beyond). The elementwise paths build
// several shapes per call; as std::vectors they were 72 of the ~390 heap allocations of one
// 32-32-1 MLP training step (callgrind on bench/autograd_bench), each costing about as much as
// the arithmetic of a small tensor.
class SmallDims {
 public:
  static constexpr size_t kInline = 8;

  SmallDims() = default;
  explicit SmallDims(size_t n, int64_t value = 0) {
    if (n > kInline) heap_.assign(n, value);
    std::fill_n(inline_.begin(), std::min(n, kInline), value);
    size_ = n;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  int64_t* data() { return heap_.empty() ? inline_.data() : heap_.data(); }
  const int64_t* data() const { return heap_.empty() ? inline_.data() : heap_.data(); }
  int64_t& operator[](size_t i) { return data()[i]; }
  int64_t operator[](size_t i) const { return data()[i]; }
  int64_t& back() { return data()[size_ - 1]; }
  const int64_t* begin() const { return data(); }
  const int64_t* end() const { return data() + size_; }

  void push_back(int64_t value) {
    if (heap_.empty() && size_ < kInline) {
      inline_[size_++] = value;
      return;
    }
    if (heap_.empty()) heap_.assign(inline_.begin(), inline_.begin() + static_cast<std::ptrdiff_t>(size_));
    heap_.push_back(value);
    ++size_;
  }

  Dims to_vector() const { return Dims(begin(), end()); }

  friend bool operator==(const SmallDims& a, const SmallDims& b) {
    return a.size_ == b.size_ && std::equal(a.begin(), a.end(), b.begin());
  }

 private:
  std::array<int64_t, kInline> inline_{};
  std::vector<int64_t> heap_;  // used (non-empty) only past kInline axes
  size_t size_ = 0;
};

inline int64_t product(const SmallDims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// Shapes of an elementwise call after merging adjacent axes that broadcast the same way and
// dropping axes of size 1. `inputs` are right-aligned to out's rank (missing leading axes count
// as size 1), which spares a padded copy of each. Every result has equal rank.
struct Collapsed {
  static constexpr size_t kMaxInputs = 3;  // where(cond, a, b)
  SmallDims out;
  std::array<SmallDims, kMaxInputs> inputs;  // the first inputs.size() of the call are used
};
Collapsed collapse_broadcast(const Dims& out, std::initializer_list<std::reference_wrapper<const Dims>> inputs);

// Element strides of `shape` inside a broadcast to `out` of the same rank: 0 where it repeats.
SmallDims broadcast_strides(const SmallDims& shape, const SmallDims& out);

// Calls body(out_offset, input_offsets, count, input_inner_strides) for every innermost row
// of `out`; rows are split across OpenMP threads when the total is large.
template <size_t N, class DimsT, class Body>
void for_each_row(const DimsT& out, const std::array<DimsT, N>& strides, Body&& body) {
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
