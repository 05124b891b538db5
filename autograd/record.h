#pragma once
// The recording interface for differentiable ops: how an op tells the active tapes what it
// did and how to differentiate it. Every op in autograd/ops_*.cpp follows this pattern, and a
// user-defined op can too:
//
//   md::Tensor my_tanh(const md::Tensor& x) {
//     md::Tensor y = md::compute::eltwise(md::compute::EltwiseOp::tanh, x);
//     if (md::autograd::should_record(x)) {
//       md::autograd::record("my_tanh", {x}, {y}, /*saved=*/{y}, [](const md::autograd::BackwardArgs& a) {
//         // d tanh = 1 - y^2, written with differentiable ops so nested tapes see it
//         return std::vector<md::Tensor>{a.grads[0] * (1.0f - md::ops::square(a.saved[0]))};
//       });
//     }
//     return y;
//   }
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl::autograd {

// What a gradient rule receives.
struct BackwardArgs {
  const std::vector<Tensor>& saved;     // the tensors the op saved, in order
  // One per output: d(target)/d(output); for an output no gradient reached, zeros, or an undefined
  // tensor when the op was recorded with UnreachedOutputGrads::undefined.
  const std::vector<Tensor>& grads;
  const std::vector<bool>& needs_grad;  // one per input: false = return an undefined tensor
  const std::vector<Shape>& input_shapes;  // one per input (empty for an undefined input)
  const Tensor& grad() const { return grads[0]; }
  bool needs(size_t input) const { return needs_grad[input]; }
};

// Returns one tensor per input (undefined for inputs that need no gradient). Rules must use
// differentiable ops so that nested tapes can differentiate them again.
using BackwardFn = std::function<std::vector<Tensor>(const BackwardArgs&)>;

namespace detail {
bool any_tape_active();
bool is_watched_by_any_tape(const Tensor& t);
}  // namespace detail

// True when some active tape watches one of the inputs; cheap when no tape is alive.
template <class... Tensors>
bool should_record(const Tensors&... inputs) {
  return detail::any_tape_active() && (detail::is_watched_by_any_tape(inputs) || ...);
}
inline bool should_record(std::span<const Tensor> inputs) {
  if (!detail::any_tape_active()) return false;
  for (const Tensor& t : inputs) {
    if (detail::is_watched_by_any_tape(t)) return true;
  }
  return false;
}
inline bool should_record(const std::vector<Tensor>& inputs) { return should_record(std::span<const Tensor>(inputs)); }

// What a rule receives for an output that no gradient reached. `zeros` (every op's default) lets a
// rule use each gradient as a tensor; `undefined` saves materialising them, for a rule that takes
// an undefined gradient as zero (the recurrent ops: a layer that returns only the last state leaves
// the whole sequence output unreached, 0.9 MB of zeros per training step at rnn_bench's shapes).
enum class UnreachedOutputGrads { zeros, undefined };

// Appends a record to every active tape that watches one of `inputs`. `saved` tensors are
// handed back to `backward`; if one is modified in place (Variable::assign) before the
// gradient is taken, gradient() raises an error naming the op.
void record(std::string_view op_name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            std::vector<Tensor> saved, BackwardFn backward,
            UnreachedOutputGrads unreached = UnreachedOutputGrads::zeros);
// The same on views (ops::apply's path: no vectors built for the call's inputs and output).
void record(std::string_view op_name, std::span<const Tensor> inputs, std::span<const Tensor> outputs,
            std::vector<Tensor> saved, BackwardFn backward,
            UnreachedOutputGrads unreached = UnreachedOutputGrads::zeros);

}  // namespace minidl::autograd
