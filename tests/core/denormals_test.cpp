// FTZ/DAZ (issue 18, numerical faults): denormals are flushed on the threads that run minidl's
// compute, while a DenormalsFlushed lives (fit, evaluate and predict hold one per batch), and the
// calling thread's own mode comes back afterwards.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <vector>

#include "minidl/core/backend/backend.h"

namespace md = minidl;

namespace {

// 1e-30 * 1e-10 = 1e-40 is below float's smallest normal (1.18e-38): a denormal, or 0 flushed.
// volatile keeps the compiler from folding it at compile time.
float denormal_product() {
  volatile float a = 1e-30f, b = 1e-10f;
  return a * b;
}

struct Threads {
  int before = md::get_num_threads();
  explicit Threads(int n) { md::set_num_threads(n); }
  ~Threads() {
    md::set_num_threads(before);
    md::set_flush_denormals(true);
  }
};

}  // namespace

TEST_CASE("denormals: flushed on the calling thread and its OpenMP team inside the scope only", "[core][denormals]") {
  const Threads two(2);
  CHECK(md::flush_denormals());  // the default
  REQUIRE_FALSE(md::backend::thread_flushes_denormals());
  CHECK(denormal_product() > 0.0f);  // IEEE gradual underflow outside
  {
    const md::DenormalsFlushed flushed;
    CHECK(md::backend::thread_flushes_denormals());
    CHECK(denormal_product() == 0.0f);
    CHECK(md::backend::team_flushes_denormals() == std::vector<bool>{true, true});
  }
  CHECK_FALSE(md::backend::thread_flushes_denormals());
  CHECK(denormal_product() > 0.0f);
  // The workers keep the mode: only minidl's work runs on them.
  const std::vector<bool> team = md::backend::team_flushes_denormals();
  CHECK_FALSE(team[0]);
  CHECK(team[1]);
}

TEST_CASE("denormals: set_flush_denormals(false) keeps IEEE underflow everywhere", "[core][denormals]") {
  const Threads two(2);
  md::set_flush_denormals(false);
  {
    const md::DenormalsFlushed flushed;
    CHECK_FALSE(md::backend::thread_flushes_denormals());
    CHECK(denormal_product() > 0.0f);
    CHECK(md::backend::team_flushes_denormals() == std::vector<bool>{false, false});
  }
  md::set_flush_denormals(true);
  {
    const md::DenormalsFlushed flushed;
    CHECK(md::backend::team_flushes_denormals() == std::vector<bool>{true, true});
  }
}

TEST_CASE("denormals: fit's steps run flushed and leave the caller's mode alone", "[core][denormals]") {
  const Threads two(2);
  const md::Tensor in = md::Input({2});
  md::Model model(in, md::layers::Dense({.units = 1})(in));
  model.compile({.optimizer = "sgd", .loss = "mse"});
  // Inputs of 1e-39 (denormal): with DAZ the step reads them as 0, so the kernel's gradient is
  // exactly zero and only the bias moves.
  const md::Tensor x = md::Tensor::from_vector({1e-39f, 1e-39f, 1e-39f, 1e-39f}, {2, 2});
  const md::Tensor y = md::Tensor::ones({2, 1});
  const std::vector<float> kernel_before = model.get_weights()[0].to_vector();
  model.fit(x, y, {.epochs = 1, .batch_size = 2, .verbose = 0});
  CHECK(model.get_weights()[0].to_vector() == kernel_before);
  CHECK(model.get_weights()[1].to_vector()[0] != 0.0f);
  CHECK_FALSE(md::backend::thread_flushes_denormals());
}
