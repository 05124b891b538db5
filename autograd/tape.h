#pragma once
// minidl::GradientTape — TensorFlow-style reverse-mode autodiff.
//
//   md::Variable w(md::random::normal({3, 2}, 0, 1, 1), "w");
//   md::GradientTape tape;                       // records while alive
//   md::Tensor loss = md::ops::mean(md::ops::square(md::ops::matmul(x, w.value())));
//   std::vector<md::Tensor> grads = tape.gradient(loss, {w});
//
// While a tape is alive, every differentiable op with an input the tape watches appends a
// record (inputs, outputs, the gradient rule and only what it saved). Trainable Variables are
// watched automatically; plain tensors with watch(). gradient() walks the records backwards.
// A non-scalar target is summed first (as TensorFlow does) unless output_gradients seeds it.
// An unconnected source gets an undefined tensor (TensorFlow's None).
//
// Tapes nest: gradient rules are written with the same differentiable ops, so an outer tape
// records the inner tape's backward pass and gives second derivatives:
//   md::GradientTape outer; outer.watch(x);
//   md::GradientTape inner; inner.watch(x);
//   md::Tensor y = md::ops::tanh(x);
//   md::Tensor dy = inner.gradient(y, {x})[0];   // 1 - tanh^2
//   md::Tensor d2y = outer.gradient(dy, {x})[0]; // -2 tanh (1 - tanh^2)
//
// A non-persistent tape frees its records after the first gradient() call; a persistent one
// (GradientTape tape(/*persistent=*/true)) allows several. Tapes are per thread.
#include <initializer_list>
#include <memory>
#include <vector>

#include "minidl/autograd/variable.h"
#include "minidl/core/tensor.h"

namespace minidl {

namespace autograd::detail {
struct TapeState;
}

// What gradient() differentiates with respect to: a tensor or a variable.
class GradSource {
 public:
  GradSource(const Tensor& tensor) : tensor_(tensor) {}               // NOLINT: implicit by design
  GradSource(const Variable& variable) : tensor_(variable.value()) {}  // NOLINT: implicit by design
  const Tensor& tensor() const { return tensor_; }

 private:
  Tensor tensor_;
};

class GradientTape {
 public:
  explicit GradientTape(bool persistent = false);
  ~GradientTape();
  GradientTape(const GradientTape&) = delete;
  GradientTape& operator=(const GradientTape&) = delete;

  // Record ops on `tensor` from now on (float tensors only; others are ignored, as in TF).
  void watch(const Tensor& tensor);
  void watch(const Variable& variable);

  // One gradient per source, in order; undefined where the target does not depend on it.
  // A braced list may mix tensors and variables: tape.gradient(loss, {x, w}).
  std::vector<Tensor> gradient(const Tensor& target, std::initializer_list<GradSource> sources,
                               const std::vector<Tensor>& output_gradients = {});
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<GradSource>& sources,
                               const std::vector<Tensor>& output_gradients = {});
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<Variable>& sources,
                               const std::vector<Tensor>& output_gradients = {});
  std::vector<Tensor> gradient(const Tensor& target, const std::vector<Tensor>& sources,
                               const std::vector<Tensor>& output_gradients = {});

  bool persistent() const;
  // Number of op records held (for tests and debugging).
  size_t num_records() const;

  // While the returned guard lives, this tape records nothing (TF's stop_recording()).
  class Pause {
   public:
    explicit Pause(autograd::detail::TapeState* state);
    ~Pause();
    Pause(const Pause&) = delete;
    Pause& operator=(const Pause&) = delete;

   private:
    autograd::detail::TapeState* state_;
    bool was_paused_;
  };
  [[nodiscard]] Pause stop_recording();

 private:
  std::unique_ptr<autograd::detail::TapeState> state_;
};

// A new handle to x's values that no tape follows: gradients stop here.
Tensor stop_gradient(const Tensor& x);

}  // namespace minidl
