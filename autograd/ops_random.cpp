// Random ops: dropout, as one OpDef (autograd/op_def.h).
#include <fmt/format.h>

#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"
#include "minidl/core/random.h"

namespace minidl::ops {
namespace {

// Inverted dropout; the mask depends only on (seed, element index).
struct DropoutAttrs {
  float rate = 0.0f;
  uint64_t seed = 0;
  static constexpr auto fields() {
    return std::tuple{op_attr("rate", &DropoutAttrs::rate), op_attr("seed", &DropoutAttrs::seed)};
  }
};
constexpr OpDef<DropoutAttrs> kDropout{
    .name = "Dropout",
    .module = "minidl.ops",
    .spec = same_spec<DropoutAttrs>,
    .forward = [](OpInputs x, const DropoutAttrs& a, OpSaved& saved) {
      // The mask holds 0 or 1/(1-rate); the gradient is the mask times the upstream gradient.
      const Tensor mask = random::dropout_mask(x[0].shape(), a.rate, a.seed);
      saved.push_back(mask);
      return compute::binary(compute::BinaryOp::mul, x[0], mask);
    },
    .backward = [](const OpGrad& g, const DropoutAttrs&) {
      return std::vector<Tensor>{multiply(g.grad(), g.saved(0))};
    }};

}  // namespace

MINIDL_DEFINE_OP(kDropout);

Tensor dropout(const Tensor& x, float rate, uint64_t seed) {
  if (!(rate >= 0.0f && rate < 1.0f)) {
    throw ValueError(fmt::format(
        "Invalid value received for argument `rate`. Expected a float value between 0 and 1. Received: rate={}", rate));
  }
  if (rate == 0.0f) return x;
  return apply(kDropout, {x}, {.rate = rate, .seed = seed});
}

}  // namespace minidl::ops
