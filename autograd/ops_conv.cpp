// Convolutions: Keras's Conv, DepthwiseConv and ConvTranspose ops (keras.src.ops.nn), each one
// OpDef over md::compute's explicit-geometry convolution (core/backend/convolution.cpp). Their
// gradients are three internal ops with explicit paddings (forward, backward-data,
// backward-weights), each the others' gradient, so nested tapes differentiate them again.
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string>

#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::ops {

// One integer or one per spatial axis (up to three), as Keras's ops take strides and
// dilation_rate; written back as it was given. count 0 = null (output_padding's default). Held
// in place: a std::vector default member trips GCC 12's -Wmaybe-uninitialized in attrs_to_config.
struct IntTuple {
  std::array<int64_t, 3> values{};
  int count = 0;
  bool scalar = false;
  static constexpr IntTuple one(int64_t v) { return {{v, 0, 0}, 1, true}; }
  std::vector<int64_t> list() const { return {values.begin(), values.begin() + count}; }
  bool operator==(const IntTuple&) const = default;
};
inline void to_json(json& j, const IntTuple& t) {
  if (t.count == 0) j = nullptr;
  else if (t.scalar) j = t.values[0];
  else j = t.list();
}
inline void from_json(const json& j, IntTuple& t) {
  t = IntTuple{};
  if (j.is_null()) return;
  if (j.is_number_integer()) {
    t = IntTuple::one(j.get<int64_t>());
    return;
  }
  const auto v = j.get<std::vector<int64_t>>();
  if (v.size() > 3) throw ValueError("conv: at most three spatial axes; received " + j.dump() + ".");
  std::copy(v.begin(), v.end(), t.values.begin());
  t.count = static_cast<int>(v.size());
}

namespace {

IntTuple tuple_of(const std::vector<int64_t>& v) {
  if (v.size() > 3) throw ValueError(fmt::format("conv: at most three spatial axes; received {} values.", v.size()));
  IntTuple t;
  std::copy(v.begin(), v.end(), t.values.begin());
  t.count = static_cast<int>(v.size());
  t.scalar = v.size() == 1;
  return t;
}

// The tuple's value for each of `rank` axes.
std::vector<int64_t> per_axis(const IntTuple& t, size_t rank, const char* name) {
  if (t.count == 1) return std::vector<int64_t>(rank, t.values[0]);
  if (static_cast<size_t>(t.count) != rank) {
    throw ValueError(fmt::format("`{}` must be an integer or a tuple of {} integers. Received {}={}.", name, rank,
                                 name, json(t).dump()));
  }
  return t.list();
}

bool channels_first(const std::string& data_format) {
  if (data_format == "channels_first") return true;
  if (data_format == "channels_last") return false;
  throw ValueError(fmt::format("The `data_format` argument must be one of {{'channels_first', 'channels_last'}}. "
                               "Received: data_format={}",
                               data_format));
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

int64_t spatial_dim(const Shape& x, size_t i, bool first) { return x[(first ? 2 : 1) + i]; }

void check_ranks(const char* op, const Shape& x, const Shape& kernel) {
  if (x.size() < 3 || x.size() > 5 || kernel.size() != x.size()) {
    throw ValueError(fmt::format("{}: the inputs must have rank 3, 4 or 5 and the kernel the same rank. Received "
                                 "inputs of shape {} and kernel of shape {}.",
                                 op, shape_to_string(x), shape_to_string(kernel)));
  }
}

// ---- Conv and DepthwiseConv: Keras's attributes ------------------------------------------------

struct ConvAttrs {
  IntTuple strides = IntTuple::one(1);
  std::string padding = "valid";
  std::string data_format = "channels_last";
  IntTuple dilation_rate = IntTuple::one(1);
  static constexpr auto fields() {
    return std::tuple{op_attr("strides", &ConvAttrs::strides), op_attr("padding", &ConvAttrs::padding),
                      op_attr("data_format", &ConvAttrs::data_format),
                      op_attr("dilation_rate", &ConvAttrs::dilation_rate)};
  }
};

// Explicit paddings for Keras's "valid", "same" (TensorFlow's rule: the output is ceil(in /
// stride), the odd pixel of padding goes after) and "causal" (all of it before; a minidl
// extension of the op, Keras's Conv1D layer pads the input itself).
compute::ConvParams keras_conv_params(const Shape& x, const Shape& kernel, const ConvAttrs& a) {
  check_ranks("conv", x, kernel);
  const size_t rank = x.size() - 2;
  compute::ConvParams p;
  p.channels_first = channels_first(a.data_format);
  p.strides = per_axis(a.strides, rank, "strides");
  p.dilation = per_axis(a.dilation_rate, rank, "dilation_rate");
  const std::string padding = lower(a.padding);
  if (padding != "valid" && padding != "same" && padding != "causal") {
    throw ValueError(fmt::format("`padding` must be either `'valid'` or `'same'`. Received {}.", a.padding));
  }
  for (size_t i = 0; i < rank; ++i) {
    const int64_t in = spatial_dim(x, i, p.channels_first);
    const int64_t extent = (kernel[i] - 1) * p.dilation[i] + 1;
    int64_t before = 0, after = 0;
    if (padding == "causal") {
      before = extent - 1;
    } else if (padding == "same" && in != None && kernel[i] != None) {
      const int64_t out = (in + p.strides[i] - 1) / p.strides[i];
      const int64_t total = std::max<int64_t>((out - 1) * p.strides[i] + extent - in, 0);
      before = total / 2;
      after = total - before;
    }
    p.pad_before.push_back(before);
    p.pad_after.push_back(after);
  }
  return p;
}

// A depthwise kernel (kernel..., C, M) as the grouped kernel (kernel..., 1, C * M).
Shape grouped_depthwise_shape(const Shape& kernel) {
  Shape grouped(kernel.begin(), kernel.end() - 2);
  grouped.push_back(1);
  const int64_t c = kernel[kernel.size() - 2], m = kernel.back();
  grouped.push_back(c == None || m == None ? None : c * m);
  return grouped;
}

// ---- the explicit-geometry ops: the convolutions' gradients ---------------------------------

struct GeometryAttrs {
  std::vector<int64_t> strides, dilation, pad_before, pad_after;
  bool channels_first = false;
  Shape shape{};  // the shape the backward ops produce (x's or the kernel's)
  static constexpr auto fields() {
    return std::tuple{op_attr("strides", &GeometryAttrs::strides), op_attr("dilation", &GeometryAttrs::dilation),
                      op_attr("pad_before", &GeometryAttrs::pad_before),
                      op_attr("pad_after", &GeometryAttrs::pad_after),
                      op_attr("channels_first", &GeometryAttrs::channels_first),
                      op_attr("shape", &GeometryAttrs::shape)};
  }
};

compute::ConvParams params_of(const GeometryAttrs& a) {
  return {a.strides, a.dilation, a.pad_before, a.pad_after, a.channels_first};
}
GeometryAttrs geometry_of(const compute::ConvParams& p, const Shape& shape = {}) {
  return {p.strides, p.dilation, p.pad_before, p.pad_after, p.channels_first, shape};
}

Tensor conv_forward_op(const Tensor& x, const Tensor& kernel, const GeometryAttrs& a);
Tensor conv_data_op(const Tensor& kernel, const Tensor& dy, const GeometryAttrs& a);
Tensor conv_weights_op(const Tensor& x, const Tensor& dy, const GeometryAttrs& a);

// y = conv(x, w): dx = backward_data(w, dy), dw = backward_weights(x, dy).
std::vector<Tensor> conv_grads(const OpGrad& g, const Tensor& x, const Tensor& kernel, const compute::ConvParams& p) {
  Tensor dx, dw;
  if (g.needs(0)) dx = conv_data_op(kernel, g.grad(), geometry_of(p, x.shape()));
  if (g.needs(1)) dw = conv_weights_op(x, g.grad(), geometry_of(p, kernel.shape()));
  return {dx, dw};
}

constexpr OpDef<GeometryAttrs> kConvForward{
    .name = "ConvolutionForward",
    .module = kNnModule,
    .spec = [](OpInputs x, const GeometryAttrs& a) {
      return Tensor::symbolic(compute::conv_output_shape(x[0].shape(), x[1].shape(), params_of(a)));
    },
    .forward = [](OpInputs x, const GeometryAttrs& a, OpSaved& saved) {
      saved.push_back(x[0]);
      saved.push_back(x[1]);
      return compute::conv(x[0], x[1], params_of(a));
    },
    .backward = [](const OpGrad& g, const GeometryAttrs& a) {
      return conv_grads(g, g.saved(0), g.saved(1), params_of(a));
    }};

// dx = backward_data(w, dy) is linear in both: d w = backward_weights(G, dy), d dy = conv(G, w).
constexpr OpDef<GeometryAttrs> kConvBackwardData{
    .name = "ConvolutionBackwardData",
    .module = kNnModule,
    .spec = [](OpInputs, const GeometryAttrs& a) { return Tensor::symbolic(a.shape); },
    .forward = [](OpInputs x, const GeometryAttrs& a, OpSaved& saved) {
      saved.push_back(x[0]);
      saved.push_back(x[1]);
      return compute::conv_backward_data(x[0], x[1], a.shape, params_of(a));
    },
    .backward = [](const OpGrad& g, const GeometryAttrs& a) {
      const Tensor &kernel = g.saved(0), &dy = g.saved(1);
      Tensor d_kernel, d_dy;
      if (g.needs(0)) d_kernel = conv_weights_op(g.grad(), dy, geometry_of(params_of(a), kernel.shape()));
      if (g.needs(1)) d_dy = conv_forward_op(g.grad(), kernel, geometry_of(params_of(a)));
      return std::vector<Tensor>{d_kernel, d_dy};
    }};

// dw = backward_weights(x, dy): d x = backward_data(G, dy), d dy = conv(x, G).
constexpr OpDef<GeometryAttrs> kConvBackwardWeights{
    .name = "ConvolutionBackwardWeights",
    .module = kNnModule,
    .spec = [](OpInputs, const GeometryAttrs& a) { return Tensor::symbolic(a.shape); },
    .forward = [](OpInputs x, const GeometryAttrs& a, OpSaved& saved) {
      saved.push_back(x[0]);
      saved.push_back(x[1]);
      return compute::conv_backward_weights(x[0], x[1], a.shape, params_of(a));
    },
    .backward = [](const OpGrad& g, const GeometryAttrs& a) {
      const Tensor &x = g.saved(0), &dy = g.saved(1);
      Tensor dx, d_dy;
      if (g.needs(0)) dx = conv_data_op(g.grad(), dy, geometry_of(params_of(a), x.shape()));
      if (g.needs(1)) d_dy = conv_forward_op(x, g.grad(), geometry_of(params_of(a)));
      return std::vector<Tensor>{dx, d_dy};
    }};

Tensor conv_forward_op(const Tensor& x, const Tensor& kernel, const GeometryAttrs& a) {
  return apply(kConvForward, {x, kernel}, a);
}
Tensor conv_data_op(const Tensor& kernel, const Tensor& dy, const GeometryAttrs& a) {
  return apply(kConvBackwardData, {kernel, dy}, a);
}
Tensor conv_weights_op(const Tensor& x, const Tensor& dy, const GeometryAttrs& a) {
  return apply(kConvBackwardWeights, {x, dy}, a);
}

// ---- Keras's ops ------------------------------------------------------------------------------

constexpr OpDef<ConvAttrs> kConv{
    .name = "Conv",
    .module = kNnModule,
    .spec = [](OpInputs x, const ConvAttrs& a) {
      return Tensor::symbolic(
          compute::conv_output_shape(x[0].shape(), x[1].shape(), keras_conv_params(x[0].shape(), x[1].shape(), a)));
    },
    .forward = [](OpInputs x, const ConvAttrs& a, OpSaved& saved) {
      saved.push_back(x[0]);
      saved.push_back(x[1]);
      return compute::conv(x[0], x[1], keras_conv_params(x[0].shape(), x[1].shape(), a));
    },
    .backward = [](const OpGrad& g, const ConvAttrs& a) {
      const Tensor &x = g.saved(0), &kernel = g.saved(1);
      return conv_grads(g, x, kernel, keras_conv_params(x.shape(), kernel.shape(), a));
    }};

// Depthwise: groups = C, one (kernel..., 1, M) filter bank per input channel; output channel
// c * M + m, as Keras's.
constexpr OpDef<ConvAttrs> kDepthwiseConv{
    .name = "DepthwiseConv",
    .module = kNnModule,
    .spec = [](OpInputs x, const ConvAttrs& a) {
      const Shape grouped = grouped_depthwise_shape(x[1].shape());
      return Tensor::symbolic(
          compute::conv_output_shape(x[0].shape(), grouped, keras_conv_params(x[0].shape(), x[1].shape(), a)));
    },
    .forward = [](OpInputs x, const ConvAttrs& a, OpSaved& saved) {
      saved.push_back(x[0]);
      saved.push_back(x[1]);
      check_ranks("depthwise_conv", x[0].shape(), x[1].shape());
      const Tensor grouped = x[1].reshape(grouped_depthwise_shape(x[1].shape()));
      return compute::conv(x[0], grouped, keras_conv_params(x[0].shape(), x[1].shape(), a));
    },
    .backward = [](const OpGrad& g, const ConvAttrs& a) {
      const Tensor &x = g.saved(0), &kernel = g.saved(1);
      const Tensor grouped = reshape(kernel, grouped_depthwise_shape(kernel.shape()));
      std::vector<Tensor> grads = conv_grads(g, x, grouped, keras_conv_params(x.shape(), kernel.shape(), a));
      if (grads[1].defined()) grads[1] = reshape(grads[1], kernel.shape());
      return grads;
    }};

// ---- ConvTranspose ----------------------------------------------------------------------------

struct ConvTransposeAttrs {
  IntTuple strides = IntTuple::one(1);
  std::string padding = "valid";
  IntTuple output_padding{};
  std::string data_format = "channels_last";
  IntTuple dilation_rate = IntTuple::one(1);
  static constexpr auto fields() {
    return std::tuple{op_attr("strides", &ConvTransposeAttrs::strides),
                      op_attr("padding", &ConvTransposeAttrs::padding),
                      op_attr("output_padding", &ConvTransposeAttrs::output_padding),
                      op_attr("data_format", &ConvTransposeAttrs::data_format),
                      op_attr("dilation_rate", &ConvTransposeAttrs::dilation_rate)};
  }
};

// conv_transpose(x, kernel (kernel..., filters, C)) is the backward-data pass of the convolution
// from its output (filters channels) to x (C channels). Keras (on JAX) pads the stride-dilated
// input by (left, right) per axis and runs a stride-1 convolution; the forward convolution that
// this is the transpose of has paddings (extent - 1 - left, extent - 1 - right), the second
// negative when output_padding reaches past the kernel.
struct TransposeGeometry {
  compute::ConvParams params;
  Shape output_shape;
};
TransposeGeometry transpose_geometry(const Shape& x, const Shape& kernel, const ConvTransposeAttrs& a) {
  check_ranks("conv_transpose", x, kernel);
  const size_t rank = x.size() - 2;
  TransposeGeometry t;
  compute::ConvParams& p = t.params;
  p.channels_first = channels_first(a.data_format);
  p.strides = per_axis(a.strides, rank, "strides");
  p.dilation = per_axis(a.dilation_rate, rank, "dilation_rate");
  const std::string padding = lower(a.padding);
  if (padding != "valid" && padding != "same") {
    throw ValueError(
        fmt::format("The `padding` argument must be one of 'valid', 'same'. Received: padding={}", a.padding));
  }
  const std::vector<int64_t> output_padding =
      a.output_padding.count == 0 ? std::vector<int64_t>{} : per_axis(a.output_padding, rank, "output_padding");
  const int64_t c = p.channels_first ? x[1] : x.back();
  if (c != None && kernel.back() != None && c != kernel.back()) {
    throw ValueError(fmt::format("conv_transpose: the input has {} channels but the kernel (shape {}) expects {} "
                                 "(its last axis).",
                                 c, shape_to_string(kernel), kernel.back()));
  }
  Shape spatial;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t extent = (kernel[i] - 1) * p.dilation[i] + 1, s = p.strides[i];
    int64_t left = 0, right = 0;
    if (padding == "valid") {
      const int64_t extra = output_padding.empty() ? std::max(extent, s) - extent : output_padding[i];
      left = extent - 1;
      right = extent - 1 + extra;
    } else {
      const int64_t total =
          output_padding.empty() ? s + extent - 2 : extent + extent % 2 - 2 + output_padding[i];
      left = std::min(total / 2 + total % 2, extent - 1);
      right = total - left;
    }
    const int64_t in = spatial_dim(x, i, p.channels_first);
    spatial.push_back(in == None ? None : (in - 1) * s + 1 + left + right - (extent - 1));
    p.pad_before.push_back(extent - 1 - left);
    p.pad_after.push_back(extent - 1 - right);
  }
  t.output_shape = {x[0]};
  if (p.channels_first) t.output_shape.push_back(kernel[rank]);
  t.output_shape.insert(t.output_shape.end(), spatial.begin(), spatial.end());
  if (!p.channels_first) t.output_shape.push_back(kernel[rank]);
  return t;
}

constexpr OpDef<ConvTransposeAttrs> kConvTranspose{
    .name = "ConvTranspose",
    .module = kNnModule,
    .spec = [](OpInputs x, const ConvTransposeAttrs& a) {
      return Tensor::symbolic(transpose_geometry(x[0].shape(), x[1].shape(), a).output_shape);
    },
    .forward = [](OpInputs x, const ConvTransposeAttrs& a, OpSaved& saved) {
      saved.push_back(x[0]);
      saved.push_back(x[1]);
      const TransposeGeometry t = transpose_geometry(x[0].shape(), x[1].shape(), a);
      return compute::conv_backward_data(x[1], x[0], t.output_shape, t.params);
    },
    // y = backward_data(kernel, x): dx = conv(dy, kernel), d kernel = backward_weights(dy, x).
    .backward = [](const OpGrad& g, const ConvTransposeAttrs& a) {
      const Tensor &x = g.saved(0), &kernel = g.saved(1);
      const TransposeGeometry t = transpose_geometry(x.shape(), kernel.shape(), a);
      Tensor dx, d_kernel;
      if (g.needs(0)) dx = conv_forward_op(g.grad(), kernel, geometry_of(t.params));
      if (g.needs(1)) d_kernel = conv_weights_op(g.grad(), x, geometry_of(t.params, kernel.shape()));
      return std::vector<Tensor>{dx, d_kernel};
    }};

ConvAttrs conv_attrs(const ConvOptions& o) {
  return {tuple_of(o.strides), o.padding, o.data_format, tuple_of(o.dilation_rate)};
}

}  // namespace

MINIDL_DEFINE_OP(kConvForward);
MINIDL_DEFINE_OP(kConvBackwardData);
MINIDL_DEFINE_OP(kConvBackwardWeights);
MINIDL_DEFINE_OP(kConv);
MINIDL_DEFINE_OP(kDepthwiseConv);
MINIDL_DEFINE_OP(kConvTranspose);

Tensor conv(const Tensor& x, const Tensor& kernel, const ConvOptions& options) {
  return apply(kConv, {x, kernel}, conv_attrs(options));
}

Tensor depthwise_conv(const Tensor& x, const Tensor& kernel, const ConvOptions& options) {
  return apply(kDepthwiseConv, {x, kernel}, conv_attrs(options));
}

Tensor conv_transpose(const Tensor& x, const Tensor& kernel, const ConvOptions& options) {
  ConvTransposeAttrs attrs{tuple_of(options.strides), options.padding, IntTuple{}, options.data_format,
                           tuple_of(options.dilation_rate)};
  if (options.output_padding) attrs.output_padding = tuple_of(*options.output_padding);
  return apply(kConvTranspose, {x, kernel}, attrs);
}

Tensor separable_conv(const Tensor& x, const Tensor& depthwise_kernel, const Tensor& pointwise_kernel,
                      const ConvOptions& options) {
  const Tensor depthwise = depthwise_conv(x, depthwise_kernel, options);
  const size_t rank = static_cast<size_t>(x.ndim()) - 2;
  return conv(depthwise, pointwise_kernel,
              {.strides = std::vector<int64_t>(rank, 1), .padding = "valid", .data_format = options.data_format,
               .dilation_rate = std::vector<int64_t>(rank, 1)});
}

}  // namespace minidl::ops
