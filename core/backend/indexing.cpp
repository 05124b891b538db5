#include <algorithm>
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

// Each loop below walks (outer, index) rows of `inner` contiguous floats through
// detail::parallel_for, so small copies (a batch's slice, an embedding lookup) never enter
// OpenMP: a region with a false if() clause still costs about 2 us.

void slice_copy(const float* x, const AxisView& x_view, int64_t start, int64_t step, float* out, int64_t count) {
  const int64_t inner = x_view.inner;
  if (count <= 0) return;
  detail::parallel_for(x_view.outer * count, detail::row_grain(inner), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t o = row / count, i = row % count;
      std::memcpy(out + row * inner, x + (o * x_view.axis + start + i * step) * inner, sizeof(float) * inner);
    }
  });
}

void slice_assign(const float* src, int64_t count, float* out, const AxisView& out_view, int64_t start, int64_t step) {
  const int64_t inner = out_view.inner;
  if (count <= 0) return;
  detail::parallel_for(out_view.outer * count, detail::row_grain(inner), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t o = row / count, i = row % count;
      std::memcpy(out + (o * out_view.axis + start + i * step) * inner, src + row * inner, sizeof(float) * inner);
    }
  });
}

void gather(const float* x, const AxisView& x_view, const float* indices, int64_t n, float* out) {
  const int64_t inner = x_view.inner;
  if (n <= 0) return;
  detail::parallel_for(x_view.outer * n, detail::row_grain(inner), [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t o = row / n, index = static_cast<int64_t>(indices[row % n]);
      std::memcpy(out + row * inner, x + (o * x_view.axis + index) * inner, sizeof(float) * inner);
    }
  });
}

void scatter_add(const float* src, const float* indices, int64_t n, float* out, const AxisView& out_view) {
  const int64_t inner = out_view.inner;
  if (n <= 0 || inner <= 0) return;
  // Threads split (outer, inner block) positions and each walks all n indices, so repeated
  // indices never race.
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int64_t position_elements = n * std::min(kBlock, inner);
  detail::parallel_for(out_view.outer * blocks, detail::row_grain(position_elements), [&](int64_t first, int64_t last) {
    for (int64_t position = first; position < last; ++position) {
      const int64_t o = position / blocks, b = position % blocks;
      const int64_t begin = b * kBlock, end = std::min(begin + kBlock, inner);
      for (int64_t i = 0; i < n; ++i) {
        const auto index = static_cast<int64_t>(indices[i]);
        const float* s = src + (o * n + i) * inner;
        float* d = out + (o * out_view.axis + index) * inner;
        for (int64_t j = begin; j < end; ++j) d[j] += s[j];
      }
    }
  });
}

void argmax(const float* x, const AxisView& view, float* out) {
  if (view.inner <= 0) return;
  detail::parallel_for(view.outer * view.inner, detail::row_grain(view.axis), [&](int64_t begin, int64_t end) {
    for (int64_t position = begin; position < end; ++position) {
      const int64_t o = position / view.inner, i = position % view.inner;
      const float* p = x + o * view.axis * view.inner + i;
      int64_t best = 0;
      for (int64_t a = 1; a < view.axis; ++a) {
        if (p[a * view.inner] > p[best * view.inner]) best = a;
      }
      out[position] = static_cast<float>(best);
    }
  });
}

}  // namespace minidl::backend
