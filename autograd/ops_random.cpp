// Random ops: dropout.
#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/error.h"
#include "minidl/core/random.h"

namespace minidl::ops {

Tensor dropout(const Tensor& x, float rate, uint64_t seed) {
  if (!(rate >= 0.0f && rate < 1.0f)) {
    throw ValueError(fmt::format(
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate={}", rate));
  }
  if (rate == 0.0f) return x;
  if (symbolic::any(x)) {
    return trace_op("Dropout", {{"rate", rate}, {"seed", seed}}, CallArgs::positional({x}), spec(x.shape(), x.dtype()));
  }
  // The mask holds 0 or 1/(1-rate); the multiply carries the gradient (mask times upstream).
  return multiply(x, random::dropout_mask(x.shape(), rate, seed));
}

MINIDL_REGISTER_OP(Dropout, "minidl.ops", {
  return {dropout(arg(a, 0), config.at("rate").get<float>(), config.at("seed").get<uint64_t>())};
});

}  // namespace minidl::ops
