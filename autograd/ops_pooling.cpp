// max_pool / average_pool (Keras's ops.max_pool, ops.average_pool) on oneDNN's pooling
// primitives, one OpDef each, and their gradient ops, whose own rules give second derivatives:
// max pooling's gradient scatters dy to each window's arg-max, and that scatter's derivative is
// the matching gather (max_pool_gather), and back; average pooling's gradient is linear in dy
// and its derivative is average pooling again.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/core/compute.h"

namespace minidl::ops {

using autograd::BackwardArgs;

namespace {

struct PoolAttrs {
  std::vector<int64_t> pool_size;
  std::vector<int64_t> strides;  // empty: pool_size (Keras's None)
  std::string padding = "valid";
  std::string data_format = "channels_last";
  static constexpr auto fields() {
    return std::tuple{op_attr("pool_size", &PoolAttrs::pool_size), op_attr("strides", &PoolAttrs::strides),
                      op_attr("padding", &PoolAttrs::padding), op_attr("data_format", &PoolAttrs::data_format)};
  }
};

std::string pool_lowercase(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// One value per spatial axis; a single value repeats, as Keras's _convert_to_spatial_operand.
std::vector<int64_t> pool_per_axis(const std::vector<int64_t>& values, size_t rank, const char* what) {
  if (values.size() == 1) return std::vector<int64_t>(rank, values[0]);
  if (values.size() != rank) {
    throw ValueError(fmt::format("`{}` must have one value or {} values (one per spatial axis); received {}.", what,
                                 rank, values.size()));
  }
  return values;
}

compute::PoolingSpec pool_spec_of(const Shape& x, const PoolAttrs& a) {
  if (x.size() < 3) {
    throw ValueError(fmt::format("Pooling needs inputs of rank 3 to 5 (batch, spatial axes, channels); received "
                                 "shape {}.",
                                 shape_to_string(x)));
  }
  const std::string padding = pool_lowercase(a.padding);
  if (padding != "valid" && padding != "same") {
    throw ValueError(fmt::format("Invalid padding '{}', must be 'same' or 'valid'.", padding));
  }
  const std::string data_format = pool_lowercase(a.data_format);
  if (data_format != "channels_last" && data_format != "channels_first") {
    throw ValueError("The `data_format` argument must be one of {'channels_first', 'channels_last'}. Received: "
                     "data_format=" +
                     data_format);
  }
  const size_t rank = x.size() - 2;
  compute::PoolingSpec spec;
  spec.pool_size = pool_per_axis(a.pool_size, rank, "pool_size");
  spec.strides = a.strides.empty() ? spec.pool_size : pool_per_axis(a.strides, rank, "strides");
  spec.same_padding = padding == "same";
  spec.channels_last = data_format == "channels_last";
  return spec;
}

void check_pool_float(const Tensor& x, const char* op) {
  if (x.dtype() != DType::float32) {
    throw TypeError(fmt::format("{} needs a float32 input; received {}.", op, dtype_name(x.dtype())));
  }
}

Tensor max_pool_grad(const Tensor& x, const Tensor& dy, const Tensor& workspace, const compute::PoolingSpec& spec);

// The gather at each window's first arg-max of x (x is a constant here: max pooling's
// derivative is piecewise constant in x).
Tensor max_pool_gather(const Tensor& x, const Tensor& g, const compute::PoolingSpec& spec) {
  Tensor out = compute::max_pool_select(x, g, spec);
  if (autograd::should_record(g)) {
    autograd::record("max_pool_gather", {x, g}, {out}, {x}, [spec](const BackwardArgs& a) {
      return std::vector<Tensor>{Tensor(), a.needs(1) ? max_pool_grad(a.saved[0], a.grad(), Tensor(), spec) : Tensor()};
    });
  }
  return out;
}

Tensor max_pool_grad(const Tensor& x, const Tensor& dy, const Tensor& workspace, const compute::PoolingSpec& spec) {
  Tensor dx = compute::pool_backward(x, dy, workspace, spec, /*max=*/true);
  if (autograd::should_record(dy)) {
    autograd::record("max_pool_grad", {x, dy}, {dx}, {x}, [spec](const BackwardArgs& a) {
      return std::vector<Tensor>{Tensor(), a.needs(1) ? max_pool_gather(a.saved[0], a.grad(), spec) : Tensor()};
    });
  }
  return dx;
}

Tensor average_pool_grad(const Tensor& x, const Tensor& dy, const compute::PoolingSpec& spec);

template <bool kMax>
constexpr OpDef<PoolAttrs> pool_def(const char* name) {
  return {.name = name,
          .module = kNnModule,
          .spec = [](OpInputs x, const PoolAttrs& a) {
            return Tensor::symbolic(compute::pooling_output_shape(x[0].shape(), pool_spec_of(x[0].shape(), a)),
                                    DType::float32);
          },
          .forward = [](OpInputs x, const PoolAttrs& a, OpSaved& saved) {
            check_pool_float(x[0], kMax ? "max_pool" : "average_pool");
            const compute::PoolingSpec spec = pool_spec_of(x[0].shape(), a);
            // The arg-max workspace only when a tape will want the gradient.
            compute::PoolingResult r = compute::pool(x[0], spec, kMax, kMax && autograd::should_record(x[0]));
            saved.push_back(x[0]);
            saved.push_back(r.workspace);
            return r.y;
          },
          .backward = [](const OpGrad& g, const PoolAttrs& a) {
            const Tensor& x = g.saved(0);
            const compute::PoolingSpec spec = pool_spec_of(x.shape(), a);
            return std::vector<Tensor>{kMax ? max_pool_grad(x, g.grad(), g.saved(1), spec)
                                            : average_pool_grad(x, g.grad(), spec)};
          }};
}
constexpr OpDef<PoolAttrs> kMaxPool = pool_def<true>("MaxPool");
constexpr OpDef<PoolAttrs> kAveragePool = pool_def<false>("AveragePool");

// Linear in dy; its derivative is average pooling of the incoming gradient, through the op
// (with the spec written back as its attributes) so that it records in turn.
Tensor average_pool_grad(const Tensor& x, const Tensor& dy, const compute::PoolingSpec& spec) {
  Tensor dx = compute::pool_backward(x, dy, Tensor(), spec, /*max=*/false);
  if (autograd::should_record(dy)) {
    autograd::record("average_pool_grad", {x, dy}, {dx}, {}, [spec](const BackwardArgs& a) {
      Tensor d_dy;
      if (a.needs(1)) {
        d_dy = apply(kAveragePool, {a.grad()},
                     {.pool_size = spec.pool_size,
                      .strides = spec.strides,
                      .padding = spec.same_padding ? "same" : "valid",
                      .data_format = spec.channels_last ? "channels_last" : "channels_first"});
      }
      return std::vector<Tensor>{Tensor(), d_dy};
    });
  }
  return dx;
}

}  // namespace

MINIDL_DEFINE_OP(kMaxPool);
MINIDL_DEFINE_OP(kAveragePool);

Tensor max_pool(const Tensor& x, const std::vector<int64_t>& pool_size, const std::vector<int64_t>& strides,
                const std::string& padding, const std::string& data_format) {
  return apply(kMaxPool, {x},
               {.pool_size = pool_size, .strides = strides, .padding = padding, .data_format = data_format});
}

Tensor average_pool(const Tensor& x, const std::vector<int64_t>& pool_size, const std::vector<int64_t>& strides,
                    const std::string& padding, const std::string& data_format) {
  return apply(kAveragePool, {x},
               {.pool_size = pool_size, .strides = strides, .padding = padding, .data_format = data_format});
}

}  // namespace minidl::ops
