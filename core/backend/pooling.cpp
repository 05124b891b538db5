// Max and average pooling on oneDNN's pooling primitives (forward training with the arg-max
// workspace, backward from it), and our own loops for what those skip: NaN inputs (the jit max
// kernel's vmaxps drops a NaN), ref:* fallbacks, a backward without workspace, and the
// select step that second derivatives of max pooling need.
//
// Channels-last max pooling runs our own loops instead of the primitives: oneDNN 2.6's jit:avx2
// max pooling writes its nhwc arg-max workspace slowly (forward_training on (64,28,28,32) took
// 9.6 ms against 1.4 ms for forward_inference, backward 4.1 ms; 1 thread, ONEDNN_VERBOSE), while
// a channels-last window is a few rows of `channels` contiguous floats that a loop over the
// channels vectorises. Its workspace is our own: an int32 per output (as wide as the floats, so
// the compare-and-select loops vectorise), the window position of the first largest entry (a NaN
// counts as largest, as in pool_forward_loop), so the same loop also serves NaN inputs.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {
namespace {

using dnnl::memory;

memory::format_tag pool_layout_tag(size_t rank, bool channels_last) {
  switch (rank) {
    case 3: return channels_last ? memory::format_tag::nwc : memory::format_tag::ncw;
    case 4: return channels_last ? memory::format_tag::nhwc : memory::format_tag::nchw;
    default: return channels_last ? memory::format_tag::ndhwc : memory::format_tag::ncdhw;
  }
}

// oneDNN's logical dims are (N, C, spatial...) whatever the layout; the tag gives the strides.
memory::desc pool_desc(const PoolingProblem& p, const Dims& spatial) {
  memory::dims dims = {p.batch, p.channels};
  dims.insert(dims.end(), spatial.begin(), spatial.end());
  return memory::desc(dims, memory::data_type::f32, pool_layout_tag(dims.size(), p.channels_last));
}

detail::KeyBuilder pool_key(const char* kind, const PoolingProblem& p) {
  detail::KeyBuilder key(kind);
  key.add(p.max ? "max" : "avg")
      .add(p.channels_last ? "nspc" : "ncsp")
      .add(Dims{p.batch, p.channels})
      .add(p.in_spatial)
      .add(p.out_spatial)
      .add(p.kernel)
      .add(p.strides)
      .add(p.pad_left)
      .add(p.pad_right);
  return key;
}

dnnl::pooling_forward::primitive_desc pool_forward_desc(const PoolingProblem& p, bool training) {
  const dnnl::algorithm alg = p.max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
  dnnl::pooling_forward::desc desc(training ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference,
                                   alg, pool_desc(p, p.in_spatial), pool_desc(p, p.out_spatial), p.strides, p.kernel,
                                   p.pad_left, p.pad_right);
  return dnnl::pooling_forward::primitive_desc(desc, detail::engine());
}

// The window geometry on three spatial axes (missing leading axes of size 1), for our loops.
struct PoolGeometry {
  std::array<int64_t, 3> in{1, 1, 1}, out{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1}, pad{0, 0, 0};
  int64_t in_size = 1, out_size = 1, channels = 1, batch = 1;
  bool channels_last = true;

  explicit PoolGeometry(const PoolingProblem& p) : channels(p.channels), batch(p.batch), channels_last(p.channels_last) {
    const size_t skip = 3 - p.in_spatial.size();
    for (size_t i = 0; i < p.in_spatial.size(); ++i) {
      in[skip + i] = p.in_spatial[i];
      out[skip + i] = p.out_spatial[i];
      kernel[skip + i] = p.kernel[i];
      stride[skip + i] = p.strides[i];
      pad[skip + i] = p.pad_left[i];
    }
    in_size = in[0] * in[1] * in[2];
    out_size = out[0] * out[1] * out[2];
  }
  // Where channel c of spatial position s of sample n lives, for `size` positions per sample.
  int64_t offset(int64_t n, int64_t c, int64_t s, int64_t size) const {
    return channels_last ? (n * size + s) * channels + c : (n * channels + c) * size + s;
  }
  // Calls f(input position, position within the window) for each real (unpadded) input
  // position of output position o.
  template <class F>
  void for_window_indexed(int64_t o, F&& f) const {
    const int64_t od = o / (out[1] * out[2]), oh = (o / out[2]) % out[1], ow = o % out[2];
    const int64_t d0 = od * stride[0] - pad[0], h0 = oh * stride[1] - pad[1], w0 = ow * stride[2] - pad[2];
    for (int64_t d = std::max<int64_t>(d0, 0); d < std::min(d0 + kernel[0], in[0]); ++d)
      for (int64_t h = std::max<int64_t>(h0, 0); h < std::min(h0 + kernel[1], in[1]); ++h)
        for (int64_t w = std::max<int64_t>(w0, 0); w < std::min(w0 + kernel[2], in[2]); ++w) {
          f((d * in[1] + h) * in[2] + w, ((d - d0) * kernel[1] + (h - h0)) * kernel[2] + (w - w0));
        }
  }
  template <class F>
  void for_window(int64_t o, F&& f) const {
    for_window_indexed(o, [&](int64_t s, int64_t) { f(s); });
  }
  int64_t window_volume() const { return kernel[0] * kernel[1] * kernel[2]; }
  // The windows cover the input exactly once (stride = kernel, no padding, nothing left over).
  bool tiles() const {
    for (int i = 0; i < 3; ++i) {
      if (stride[i] != kernel[i] || pad[i] != 0 || out[i] * stride[i] != in[i]) return false;
    }
    return true;
  }
  // The input position of the first largest entry of the window (a NaN counts as largest), or
  // -1 for a window with no real entry.
  int64_t argmax(const float* x, int64_t n, int64_t c, int64_t o) const {
    int64_t best = -1;
    float value = 0.0f;
    for_window(o, [&](int64_t s) {
      const float v = x[offset(n, c, s, in_size)];
      if (best < 0 || (!std::isnan(value) && (v > value || std::isnan(v)))) {
        best = s;
        value = v;
      }
    });
    return best;
  }
};

void pool_forward_loop(const PoolingProblem& p, const float* x, float* y) {
  const PoolGeometry g(p);
  detail::parallel_for(g.batch * g.out_size, detail::kParallelGrain / std::max<int64_t>(g.channels, 1),
                       [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / g.out_size, o = i % g.out_size;
      for (int64_t c = 0; c < g.channels; ++c) {
        float& out = y[g.offset(n, c, o, g.out_size)];
        if (p.max) {
          const int64_t s = g.argmax(x, n, c, o);
          out = s < 0 ? -std::numeric_limits<float>::infinity() : x[g.offset(n, c, s, g.in_size)];
        } else {
          float sum = 0.0f;
          int64_t count = 0;
          g.for_window(o, [&](int64_t s) {
            sum += x[g.offset(n, c, s, g.in_size)];
            ++count;
          });
          out = sum / static_cast<float>(count);
        }
      }
    }
  });
}

// Windows overlap when strides are smaller than the kernel, so threads split the batch: each
// sample's dx is written by one thread.
void pool_backward_loop(const PoolingProblem& p, const float* x, const float* dy, float* dx) {
  const PoolGeometry g(p);
  std::fill(dx, dx + g.batch * g.channels * g.in_size, 0.0f);
  detail::parallel_for(g.batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t o = 0; o < g.out_size; ++o) {
        for (int64_t c = 0; c < g.channels; ++c) {
          const float d = dy[g.offset(n, c, o, g.out_size)];
          if (p.max) {
            const int64_t s = g.argmax(x, n, c, o);
            if (s >= 0) dx[g.offset(n, c, s, g.in_size)] += d;
          } else {
            int64_t count = 0;
            g.for_window(o, [&](int64_t) { ++count; });
            const float share = d / static_cast<float>(count);
            g.for_window(o, [&](int64_t s) { dx[g.offset(n, c, s, g.in_size)] += share; });
          }
        }
      }
    }
  });
}

// ---- channels-last max pooling in our own loops ----------------------------------------------

// The arg-max of a window with no real entry.
constexpr int32_t kNoArgmax = -1;

bool own_max_pool(const PoolingProblem& p) { return p.max && p.channels_last; }

// y (and, when kArgmax, the window position of each maximum) over rows of channels.
template <bool kArgmax>
void max_pool_channels_last(const PoolGeometry& g, const float* x, float* y, int32_t* argmax) {
  const int64_t channels = g.channels;
  detail::parallel_for(g.batch * g.out_size, std::max<int64_t>(1, detail::kParallelGrain / std::max<int64_t>(channels, 1)),
                       [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / g.out_size, o = i % g.out_size;
      float* out = y + i * channels;
      int32_t* arg = kArgmax ? argmax + i * channels : nullptr;
      bool first = true;
      g.for_window_indexed(o, [&](int64_t s, int64_t k) {
        const float* row = x + (n * g.in_size + s) * channels;
        const auto position = static_cast<int32_t>(k);
        if (first) {
          std::copy(row, row + channels, out);
          if constexpr (kArgmax) std::fill(arg, arg + channels, position);
          first = false;
          return;
        }
        for (int64_t c = 0; c < channels; ++c) {
          const float v = row[c], best = out[c];
          // Strictly larger keeps the first maximum; a NaN wins over a number and stays.
          const bool take = (v > best) | ((v != v) & (best == best));  // no branches: vectorises
          out[c] = take ? v : best;
          if constexpr (kArgmax) arg[c] = take ? position : arg[c];
        }
      });
      if (first) {  // no real entry (padding only)
        std::fill(out, out + channels, -std::numeric_limits<float>::infinity());
        if constexpr (kArgmax) std::fill(arg, arg + channels, kNoArgmax);
      }
    }
  });
}

// dx: each output's gradient at its window's recorded maximum. Threads split the batch, so
// overlapping windows of a sample add up on one thread; windows that tile the input write each
// dx entry once and need no zero fill.
void max_pool_channels_last_backward(const PoolGeometry& g, const float* dy, const int32_t* argmax, float* dx) {
  const int64_t channels = g.channels;
  const bool tiles = g.tiles();
  detail::parallel_for(g.batch, 1, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      float* dx_n = dx + n * g.in_size * channels;
      if (!tiles) std::fill(dx_n, dx_n + g.in_size * channels, 0.0f);
      for (int64_t o = 0; o < g.out_size; ++o) {
        const float* d = dy + (n * g.out_size + o) * channels;
        const int32_t* arg = argmax + (n * g.out_size + o) * channels;
        g.for_window_indexed(o, [&](int64_t s, int64_t k) {
          float* target = dx_n + s * channels;
          const auto position = static_cast<int32_t>(k);
          // Both values loaded before the select, so that the loops vectorise.
          if (tiles) {
            for (int64_t c = 0; c < channels; ++c) {
              const float value = d[c];
              target[c] = arg[c] == position ? value : 0.0f;
            }
          } else {
            for (int64_t c = 0; c < channels; ++c) {
              const float value = d[c], sum = target[c] + value, kept = target[c];
              target[c] = arg[c] == position ? sum : kept;
            }
          }
        });
      }
    }
  });
}

}  // namespace

int64_t pooling_workspace_bytes(const PoolingProblem& p) {
  if (!p.max) return 0;
  if (own_max_pool(p)) return p.batch * p.channels * detail::product(p.out_spatial) * int64_t{sizeof(int32_t)};
  detail::ensure_initialized();
  return static_cast<int64_t>(pool_forward_desc(p, true).workspace_desc().get_size());
}

bool pooling_forward(const PoolingProblem& p, const float* x, float* y, void* workspace) {
  detail::ensure_initialized();
  const int64_t in_count = p.batch * p.channels * detail::product(p.in_spatial);
  if (in_count == 0 || p.batch * p.channels * detail::product(p.out_spatial) == 0) return false;
  if (own_max_pool(p)) {
    const PoolGeometry g(p);
    if (workspace == nullptr) {
      max_pool_channels_last<false>(g, x, y, nullptr);
      return false;
    }
    max_pool_channels_last<true>(g, x, y, static_cast<int32_t*>(workspace));
    return true;
  }
  if (p.max && detail::any_nan(x, in_count)) {
    pool_forward_loop(p, x, y);
    return false;
  }
  const bool training = p.max && workspace != nullptr;
  const detail::OneThreadScope one_thread(in_count <= detail::kSingleThreadElements);
  const std::string key = pool_key(training ? "pool_fwd_training" : "pool_fwd", p).str();
  const auto& entry = detail::thread_primitive(
      key, [&] { return pool_forward_desc(p, training); },
      [&] {
        std::vector<detail::ArgumentDesc> args{{DNNL_ARG_SRC, pool_desc(p, p.in_spatial)},
                                               {DNNL_ARG_DST, pool_desc(p, p.out_spatial)}};
        if (training) args.push_back({DNNL_ARG_WORKSPACE, pool_forward_desc(p, true).workspace_desc()});
        return args;
      });
  if (entry.is_reference()) {
    detail::mark_unused(key);
    pool_forward_loop(p, x, y);
    return false;
  }
  if (training) {
    entry.run({x, y, static_cast<const float*>(workspace)});
  } else {
    entry.run({x, y});
  }
  return training;
}

void pooling_backward(const PoolingProblem& p, const float* x, const float* dy, float* dx, const void* workspace) {
  detail::ensure_initialized();
  const int64_t in_count = p.batch * p.channels * detail::product(p.in_spatial);
  if (in_count == 0) return;
  if (p.batch * p.channels * detail::product(p.out_spatial) == 0 || (p.max && workspace == nullptr)) {
    pool_backward_loop(p, x, dy, dx);
    return;
  }
  if (own_max_pool(p)) {
    max_pool_channels_last_backward(PoolGeometry(p), dy, static_cast<const int32_t*>(workspace), dx);
    return;
  }
  const detail::OneThreadScope one_thread(in_count <= detail::kSingleThreadElements);
  const std::string key = pool_key("pool_bwd", p).str();
  const auto& entry = detail::thread_primitive(
      key,
      [&] {
        const dnnl::algorithm alg =
            p.max ? dnnl::algorithm::pooling_max : dnnl::algorithm::pooling_avg_exclude_padding;
        dnnl::pooling_backward::desc desc(alg, pool_desc(p, p.in_spatial), pool_desc(p, p.out_spatial), p.strides,
                                          p.kernel, p.pad_left, p.pad_right);
        return dnnl::pooling_backward::primitive_desc(desc, detail::engine(), pool_forward_desc(p, true));
      },
      [&] {
        std::vector<detail::ArgumentDesc> args{{DNNL_ARG_DIFF_DST, pool_desc(p, p.out_spatial)},
                                               {DNNL_ARG_DIFF_SRC, pool_desc(p, p.in_spatial)}};
        if (p.max) args.push_back({DNNL_ARG_WORKSPACE, pool_forward_desc(p, true).workspace_desc()});
        return args;
      });
  // A ref:* backward (or a workspace our loop did not write) takes our loop.
  if (entry.is_reference()) {
    detail::mark_unused(key);
    pool_backward_loop(p, x, dy, dx);
    return;
  }
  if (p.max) {
    entry.run({dy, dx, static_cast<const float*>(workspace)});
  } else {
    entry.run({dy, dx});
  }
}

void max_pool_select(const PoolingProblem& p, const float* x, const float* g, float* out) {
  detail::ensure_initialized();
  const PoolGeometry geo(p);
  detail::parallel_for(geo.batch * geo.out_size, detail::kParallelGrain / std::max<int64_t>(geo.channels, 1),
                       [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const int64_t n = i / geo.out_size, o = i % geo.out_size;
      for (int64_t c = 0; c < geo.channels; ++c) {
        const int64_t s = geo.argmax(x, n, c, o);
        out[geo.offset(n, c, o, geo.out_size)] = s < 0 ? 0.0f : g[geo.offset(n, c, s, geo.in_size)];
      }
    }
  });
}

}  // namespace minidl::backend
