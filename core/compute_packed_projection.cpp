// The packed q/k/v projection of MultiHeadAttention's self-attention as one product per kernel,
// each on its column block of the packed matrix (compute.h, "packed projection").
#include <fmt/format.h>

#include <algorithm>

#include "minidl/core/backend/backend.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"
#include "minidl/core/threading.h"

namespace minidl::compute {
namespace {

// Each kernel's output width n_i (its elements over x's last dimension), checked against x.
std::vector<int64_t> block_widths(const Tensor& x, const std::vector<Tensor>& kernels) {
  std::vector<int64_t> widths;
  for (const Tensor& w : kernels) {
    if (x.ndim() < 1 || w.ndim() < 2 || w.dim(0) != x.dim(-1)) {
      throw ShapeError(fmt::format("packed_projection: x {} does not fit kernel {}.", shape_to_string(x.shape()),
                                   shape_to_string(w.shape())));
    }
    int64_t n = 1;  // the kernel's trailing axes (also when it has no rows, k = 0)
    for (int64_t i = 1; i < w.ndim(); ++i) n *= w.dim(i);
    widths.push_back(n);
  }
  return widths;
}

// x's rows: the product of its leading axes (also when x has no features, k = 0).
int64_t rows_of(const Tensor& x) {
  int64_t rows = 1;
  for (int64_t i = 0; i + 1 < x.ndim(); ++i) rows *= x.dim(i);
  return rows;
}

int64_t total(const std::vector<int64_t>& widths) {
  int64_t sum = 0;
  for (int64_t n : widths) sum += n;
  return sum;
}

}  // namespace

Tensor packed_projection(const Tensor& x, const std::vector<Tensor>& kernels, const std::vector<Tensor>& biases) {
  const std::vector<int64_t> widths = block_widths(x, kernels);
  if (!biases.empty() && biases.size() != kernels.size()) {
    throw ValueError(fmt::format("packed_projection: {} kernels and {} biases.", kernels.size(), biases.size()));
  }
  for (size_t i = 0; i < biases.size(); ++i) {
    if (biases[i].size() != widths[i]) {
      throw ShapeError(fmt::format("packed_projection: bias {} does not fit kernel {}.",
                                   shape_to_string(biases[i].shape()), shape_to_string(kernels[i].shape())));
    }
  }
  const int64_t k = x.dim(-1), rows = rows_of(x), width = total(widths);
  Shape out_shape = x.shape();
  out_shape.back() = width;
  Tensor y = Tensor::empty(out_shape);
  float* out = y.mutable_data();
  // One product per block and per share of the rows: the shares run concurrently, one per thread.
  const int64_t shares = std::max<int64_t>(1, std::min<int64_t>(get_num_threads(), rows / 64));
  std::vector<backend::StridedProduct> products;
  int64_t start = 0;
  for (size_t i = 0; i < kernels.size(); ++i) {
    for (int64_t s = 0; s < shares; ++s) {
      const int64_t r0 = rows * s / shares, r1 = rows * (s + 1) / shares;
      products.push_back({.m = r1 - r0,
                          .n = widths[i],
                          .k = k,
                          .a = {x.data() + r0 * k, k, 1},
                          .b = {kernels[i].data(), widths[i], 1},
                          .bias = biases.empty() ? nullptr : biases[i].data(),
                          .c = out + r0 * width + start,
                          .ldc = width,
                          .chain = static_cast<int>(products.size())});
    }
    start += widths[i];
  }
  backend::strided_matmuls(products);
  return y;
}

PackedProjectionGrads packed_projection_backward(const Tensor& x, const std::vector<Tensor>& kernels, const Tensor& dy,
                                                 bool want_x, bool want_kernels,
                                                 const std::vector<Shape>& bias_shapes) {
  const std::vector<int64_t> widths = block_widths(x, kernels);
  const int64_t k = x.dim(-1), rows = rows_of(x), width = total(widths);
  if (dy.size() != rows * width || dy.dim(-1) != width) {
    throw ShapeError(fmt::format("packed_projection_backward: dy {} does not fit x {} and {} kernels of {} columns.",
                                 shape_to_string(dy.shape()), shape_to_string(x.shape()), kernels.size(), width));
  }
  const bool want_biases = !bias_shapes.empty();
  if (want_biases && bias_shapes.size() != kernels.size()) {
    throw ValueError(fmt::format("packed_projection_backward: {} kernels and {} bias shapes.", kernels.size(),
                                 bias_shapes.size()));
  }
  for (size_t i = 0; want_biases && i < kernels.size(); ++i) {
    if (shape_size(bias_shapes[i]) != widths[i]) {
      throw ShapeError(fmt::format("packed_projection_backward: bias shape {} does not fit kernel {}.",
                                   shape_to_string(bias_shapes[i]), shape_to_string(kernels[i].shape())));
    }
  }
  PackedProjectionGrads g;
  const float* d = dy.data();
  std::vector<backend::StridedProduct> products;
  if (want_x) {
    // dx = sum_i dy_i w_i^T, one chain: the first block writes, the others add.
    g.x = Tensor::empty(x.shape());
    int64_t start = 0;
    for (size_t i = 0; i < kernels.size(); ++i) {
      products.push_back({.m = rows,
                          .n = k,
                          .k = widths[i],
                          .a = {d + start, width, 1},
                          .b = {kernels[i].data(), 1, widths[i]},
                          .c = g.x.mutable_data(),
                          .ldc = k,
                          .accumulate = i > 0,
                          .chain = 0});
      start += widths[i];
    }
  }
  // The kernels' gradients x^T dy_i, with the biases' as one more row: x^T is copied (oneDNN 2.6's
  // matmul reads a transposed source 10-13% slower at these shapes, bench/RESULTS.md, fourth
  // pass) into (k + 1, rows) whose last row is ones, so that row of the product is dy_i's column
  // sums and dy is read once. Each gradient in two column halves (chains that deal out evenly).
  std::vector<Tensor> blocks;
  if (want_kernels || want_biases) {
    const int64_t a_rows = want_kernels ? k + 1 : 1;
    Tensor xt = Tensor::empty({a_rows, rows});
    float* ones = xt.mutable_data() + (a_rows - 1) * rows;
    if (want_kernels) backend::permute(x.data(), {rows, k}, {1, 0}, xt.mutable_data());
    std::fill_n(ones, rows, 1.0f);
    int64_t start = 0;
    for (size_t i = 0; i < kernels.size(); ++i) {
      blocks.push_back(Tensor::empty({a_rows, widths[i]}));
      const int64_t halves = widths[i] >= 64 ? 2 : 1;
      for (int64_t h = 0; h < halves; ++h) {
        const int64_t c0 = widths[i] * h / halves, c1 = widths[i] * (h + 1) / halves;
        products.push_back({.m = a_rows,
                            .n = c1 - c0,
                            .k = rows,
                            .a = {xt.data(), rows, 1},
                            .b = {d + start + c0, width, 1},
                            .c = blocks.back().mutable_data() + c0,
                            .ldc = widths[i],
                            .chain = static_cast<int>(1 + 2 * i + static_cast<size_t>(h))});
      }
      start += widths[i];
    }
    backend::strided_matmuls(products);
    for (size_t i = 0; i < kernels.size(); ++i) {
      const float* block = blocks[i].data();
      if (want_kernels) {
        Tensor dw = Tensor::empty(kernels[i].shape());
        std::copy_n(block, k * widths[i], dw.mutable_data());
        g.kernels.push_back(dw);
      }
      if (want_biases) {
        Tensor db = Tensor::empty(bias_shapes[i]);
        std::copy_n(block + (a_rows - 1) * widths[i], widths[i], db.mutable_data());
        g.biases.push_back(db);
      }
    }
    return g;
  }
  backend::strided_matmuls(products);
  return g;
}

}  // namespace minidl::compute
