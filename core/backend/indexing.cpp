#include <cstring>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {

AxisView axis_view(const Dims& shape, int axis) {
  AxisView v;
  for (int i = 0; i < axis; ++i) v.outer *= shape[i];
  v.axis = shape[axis];
  for (size_t i = axis + 1; i < shape.size(); ++i) v.inner *= shape[i];
  return v;
}

void slice_copy(const float* x, const AxisView& x_view, int64_t start, int64_t step, float* out, int64_t count) {
  const int64_t inner = x_view.inner;
#pragma omp parallel for collapse(2) if (x_view.outer * count * inner > detail::kParallelGrain) schedule(static)
  for (int64_t o = 0; o < x_view.outer; ++o) {
    for (int64_t i = 0; i < count; ++i) {
      std::memcpy(out + (o * count + i) * inner, x + (o * x_view.axis + start + i * step) * inner,
                  sizeof(float) * inner);
    }
  }
}

void slice_assign(const float* src, int64_t count, float* out, const AxisView& out_view, int64_t start,
                  int64_t step) {
  const int64_t inner = out_view.inner;
#pragma omp parallel for collapse(2) if (out_view.outer * count * inner > detail::kParallelGrain) schedule(static)
  for (int64_t o = 0; o < out_view.outer; ++o) {
    for (int64_t i = 0; i < count; ++i) {
      std::memcpy(out + (o * out_view.axis + start + i * step) * inner, src + (o * count + i) * inner,
                  sizeof(float) * inner);
    }
  }
}

void gather(const float* x, const AxisView& x_view, const float* indices, int64_t n, float* out) {
  const int64_t inner = x_view.inner;
#pragma omp parallel for collapse(2) if (x_view.outer * n * inner > detail::kParallelGrain) schedule(static)
  for (int64_t o = 0; o < x_view.outer; ++o) {
    for (int64_t i = 0; i < n; ++i) {
      const auto index = static_cast<int64_t>(indices[i]);
      std::memcpy(out + (o * n + i) * inner, x + (o * x_view.axis + index) * inner, sizeof(float) * inner);
    }
  }
}

void scatter_add(const float* src, const float* indices, int64_t n, float* out, const AxisView& out_view) {
  const int64_t inner = out_view.inner;
  // Threads split (outer, inner) positions and each walks all n indices, so repeated indices
  // never race.
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
#pragma omp parallel for collapse(2) if (out_view.outer * n * inner > detail::kParallelGrain) schedule(static)
  for (int64_t o = 0; o < out_view.outer; ++o) {
    for (int64_t b = 0; b < blocks; ++b) {
      const int64_t begin = b * kBlock;
      const int64_t end = begin + kBlock < inner ? begin + kBlock : inner;
      for (int64_t i = 0; i < n; ++i) {
        const auto index = static_cast<int64_t>(indices[i]);
        const float* s = src + (o * n + i) * inner;
        float* d = out + (o * out_view.axis + index) * inner;
        for (int64_t j = begin; j < end; ++j) d[j] += s[j];
      }
    }
  }
}

void argmax(const float* x, const AxisView& view, float* out) {
#pragma omp parallel for collapse(2) if (view.outer * view.axis * view.inner > detail::kParallelGrain) schedule(static)
  for (int64_t o = 0; o < view.outer; ++o) {
    for (int64_t i = 0; i < view.inner; ++i) {
      const float* p = x + o * view.axis * view.inner + i;
      int64_t best = 0;
      for (int64_t a = 1; a < view.axis; ++a) {
        if (p[a * view.inner] > p[best * view.inner]) best = a;
      }
      out[o * view.inner + i] = static_cast<float>(best);
    }
  }
}

}  // namespace minidl::backend
