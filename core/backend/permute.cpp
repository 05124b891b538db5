#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {

void permute(const float* x, const Dims& shape, const std::vector<int>& perm, float* out) {
  detail::ensure_initialized();
  const int64_t n = detail::product(shape);
  if (n == 0) return;
  // Drop size-1 axes and merge axes that stay neighbours in the same order: a transpose of
  // (B, T, D) -> (B, D, T) becomes a batch of 2-D transposes, which reorders fast.
  Dims in_strides(shape.size());
  for (size_t i = shape.size(), s = 1; i-- > 0;) {
    in_strides[i] = static_cast<int64_t>(s);
    s *= static_cast<size_t>(shape[i]);
  }
  Dims dims, strides;
  for (int axis : perm) {
    if (shape[axis] == 1) continue;
    if (!dims.empty() && strides.back() == in_strides[axis] * shape[axis]) {
      dims.back() *= shape[axis];
      strides.back() = in_strides[axis];
    } else {
      dims.push_back(shape[axis]);
      strides.push_back(in_strides[axis]);
    }
  }
  if (dims.size() <= 1) {
    copy(x, out, n);
    return;
  }
  const std::string key = detail::KeyBuilder("reorder").add(dims).add(strides).str();
  const auto& entry = detail::thread_primitive(
      key,
      [&] {
        return dnnl::reorder::primitive_desc(detail::engine(), detail::strided_desc(dims, strides), detail::engine(),
                                             detail::dense_desc(dims));
      },
      [&] {
        return std::vector<detail::ArgumentDesc>{{DNNL_ARG_FROM, detail::strided_desc(dims, strides)},
                                                 {DNNL_ARG_TO, detail::dense_desc(dims)}};
      });
  if (!entry.is_reference()) {
    entry.run({x, out});
    return;
  }
  detail::mark_unused(key);
  const std::array<Dims, 1> source = {strides};
  detail::for_each_row<1>(dims, source, [&](int64_t o, const std::array<int64_t, 1>& in, int64_t count,
                                            const std::array<int64_t, 1>& inner) {
    for (int64_t j = 0; j < count; ++j) out[o + j] = x[in[0] + j * inner[0]];
  });
}

}  // namespace minidl::backend
