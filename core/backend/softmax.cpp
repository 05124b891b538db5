#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {
namespace {

struct AxisSplit {
  int64_t outer = 1, axis = 1, inner = 1;
};

AxisSplit split_at(const Dims& shape, int axis) {
  AxisSplit s;
  for (int i = 0; i < axis; ++i) s.outer *= shape[i];
  s.axis = shape[axis];
  for (size_t i = axis + 1; i < shape.size(); ++i) s.inner *= shape[i];
  return s;
}

dnnl::algorithm algorithm(bool log) {
  return log ? dnnl::algorithm::softmax_log : dnnl::algorithm::softmax_accurate;
}

dnnl::softmax_v2_forward::primitive_desc forward_desc(const Dims& dims, bool log) {
  const auto md = detail::dense_desc(dims);
  dnnl::softmax_v2_forward::desc desc(dnnl::prop_kind::forward_training, algorithm(log), md, md, 1);
  return dnnl::softmax_v2_forward::primitive_desc(desc, detail::engine());
}

// oneDNN 2.6's fast softmax needs the axis innermost; for (outer, axis, inner) with inner > 1
// we run our own loop, vectorised along the contiguous inner dimension.
void forward_loop(const float* x, float* y, const AxisSplit& s, bool log) {
  detail::parallel_for(s.outer, detail::row_grain(s.axis * s.inner), [&](int64_t begin, int64_t end) {
    std::vector<float> max(s.inner), sum(s.inner);
    for (int64_t o = begin; o < end; ++o) {
      const float* px = x + o * s.axis * s.inner;
      float* py = y + o * s.axis * s.inner;
      std::fill(max.begin(), max.end(), -std::numeric_limits<float>::infinity());
      std::fill(sum.begin(), sum.end(), 0.0f);
      for (int64_t a = 0; a < s.axis; ++a) {
        for (int64_t i = 0; i < s.inner; ++i) max[i] = std::max(max[i], px[a * s.inner + i]);
      }
      for (int64_t a = 0; a < s.axis; ++a) {
        for (int64_t i = 0; i < s.inner; ++i) {
          const float e = std::exp(px[a * s.inner + i] - max[i]);
          sum[i] += e;
          if (!log) py[a * s.inner + i] = e;
        }
      }
      for (int64_t a = 0; a < s.axis; ++a) {
        for (int64_t i = 0; i < s.inner; ++i) {
          float& out = py[a * s.inner + i];
          out = log ? px[a * s.inner + i] - max[i] - std::log(sum[i]) : out / sum[i];
        }
      }
    }
  });
}

void backward_loop(const float* y, const float* dy, float* dx, const AxisSplit& s, bool log) {
  detail::parallel_for(s.outer, detail::row_grain(s.axis * s.inner), [&](int64_t begin, int64_t end) {
    std::vector<float> dot(s.inner);
    for (int64_t o = begin; o < end; ++o) {
      const int64_t base = o * s.axis * s.inner;
      std::fill(dot.begin(), dot.end(), 0.0f);
      for (int64_t a = 0; a < s.axis; ++a) {
        for (int64_t i = 0; i < s.inner; ++i) {
          const int64_t k = base + a * s.inner + i;
          dot[i] += log ? dy[k] : dy[k] * y[k];
        }
      }
      for (int64_t a = 0; a < s.axis; ++a) {
        for (int64_t i = 0; i < s.inner; ++i) {
          const int64_t k = base + a * s.inner + i;
          // softmax: dx = y * (dy - sum(dy * y)); log_softmax: dx = dy - exp(y) * sum(dy).
          dx[k] = log ? dy[k] - std::exp(y[k]) * dot[i] : y[k] * (dy[k] - dot[i]);
        }
      }
    }
  });
}

}  // namespace

void softmax_forward(const float* x, float* y, const Dims& shape, int axis, bool log) {
  detail::ensure_initialized();
  const AxisSplit s = split_at(shape, axis);
  if (s.outer * s.axis * s.inner == 0) return;
  // oneDNN's softmax takes the row maximum and clamps its exp input with SIMD max/min, which
  // skip NaNs: a row holding a NaN came out finite. Our loop gives NaN for the whole row, as
  // PyTorch and TensorFlow do.
  if (s.inner != 1 || detail::any_nan(x, s.outer * s.axis)) {
    forward_loop(x, y, s, log);
    return;
  }
  const Dims dims = {s.outer, s.axis};
  const detail::OneThreadScope one_thread(detail::product(dims) <= detail::kSingleThreadElements);
  const std::string key = detail::KeyBuilder("softmax_fwd").add(log ? "log" : "accurate").add(dims).str();
  const auto& entry = detail::thread_primitive(
      key, [&] { return forward_desc(dims, log); },
      [&] {
        const auto md = detail::dense_desc(dims);
        return std::vector<detail::ArgumentDesc>{{DNNL_ARG_SRC, md}, {DNNL_ARG_DST, md}};
      });
  if (entry.is_reference()) {
    detail::mark_unused(key);
    forward_loop(x, y, s, log);
    return;
  }
  entry.run({x, y});
}

void softmax_backward(const float* y, const float* dy, float* dx, const Dims& shape, int axis, bool log) {
  detail::ensure_initialized();
  const AxisSplit s = split_at(shape, axis);
  if (s.outer * s.axis * s.inner == 0) return;
  if (s.inner != 1) {
    backward_loop(y, dy, dx, s, log);
    return;
  }
  const Dims dims = {s.outer, s.axis};
  const detail::OneThreadScope one_thread(detail::product(dims) <= detail::kSingleThreadElements);
  const std::string key = detail::KeyBuilder("softmax_bwd").add(log ? "log" : "accurate").add(dims).str();
  const auto& entry = detail::thread_primitive(
      key,
      [&] {
        const auto md = detail::dense_desc(dims);
        dnnl::softmax_v2_backward::desc desc(algorithm(log), md, md, md, 1);
        return dnnl::softmax_v2_backward::primitive_desc(desc, detail::engine(), forward_desc(dims, log));
      },
      [&] {
        const auto md = detail::dense_desc(dims);
        return std::vector<detail::ArgumentDesc>{{DNNL_ARG_DST, md}, {DNNL_ARG_DIFF_DST, md}, {DNNL_ARG_DIFF_SRC, md}};
      });
  if (entry.is_reference()) {
    detail::mark_unused(key);
    backward_loop(y, dy, dx, s, log);
    return;
  }
  entry.run({y, dy, dx});
}

}  // namespace minidl::backend
