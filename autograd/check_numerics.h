#pragma once
// Numeric checks for debugging, off by default (TensorFlow's tf.debugging.enable_check_numerics,
// PyTorch's detect_anomaly). While on, every op checks its outputs, and every gradient rule the
// gradients it returns, for NaN and infinity; the first op to produce one throws
// FloatingPointError naming the op, the output and how many values are bad. Inside fit() the
// message starts with the epoch and step, inside a layer's call with the layer:
//   md::debug::enable_check_numerics();
//   model.fit(x, y, {.epochs = 3});
//   // FloatingPointError: epoch 1/3, step 7/938: layer 'head' (Dense): op 'Log' produced NaN in
//   // its output (2 of 640 values NaN, 0 infinite; the first at index 17) from finite inputs. ...
// An op handed a bad value from outside the checked ops (the data, a weight) names that input
// instead. The check reads every output once more, so it costs time: switch it off to train.
#include <atomic>
#include <span>
#include <string_view>

#include "minidl/core/tensor.h"

namespace minidl::debug {

namespace detail {
// One switch for the process, as TensorFlow's: threads that train share it. Read by every op.
inline std::atomic<bool> check_numerics{false};
}  // namespace detail

inline void enable_check_numerics() { detail::check_numerics.store(true, std::memory_order_relaxed); }
inline void disable_check_numerics() { detail::check_numerics.store(false, std::memory_order_relaxed); }
inline bool check_numerics_enabled() { return detail::check_numerics.load(std::memory_order_relaxed); }

}  // namespace minidl::debug

namespace minidl::autograd::detail {

// Throw FloatingPointError when an output (or a gradient a rule returned) holds NaN or infinity.
// Call them only when check_numerics_enabled().
void check_op_outputs(std::string_view op, std::span<const Tensor> inputs, std::span<const Tensor> outputs);
void check_op_gradients(std::string_view op, std::span<const Tensor> gradients);

}  // namespace minidl::autograd::detail
