// md::compute's pooling and batch-normalization wrappers (core/compute.h): Keras's shape rules
// and padding, output allocation, then core/backend/pooling.cpp and batch_normalization.cpp.
#include <fmt/format.h>

#include <algorithm>

#include "minidl/core/backend/backend.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::compute {
namespace {

// NumPy's print of an integer array, as Keras's messages show them: "[2 3 3 1]".
std::string numpy_array(const std::vector<int64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += ' ';
    out += values[i] == None ? "None" : std::to_string(values[i]);
  }
  return out + "]";
}

size_t spatial_rank(const Shape& x, const PoolingSpec& spec) {
  if (x.size() < 3 || x.size() > 5) {
    throw ValueError(fmt::format("Pooling needs inputs of rank 3 to 5 (batch, spatial axes, channels); received "
                                 "shape {}.",
                                 shape_to_string(x)));
  }
  const size_t rank = x.size() - 2;
  if (spec.pool_size.size() != rank || spec.strides.size() != rank) {
    throw ValueError(fmt::format("Pooling of a rank-{} input needs {} pool_size and strides values; received "
                                 "pool_size={} and strides={}.",
                                 x.size(), rank, int_tuple_to_string(spec.pool_size), int_tuple_to_string(spec.strides)));
  }
  for (size_t i = 0; i < rank; ++i) {
    if (spec.pool_size[i] <= 0 || spec.strides[i] <= 0) {
      throw ValueError(fmt::format("Pooling needs positive pool_size and strides; received pool_size={} and "
                                   "strides={}.",
                                   int_tuple_to_string(spec.pool_size), int_tuple_to_string(spec.strides)));
    }
  }
  return rank;
}

int64_t spatial_dim(const Shape& x, const PoolingSpec& spec, size_t i) {
  return x[spec.channels_last ? 1 + i : 2 + i];
}

backend::PoolingProblem problem(const Shape& x, const Shape& y, const PoolingSpec& spec, bool max) {
  const size_t rank = spatial_rank(x, spec);
  backend::PoolingProblem p;
  p.max = max;
  p.channels_last = spec.channels_last;
  p.batch = x[0];
  p.channels = spec.channels_last ? x.back() : x[1];
  for (size_t i = 0; i < rank; ++i) {
    const int64_t in = spatial_dim(x, spec, i), out = spatial_dim(y, spec, i);
    p.in_spatial.push_back(in);
    p.out_spatial.push_back(out);
    p.kernel.push_back(spec.pool_size[i]);
    p.strides.push_back(spec.strides[i]);
    // TensorFlow's and XLA's SAME: the total padding that makes the windows cover the input,
    // the smaller half before. With "valid" the windows end where they fit (floor).
    const int64_t total =
        spec.same_padding ? std::max<int64_t>((out - 1) * spec.strides[i] + spec.pool_size[i] - in, 0) : 0;
    const int64_t left = total / 2;
    p.pad_left.push_back(left);
    // oneDNN wants the right padding that makes (in + left + right - kernel) / stride + 1 == out.
    p.pad_right.push_back((out - 1) * spec.strides[i] + spec.pool_size[i] - in - left);
  }
  return p;
}

}  // namespace

Shape pooling_output_shape(const Shape& x, const PoolingSpec& spec) {
  const size_t rank = spatial_rank(x, spec);
  Shape out = x;
  for (size_t i = 0; i < rank; ++i) {
    const int64_t in = spatial_dim(x, spec, i);
    int64_t& o = out[spec.channels_last ? 1 + i : 2 + i];
    if (in == None) continue;
    if (spec.same_padding) {
      o = in == 0 ? 0 : (in - 1) / spec.strides[i] + 1;
    } else {
      // Python's floor division, negative numerators included.
      const int64_t num = in - spec.pool_size[i];
      o = (num >= 0 ? num / spec.strides[i] : -((-num + spec.strides[i] - 1) / spec.strides[i])) + 1;
    }
  }
  for (size_t i = 0; i < rank && !spec.same_padding; ++i) {
    const int64_t o = out[spec.channels_last ? 1 + i : 2 + i];
    if (spatial_dim(x, spec, i) != None && o <= 0) {
      throw ValueError(fmt::format("Computed output size would be zero or negative. Received: `inputs.shape={}`, "
                                   "`pool_size={}`, `strides={}`, `padding=valid`.",
                                   numpy_array(x), numpy_array(spec.pool_size), int_tuple_to_string(spec.strides)));
    }
  }
  return out;
}

PoolingResult pool(const Tensor& x, const PoolingSpec& spec, bool max, bool want_workspace) {
  PoolingResult result;
  result.y = Tensor::empty(pooling_output_shape(x.shape(), spec));
  const backend::PoolingProblem p = problem(x.shape(), result.y.shape(), spec, max);
  if (max && want_workspace) {
    // The workspace is opaque bytes (oneDNN's arg-max indices); a float tensor holds them.
    const int64_t bytes = backend::pooling_workspace_bytes(p);
    Tensor workspace = Tensor::empty({(bytes + 3) / 4});
    if (backend::pooling_forward(p, x.data(), result.y.mutable_data(), workspace.mutable_data())) {
      result.workspace = workspace;
    }
  } else {
    backend::pooling_forward(p, x.data(), result.y.mutable_data(), nullptr);
  }
  return result;
}

Tensor pool_backward(const Tensor& x, const Tensor& dy, const Tensor& workspace, const PoolingSpec& spec, bool max) {
  const Shape y_shape = pooling_output_shape(x.shape(), spec);
  if (dy.shape() != y_shape) {
    throw ShapeError(fmt::format("pool_backward: the gradient has shape {}; the pooled output has {}.",
                                 shape_to_string(dy.shape()), shape_to_string(y_shape)));
  }
  Tensor dx = Tensor::empty(x.shape());
  backend::pooling_backward(problem(x.shape(), y_shape, spec, max), x.data(), dy.data(), dx.mutable_data(),
                            workspace.defined() ? workspace.data() : nullptr);
  return dx;
}

Tensor max_pool_select(const Tensor& x, const Tensor& g, const PoolingSpec& spec) {
  if (g.shape() != x.shape()) {
    throw ShapeError(fmt::format("max_pool_select: shapes {} and {} must be equal.", shape_to_string(x.shape()),
                                 shape_to_string(g.shape())));
  }
  Tensor out = Tensor::empty(pooling_output_shape(x.shape(), spec));
  backend::max_pool_select(problem(x.shape(), out.shape(), spec, true), x.data(), g.data(), out.mutable_data());
  return out;
}

namespace {

backend::BatchNormProblem batch_norm_problem(const Shape& x, int64_t axis, float epsilon) {
  const auto rank = static_cast<int64_t>(x.size());
  if (rank < 1) throw ValueError("batch normalization needs a tensor of rank >= 1; received a scalar.");
  if (axis < -rank || axis >= rank) {
    throw ValueError(fmt::format("axis {} is out of bounds for an array with dimension {}.", axis, rank));
  }
  const int64_t a = axis < 0 ? axis + rank : axis;
  backend::BatchNormProblem p;
  p.epsilon = epsilon;
  p.channels = x[static_cast<size_t>(a)];
  if (a == rank - 1 && rank > 1) {
    // Channels last: (batch, everything between, channels), oneDNN's fast nhwc form.
    p.channels_last = true;
    p.batch = x[0];
    for (int64_t i = 1; i < a; ++i) p.spatial *= x[static_cast<size_t>(i)];
  } else {
    p.channels_last = false;
    p.batch = 1;
    for (int64_t i = 0; i < a; ++i) p.batch *= x[static_cast<size_t>(i)];
    for (int64_t i = a + 1; i < rank; ++i) p.spatial *= x[static_cast<size_t>(i)];
  }
  return p;
}

void check_channel_vector(const char* what, const Tensor& t, int64_t channels) {
  if (t.shape() != Shape{channels}) {
    throw ShapeError(fmt::format("batch_norm: {} must have shape ({},); received {}.", what, channels,
                                 shape_to_string(t.shape())));
  }
}

}  // namespace

BatchNormResult batch_norm(const Tensor& x, const Tensor& gamma, const Tensor& beta, int64_t axis, float epsilon) {
  const backend::BatchNormProblem p = batch_norm_problem(x.shape(), axis, epsilon);
  check_channel_vector("gamma", gamma, p.channels);
  check_channel_vector("beta", beta, p.channels);
  BatchNormResult r{Tensor::empty(x.shape()), Tensor::empty({p.channels}), Tensor::empty({p.channels})};
  backend::batch_norm_forward(p, x.data(), gamma.data(), beta.data(), r.y.mutable_data(), r.mean.mutable_data(),
                              r.variance.mutable_data());
  return r;
}

BatchNormGrads batch_norm_backward(const Tensor& x, const Tensor& mean, const Tensor& variance, const Tensor& dy,
                                   const Tensor& gamma, int64_t axis, float epsilon) {
  const backend::BatchNormProblem p = batch_norm_problem(x.shape(), axis, epsilon);
  check_channel_vector("mean", mean, p.channels);
  check_channel_vector("variance", variance, p.channels);
  check_channel_vector("gamma", gamma, p.channels);
  if (dy.shape() != x.shape()) {
    throw ShapeError(fmt::format("batch_norm_backward: shapes {} and {} must be equal.", shape_to_string(x.shape()),
                                 shape_to_string(dy.shape())));
  }
  BatchNormGrads g{Tensor::empty(x.shape()), Tensor::empty({p.channels}), Tensor::empty({p.channels})};
  backend::batch_norm_backward(p, x.data(), mean.data(), variance.data(), dy.data(), gamma.data(),
                               g.dx.mutable_data(), g.dgamma.mutable_data(), g.dbeta.mutable_data());
  return g;
}

}  // namespace minidl::compute
