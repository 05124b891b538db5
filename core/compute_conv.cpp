// md::compute's convolutions (core/compute.h): shapes checked and outputs allocated, then the
// oneDNN wrappers of core/backend/convolution.cpp.
#include <fmt/format.h>

#include "minidl/core/backend/backend.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::compute {
namespace {

size_t spatial_rank(const Shape& x) { return x.size() - 2; }
int64_t channels(const Shape& x, bool channels_first) { return channels_first ? x[1] : x.back(); }
int64_t spatial_dim(const Shape& x, size_t i, bool channels_first) { return x[(channels_first ? 2 : 1) + i]; }

void check_params(const Shape& x, const Shape& kernel, const ConvParams& p) {
  const size_t rank = kernel.size() - 2;
  if (kernel.size() != x.size() || x.size() < 3 || x.size() > 5) {
    throw ValueError(fmt::format("Kernel shape must have the same length as input, but received kernel of shape {} "
                                 "and input of shape {}.",
                                 shape_to_string(kernel), shape_to_string(x)));
  }
  if (p.strides.size() != rank || p.dilation.size() != rank || p.pad_before.size() != rank ||
      p.pad_after.size() != rank) {
    throw ValueError(fmt::format("conv: strides, dilation and paddings need {} values each (one per spatial axis).",
                                 rank));
  }
  const int64_t c = channels(x, p.channels_first), per_group = kernel[rank];
  if (c != None && per_group != None && (per_group <= 0 || c % per_group != 0)) {
    throw ValueError(fmt::format("The number of input channels must be divisible by kernel.shape[-2]. Received "
                                 "input of shape {} and kernel of shape {}.",
                                 shape_to_string(x), shape_to_string(kernel)));
  }
  if (c != None && per_group != None && kernel[rank + 1] != None && kernel[rank + 1] % (c / per_group) != 0) {
    throw ValueError(fmt::format("The number of filters (kernel.shape[-1] = {}) must be divisible by the number of "
                                 "groups ({}).",
                                 kernel[rank + 1], c / per_group));
  }
}

// The geometry of conv(x, kernel) whose output has shape y.
backend::ConvGeometry geometry(const Shape& x, const Shape& kernel, const Shape& y, const ConvParams& p) {
  const size_t rank = spatial_rank(x);
  backend::ConvGeometry g;
  g.batch = x[0];
  g.in_channels = channels(x, p.channels_first);
  g.out_channels = channels(y, p.channels_first);
  g.groups = g.in_channels / kernel[rank];
  for (size_t i = 0; i < rank; ++i) {
    g.in_spatial.push_back(spatial_dim(x, i, p.channels_first));
    g.out_spatial.push_back(spatial_dim(y, i, p.channels_first));
    g.kernel.push_back(kernel[i]);
  }
  g.strides = p.strides;
  g.dilation = p.dilation;
  g.pad_before = p.pad_before;
  g.pad_after = p.pad_after;
  g.channels_first = p.channels_first;
  return g;
}

void check_same(const Shape& given, const Shape& expected, const char* what) {
  if (given != expected) {
    throw ShapeError(fmt::format("conv: {} has shape {}; the convolution needs {}.", what, shape_to_string(given),
                                 shape_to_string(expected)));
  }
}

}  // namespace

Shape conv_output_shape(const Shape& x, const Shape& kernel, const ConvParams& p) {
  check_params(x, kernel, p);
  const size_t rank = spatial_rank(x);
  Shape out{x[0]};
  if (p.channels_first) out.push_back(kernel.back());
  for (size_t i = 0; i < rank; ++i) {
    const int64_t in = spatial_dim(x, i, p.channels_first);
    if (in == None || kernel[i] == None) {
      out.push_back(None);
      continue;
    }
    const int64_t extent = (kernel[i] - 1) * p.dilation[i] + 1;
    const int64_t padded = in + p.pad_before[i] + p.pad_after[i];
    if (padded < extent) {
      throw ValueError(fmt::format("Computed output size would be zero or negative. Received `inputs shape={}`, "
                                   "`kernel shape={}`.",
                                   shape_to_string(x), shape_to_string(kernel)));
    }
    out.push_back((padded - extent) / p.strides[i] + 1);
  }
  if (!p.channels_first) out.push_back(kernel.back());
  return out;
}

Tensor conv(const Tensor& x, const Tensor& kernel, const ConvParams& p) {
  const Shape out_shape = conv_output_shape(x.shape(), kernel.shape(), p);
  Tensor y = Tensor::empty(out_shape);
  backend::conv_forward(geometry(x.shape(), kernel.shape(), out_shape, p), x.data(), kernel.data(), y.mutable_data());
  return y;
}

Tensor conv_backward_data(const Tensor& kernel, const Tensor& dy, const Shape& x_shape, const ConvParams& p) {
  check_same(dy.shape(), conv_output_shape(x_shape, kernel.shape(), p), "the output gradient");
  Tensor dx = Tensor::empty(x_shape);
  backend::conv_backward_data(geometry(x_shape, kernel.shape(), dy.shape(), p), kernel.data(), dy.data(),
                              dx.mutable_data());
  return dx;
}

Tensor conv_backward_weights(const Tensor& x, const Tensor& dy, const Shape& kernel_shape, const ConvParams& p) {
  check_same(dy.shape(), conv_output_shape(x.shape(), kernel_shape, p), "the output gradient");
  Tensor dw = Tensor::empty(kernel_shape);
  backend::conv_backward_weights(geometry(x.shape(), kernel_shape, dy.shape(), p), x.data(), dy.data(),
                                 dw.mutable_data());
  return dw;
}

}  // namespace minidl::compute
