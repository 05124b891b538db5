// y = x w + b in one oneDNN matmul primitive (the bias as the primitive's bias argument): the
// projections of EinsumDense (MultiHeadAttention's query, key, value and output) without a
// separate pass over y to add the bias. backend.h, "product with a bias".
#include <string>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"

namespace minidl::backend {

void matmul_bias(const float* x, const float* w, const float* bias, float* y, int64_t m, int64_t k, int64_t n) {
  detail::ensure_initialized();
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * n + j] = bias[j];
    return;
  }
  // Small products run on one thread, as backend::matmul's (the same threshold).
  const detail::OneThreadScope one_thread(m * n * k <= 100 * 100 * 100);
  const std::string key = detail::KeyBuilder("matmul_bias").add(Dims{m, k, n}).str();
  const auto& entry = detail::thread_primitive(
      key,
      [&] {
        dnnl::matmul::desc desc(detail::dense_desc({m, k}), detail::dense_desc({k, n}), detail::dense_desc({1, n}),
                                detail::dense_desc({m, n}));
        return dnnl::matmul::primitive_desc(desc, detail::engine());
      },
      [&] {
        return std::vector<detail::ArgumentDesc>{{DNNL_ARG_SRC, detail::dense_desc({m, k})},
                                                 {DNNL_ARG_WEIGHTS, detail::dense_desc({k, n})},
                                                 {DNNL_ARG_BIAS, detail::dense_desc({1, n})},
                                                 {DNNL_ARG_DST, detail::dense_desc({m, n})}};
      });
  if (entry.is_reference()) {
    // Never expected for a plain f32 product; kept correct anyway: the product, then the bias.
    detail::mark_unused(key);
    matmul(x, {m, k}, false, w, {k, n}, false, y, {m, n});
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * n + j] += bias[j];
    return;
  }
  entry.run({x, w, bias, y});
}

}  // namespace minidl::backend
