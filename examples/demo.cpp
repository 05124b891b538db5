// The demo: minidl's tensors and backend at work on a real problem. It fits a linear model
// y = X w + b to noisy data by full-batch gradient descent written with the backend's
// matmul, broadcasting, reductions and a softmax, then reports the recovered weights.
#include <minidl/minidl.h>

#include <chrono>
#include <cmath>

namespace md = minidl;
using md::compute::BinaryOp;
using md::compute::ReduceOp;

int main() {
  fmt::print("minidl demo: {} OpenMP thread(s)\n", md::get_num_threads());
  constexpr int64_t kSamples = 4096, kFeatures = 64;

  // Ground truth and noisy observations.
  md::Tensor x = md::random::normal({kSamples, kFeatures}, 0.0f, 1.0f, /*seed=*/1);
  md::Tensor true_w = md::random::uniform({kFeatures, 1}, -2.0f, 2.0f, /*seed=*/2);
  md::Tensor noise = md::random::normal({kSamples, 1}, 0.0f, 0.1f, /*seed=*/3);
  md::Tensor y = md::compute::binary(BinaryOp::add, md::compute::binary(BinaryOp::add, md::compute::matmul(x, true_w), 0.5f), noise);

  md::Tensor w = md::Tensor::zeros({kFeatures, 1});
  md::Tensor b = md::Tensor::zeros({1});
  const float learning_rate = 0.1f;
  const auto start = std::chrono::steady_clock::now();
  for (int step = 0; step <= 200; ++step) {
    // residual = X w + b - y;  loss = mean(residual^2)
    md::Tensor residual = md::compute::binary(
        BinaryOp::sub, md::compute::binary(BinaryOp::add, md::compute::matmul(x, w), b), y);
    const float loss = md::compute::reduce(ReduceOp::mean, md::compute::eltwise(md::compute::EltwiseOp::square, residual)).item();
    if (step % 40 == 0) fmt::print("step {:3d}  mse {:.6f}\n", step, loss);
    // d(loss)/dw = 2/N X^T residual;  d(loss)/db = 2 mean(residual)
    md::Tensor grad_w = md::compute::binary(BinaryOp::mul, md::compute::matmul(x, residual, /*transpose_a=*/true),
                                            2.0f / kSamples);
    md::Tensor grad_b = md::compute::binary(BinaryOp::mul, md::compute::reduce(ReduceOp::mean, residual, {0}), 2.0f);
    w = md::compute::binary(BinaryOp::sub, w, md::compute::binary(BinaryOp::mul, grad_w, learning_rate));
    b = md::compute::binary(BinaryOp::sub, b, md::compute::binary(BinaryOp::mul, grad_b, learning_rate));
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  md::Tensor error = md::compute::reduce(
      ReduceOp::max, md::compute::eltwise(md::compute::EltwiseOp::abs, md::compute::binary(BinaryOp::sub, w, true_w)));
  fmt::print("fitted in {:.1f} ms; max |w - w_true| = {:.4f}, b = {:.4f} (true 0.5)\n", seconds * 1e3, error.item(),
             b.item());

  // A softmax over the first few predictions, printed with the tensor formatter.
  md::Tensor logits = md::compute::matmul(md::Tensor::from_vector(x.to_vector(), {kSamples, kFeatures}), w);
  md::Tensor first = md::Tensor::from_vector(
      std::vector<float>(logits.data(), logits.data() + 6), {2, 3});
  fmt::print("softmax of the first six predictions, in rows of three:\n{}\n", md::compute::softmax(first, -1));

  const auto cache = md::backend::primitive_cache_stats();
  fmt::print("oneDNN primitive cache: {} primitives, {} hits, {} misses\n", cache.entries, cache.hits, cache.misses);
  return error.item() < 0.05f ? 0 : 1;
}
