// Baseline x86-64 (or any target) build of the optimizer update loops
// (detail/optimizer_update_kernels.h).
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "minidl/core/backend/detail/optimizer_update_kernels.h"

namespace minidl::backend::detail {
namespace {

#include "minidl/core/backend/detail/optimizer_update_kernels.inc"

constexpr OptimizerUpdateKernels kOptimizerUpdateKernels{.adam = &adam_block, .amsgrad = &amsgrad_block};

}  // namespace

const OptimizerUpdateKernels& portable_optimizer_update_kernels() { return kOptimizerUpdateKernels; }

}  // namespace minidl::backend::detail
