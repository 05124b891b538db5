// Memory: training-style loops must not grow live tensor storage; tapes release what their
// records saved. Counts come from md::memory_stats() (every Storage alive in the process).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

// One step of a small MLP on fixed data: forward with two Variables, tape gradient, SGD update.
float train_step(const md::Tensor& x, const md::Tensor& labels, md::Variable& w1, md::Variable& w2) {
  md::GradientTape tape;
  const md::Tensor hidden = md::ops::relu(md::ops::matmul(x, w1.value()));
  const md::Tensor logits = md::ops::matmul(hidden, w2.value());
  const md::Tensor loss = -md::ops::mean(md::ops::sum(labels * md::ops::log_softmax(logits, -1), {-1}));
  const std::vector<md::Tensor> grads = tape.gradient(loss, {w1, w2});
  w1.assign_sub(grads[0] * 0.05f);
  w2.assign_sub(grads[1] * 0.05f);
  return loss.item();
}

}  // namespace

TEST_CASE("1,000 training steps leave live tensor storage unchanged", "[autograd][memory]") {
  const md::Tensor x = md::random::normal({8, 4}, 0.0f, 1.0f, 11);
  const md::Tensor labels =
      md::ops::one_hot(md::Tensor::from_vector({0, 1, 2, 0, 1, 2, 0, 1}, {8}, md::DType::int32), 3);
  md::Variable w1(md::random::normal({4, 6}, 0.0f, 0.5f, 12), "w1");
  md::Variable w2(md::random::normal({6, 3}, 0.0f, 0.5f, 13), "w2");

  float first_loss = 0.0f, last_loss = 0.0f;
  md::MemoryStats after_10{};
  for (int step = 1; step <= 1000; ++step) {
    const float loss = train_step(x, labels, w1, w2);
    if (step == 1) first_loss = loss;
    if (step == 10) after_10 = md::memory_stats();
    last_loss = loss;
  }
  const md::MemoryStats after_1000 = md::memory_stats();
  INFO("live buffers " << after_10.live_buffers << " -> " << after_1000.live_buffers << ", live bytes "
                       << after_10.live_bytes << " -> " << after_1000.live_bytes);
  CHECK(after_1000.live_buffers == after_10.live_buffers);
  CHECK(after_1000.live_bytes == after_10.live_bytes);
  CHECK(after_1000.total_allocations > after_10.total_allocations);  // the loop did allocate and free
  CHECK(last_loss < first_loss);                                     // and it did train
}

TEST_CASE("a tape's saved tensors are freed with it", "[autograd][memory]") {
  const md::Tensor x = md::random::normal({16, 16}, 0.0f, 1.0f, 21);
  const md::MemoryStats before = md::memory_stats();
  {
    md::GradientTape tape(/*persistent=*/true);
    tape.watch(x);
    const md::Tensor y = md::ops::sum(md::ops::tanh(md::ops::matmul(x, x)));
    const md::Tensor g = tape.gradient(y, {x})[0];
    CHECK(md::memory_stats().live_buffers > before.live_buffers);
    CHECK(g.defined());
  }
  const md::MemoryStats after = md::memory_stats();
  CHECK(after.live_buffers == before.live_buffers);
  CHECK(after.live_bytes == before.live_bytes);
}

TEST_CASE("a non-persistent tape releases its records at the gradient call", "[autograd][memory]") {
  const md::Tensor x = md::random::normal({32, 32}, 0.0f, 1.0f, 31);
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = md::ops::sum(md::ops::exp(md::ops::tanh(x)));  // the intermediate lives only in records
  const int64_t held = md::memory_stats().live_bytes;
  const md::Tensor g = tape.gradient(y, {x})[0];
  // The gradient (32 x 32) is new; the saved tanh and exp outputs (2 x 32 x 32) are gone.
  CHECK(md::memory_stats().live_bytes <= held - static_cast<int64_t>(32 * 32 * sizeof(float)));
  CHECK(tape.num_records() == 0);
  CHECK(g.shape() == x.shape());
}

namespace {

// A gradient-penalty step: the gradient of |d f / d w|^2 through nested tapes, then an update.
void penalty_step(const md::Tensor& x, md::Variable& w) {
  md::GradientTape outer;
  md::GradientTape inner;
  const md::Tensor f = md::ops::sum(md::ops::softmax(md::ops::tanh(md::ops::matmul(x, w.value())), -1) * x);
  const md::Tensor g = inner.gradient(f, {w})[0];
  const md::Tensor penalty = md::ops::sum(md::ops::square(g));
  const md::Tensor gg = outer.gradient(penalty, {w})[0];
  w.assign_sub(gg * 0.01f);
}

}  // namespace

TEST_CASE("nested tapes over many iterations leave live storage unchanged", "[autograd][memory]") {
  const md::Tensor x = md::random::normal({4, 3}, 0.0f, 1.0f, 41);
  md::Variable w(md::random::normal({3, 3}, 0.0f, 0.5f, 42), "w");
  const md::Tensor w0 = w.value().clone();
  md::MemoryStats after_5{};
  for (int step = 1; step <= 100; ++step) {
    penalty_step(x, w);
    if (step == 5) after_5 = md::memory_stats();
  }
  CHECK(w.value().to_vector() != w0.to_vector());
  const md::MemoryStats after_100 = md::memory_stats();
  CHECK(after_100.live_buffers == after_5.live_buffers);
  CHECK(after_100.live_bytes == after_5.live_bytes);
}
