// What a layer call costs above the ops it runs: a Dense call on a (8, 32) input against its two
// ops (matmul and the bias add) on the same tensors, eagerly, no tape (issue 16's target: at most
// 2 us above the ops); and a whole training step of a small layer model, train_on_batch of
// Input(32) -> Dense(32, relu) -> Dense(1) with SGD and MSE on a batch of 8. Best of 7 rounds;
// one thread.
//
//   ./build/bench/layer_call_bench
#include <minidl/minidl.h>

#include "best_time.h"

namespace md = minidl;

namespace {

// Best of 7 rounds, microseconds per call.
template <class F>
double best_microseconds(F&& call, int calls = 20000) {
  return bench::best_seconds_per_call(call, 7, calls) * 1e6;
}

}  // namespace

int main() {
  md::set_num_threads(1);
  const md::Tensor x = md::random::normal({8, 32}, 0.0f, 1.0f, 1);
  md::layers::Dense dense({.units = 32});
  (void)dense(x);  // builds
  const md::Tensor kernel = dense.kernel().value(), bias = dense.bias().value();
  const double layer = best_microseconds([&] { (void)dense(x); });
  const double ops = best_microseconds([&] { (void)md::ops::add(md::ops::matmul(x, kernel), bias); });
  fmt::print("layer_call_bench: Dense(32) on (8, 32), 1 thread, best of 7 x 20000 calls\n");
  fmt::print("| Dense call us | its two ops us | overhead us |\n|---|---|---|\n| {:.3f} | {:.3f} | {:.3f} |\n", layer,
             ops, layer - ops);

  md::random::set_global_seed(1);
  const md::Tensor in = md::Input({32});
  const md::Tensor hidden = md::layers::Dense({.units = 32, .activation = "relu"})(in);
  md::Model model(in, md::layers::Dense({.units = 1})(hidden));
  model.compile({.optimizer = "sgd", .loss = "mse"});
  const md::Tensor batch = md::random::normal({8, 32}, 0.0f, 1.0f, 2), target = md::random::normal({8, 1}, 0.0f, 1.0f, 3);
  for (int i = 0; i < 200; ++i) (void)model.train_on_batch(batch, target);  // warm-up
  const double step = best_microseconds([&] { (void)model.train_on_batch(batch, target); }, 3000);
  fmt::print("\ntrain_on_batch, Input(32) -> Dense(32, relu) -> Dense(1), SGD + MSE, batch 8: {:.2f} us\n", step);
  return 0;
}
