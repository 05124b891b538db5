// Random ops: dropout.
#include <fmt/format.h>

#include "minidl/autograd/ops.h"
#include "minidl/core/error.h"
#include "minidl/core/random.h"

namespace minidl::ops {

Tensor dropout(const Tensor& x, float rate, uint64_t seed) {
  if (!(rate >= 0.0f && rate < 1.0f)) {
    throw ValueError(fmt::format(
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate={}", rate));
  }
  if (rate == 0.0f) return x;
  // The mask holds 0 or 1/(1-rate); the multiply carries the gradient (mask times upstream).
  return multiply(x, random::dropout_mask(x.shape(), rate, seed));
}

}  // namespace minidl::ops
