// The optimizer update loops (core/backend/optimizer_updates*.cpp): Adam over several variables
// in one pass gives, bit for bit, what one call per variable gives, on every kernel path this
// CPU can run (AVX2 and portable), at one and two threads, with and without AMSGrad.
#include <minidl/core/backend/attention_kernels.h>
#include <minidl/core/backend/backend.h>
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <random>
#include <vector>

namespace mb = minidl::backend;

namespace {

// One variable's arrays: weights, momentum, velocity, velocity_hat and gradient.
struct AdamArrays {
  std::vector<float> w, m, v, v_hat, g;
};

// Sizes that put variable boundaries inside a thread's share, below and above the parallel
// grain, and an empty variable.
std::vector<AdamArrays> random_variables(uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_real_distribution<float> positive(0.0f, 0.01f);
  std::vector<AdamArrays> variables;
  for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{0}, int64_t{40000}, int64_t{33}, int64_t{70001}}) {
    AdamArrays a;
    for (int64_t i = 0; i < n; ++i) {
      a.w.push_back(normal(rng));
      a.m.push_back(normal(rng) * 0.01f);
      a.v.push_back(positive(rng));
      a.v_hat.push_back(positive(rng));
      // Some exact zeros and tiny values, where the division by sqrt(v) + eps matters most.
      a.g.push_back(i % 5 == 0 ? 0.0f : (i % 7 == 0 ? 1e-20f : normal(rng) * 0.1f));
    }
    variables.push_back(std::move(a));
  }
  return variables;
}

std::vector<mb::AdamOperands> operands_of(std::vector<AdamArrays>& variables, bool amsgrad) {
  std::vector<mb::AdamOperands> out;
  for (AdamArrays& a : variables) {
    out.push_back({.w = a.w.data(), .m = a.m.data(), .v = a.v.data(), .v_hat = amsgrad ? a.v_hat.data() : nullptr,
                   .g = a.g.data(), .n = static_cast<int64_t>(a.g.size())});
  }
  return out;
}

// Resets the kernel path and the thread count however a test ends.
struct PathAndThreads {
  ~PathAndThreads() {
    mb::set_kernel_path(mb::KernelPath::automatic);
    minidl::set_num_threads(2);
  }
};

}  // namespace

TEST_CASE("adam_update_all matches one adam_update per variable bit for bit, on every kernel path",
          "[backend][optim][threads]") {
  const PathAndThreads restore;
  const mb::AdamStep step{.alpha = 3e-4f, .one_minus_beta_1 = 0.1f, .one_minus_beta_2 = 0.001f, .epsilon = 1e-7f};
  for (const bool amsgrad : {false, true}) {
    // The reference: the portable loop, one variable at a time, on one thread.
    mb::set_kernel_path(mb::KernelPath::portable);
    minidl::set_num_threads(1);
    std::vector<AdamArrays> expected = random_variables(11);
    for (mb::AdamOperands& x : operands_of(expected, amsgrad)) mb::adam_update(x.w, x.m, x.v, x.v_hat, x.g, x.n, step);

    for (const mb::KernelPath path : mb::supported_kernel_paths()) {
      for (const int threads : {1, 2}) {
        INFO("path " << mb::kernel_path_name(path) << ", " << threads << " threads, amsgrad " << amsgrad);
        mb::set_kernel_path(path);
        minidl::set_num_threads(threads);
        std::vector<AdamArrays> actual = random_variables(11);
        mb::adam_update_all(operands_of(actual, amsgrad), step);
        for (size_t i = 0; i < actual.size(); ++i) {
          CHECK(actual[i].w == expected[i].w);
          CHECK(actual[i].m == expected[i].m);
          CHECK(actual[i].v == expected[i].v);
          CHECK(actual[i].v_hat == expected[i].v_hat);
        }
      }
    }
  }
}

TEST_CASE("adam_update_all of no variables does nothing", "[backend][optim]") {
  const mb::AdamStep step{.alpha = 1e-3f, .one_minus_beta_1 = 0.1f, .one_minus_beta_2 = 0.001f, .epsilon = 1e-7f};
  CHECK_NOTHROW(mb::adam_update_all({}, step));
}
