// The small-product kernels (core/backend/detail/small_gemm.h) on every kernel path this CPU
// runs (AVX-512, AVX2 + FMA, portable), against a double reference: sizes on both sides of the
// vector widths (4, 8, 16) and of the 4-row and 2-vector register tiles, every transpose
// combination, beta 0 (c filled with NaN first: it must not be read) and beta 1, leading
// dimensions wider than the matrices (padding that must stay untouched), and the layouts the
// dispatcher picks between (row vectors, the transposed problem, depth vectors, the plain loop).
// Then backend::matmul on each path, as the layers call it.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "minidl/core/backend/attention_kernels.h"
#include "minidl/core/backend/detail/small_gemm.h"
#include "test_helpers.h"

namespace {

namespace mb = minidl::backend;
using mb::detail::SmallGemmProblem;

// Restores the automatic kernel path, also when a REQUIRE fails.
struct KernelPathGuard {
  ~KernelPathGuard() { mb::set_kernel_path(mb::KernelPath::automatic); }
};

constexpr float kPadding = -12345.0f;  // what the unused part of c's rows must still hold afterwards

// An operand stored row-major as (rows x cols) with `pad` unused floats after each row.
struct Stored {
  int64_t rows = 0, cols = 0, ld = 0;
  std::vector<float> values;
  float at(int64_t r, int64_t c) const { return values[r * ld + c]; }
};

Stored random_stored(std::mt19937& rng, int64_t rows, int64_t cols, int64_t pad) {
  Stored s{rows, cols, cols + pad, {}};
  s.values = mdt::random_values(rng, rows * s.ld, -1.0f, 1.0f);
  return s;
}

// c = op(a) op(b) (+ c) through detail::small_gemm with the strides of the stored operands, on
// the active path; compared against double sums with the float GEMM error bound
// (k + 1) ulps of sum |a b| (+ an ulp of |c0| and of the result).
void check_small_gemm(int64_t m, int64_t n, int64_t k, bool ta, bool tb, bool accumulate, int64_t pad,
                      std::mt19937& rng) {
  const Stored a = ta ? random_stored(rng, k, m, pad) : random_stored(rng, m, k, pad);
  const Stored b = tb ? random_stored(rng, n, k, pad) : random_stored(rng, k, n, pad);
  const int64_t ldc = n + pad;
  std::vector<float> c(static_cast<size_t>(m * ldc), kPadding);
  std::vector<float> c0(c.size());
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      c[i * ldc + j] = accumulate ? std::uniform_real_distribution<float>(-1.0f, 1.0f)(rng)
                                  : std::numeric_limits<float>::quiet_NaN();
    }
  }
  c0 = c;
  SmallGemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a = a.values.data();
  p.a_row = ta ? 1 : a.ld;
  p.a_depth = ta ? a.ld : 1;
  p.b = b.values.data();
  p.b_depth = tb ? 1 : b.ld;
  p.b_col = tb ? b.ld : 1;
  p.c = c.data();
  p.c_row = ldc;
  p.c_col = 1;
  p.accumulate = accumulate;
  mb::detail::small_gemm(p);

  constexpr double kUlp = 1.0 / (1 << 23);
  const std::string what = std::string(mb::kernel_path_name(mb::active_kernel_path())) + " m " + std::to_string(m) +
                           " n " + std::to_string(n) + " k " + std::to_string(k) + (ta ? " a^T" : "") +
                           (tb ? " b^T" : "") + (accumulate ? " accumulate" : "") + " pad " + std::to_string(pad);
  int failures = 0;
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < ldc; ++j) {
      const float got = c[i * ldc + j];
      if (j >= n) {
        if (got != kPadding && failures++ < 3) FAIL_CHECK(what << ": padding at (" << i << ", " << j << ") written");
        continue;
      }
      double sum = 0.0, magnitude = 0.0;
      for (int64_t kk = 0; kk < k; ++kk) {
        const double x = ta ? a.at(kk, i) : a.at(i, kk);
        const double y = tb ? b.at(j, kk) : b.at(kk, j);
        sum += x * y;
        magnitude += std::fabs(x * y);
      }
      double tol = static_cast<double>(k + 1) * kUlp * magnitude + 1e-30;
      if (accumulate) {
        sum += c0[i * ldc + j];
        tol += kUlp * std::fabs(c0[i * ldc + j]) + kUlp * std::fabs(sum);
      }
      if (!(std::fabs(got - sum) <= tol) && failures++ < 3) {
        FAIL_CHECK(what << ": c(" << i << ", " << j << ") = " << got << ", expected " << sum << " +- " << tol);
      }
    }
  }
  CHECK(failures == 0);
}

}  // namespace

TEST_CASE("small_gemm on every kernel path: sizes around the vector and tile edges, every transpose, beta 0 and 1",
          "[backend][matmul][small_gemm]") {
  const KernelPathGuard guard;
  std::mt19937 rng(11);
  const std::vector<int64_t> rows = {1, 2, 3, 4, 5, 8, 9, 13};
  const std::vector<int64_t> cols = {1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48};
  const std::vector<int64_t> depths = {1, 2, 4, 7, 8, 9, 16, 17, 32, 33};
  for (const mb::KernelPath path : mb::supported_kernel_paths()) {
    mb::set_kernel_path(path);
    INFO("path " << mb::kernel_path_name(path));
    for (const int64_t m : rows) {
      for (const int64_t n : cols) {
        for (const int64_t k : depths) {
          for (const bool ta : {false, true}) {
            for (const bool tb : {false, true}) {
              // Beta 1 and padded rows on alternate combinations, to keep the case count down.
              const bool accumulate = ((m + n + k) % 2 == 1) != ta;
              const int64_t pad = tb ? 3 : 0;
              check_small_gemm(m, n, k, ta, tb, accumulate, pad, rng);
              // The same problem transposed (m and n swapped) reaches the other layouts.
              check_small_gemm(n, m, k, !tb, !ta, !accumulate, 3 - pad, rng);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("small_gemm with k = 0 zeroes c (beta 0) or leaves it (beta 1); m = 0 or n = 0 does nothing",
          "[backend][matmul][small_gemm]") {
  const KernelPathGuard guard;
  for (const mb::KernelPath path : mb::supported_kernel_paths()) {
    mb::set_kernel_path(path);
    INFO("path " << mb::kernel_path_name(path));
    std::vector<float> c(6, std::numeric_limits<float>::quiet_NaN());
    SmallGemmProblem p;
    p.m = 2;
    p.n = 3;
    p.k = 0;
    p.c = c.data();
    p.c_row = 3;
    p.c_col = 1;
    mb::detail::small_gemm(p);
    for (const float x : c) CHECK(x == 0.0f);
    for (float& x : c) x = 2.5f;
    p.accumulate = true;
    mb::detail::small_gemm(p);
    for (const float x : c) CHECK(x == 2.5f);
    p.m = 0;
    p.k = 4;
    p.accumulate = false;
    mb::detail::small_gemm(p);  // a and b are null: nothing may be read
    for (const float x : c) CHECK(x == 2.5f);
  }
}

TEST_CASE("small_gemm with strides no kernel layout fits runs the plain loop correctly",
          "[backend][matmul][small_gemm]") {
  // a, b and c all strided in both dimensions (as a sliced, transposed view would be).
  const KernelPathGuard guard;
  std::mt19937 rng(12);
  for (const mb::KernelPath path : mb::supported_kernel_paths()) {
    mb::set_kernel_path(path);
    const int64_t m = 5, n = 6, k = 7;
    const std::vector<float> a = mdt::random_values(rng, m * k * 4, -1.0f, 1.0f);
    const std::vector<float> b = mdt::random_values(rng, k * n * 4, -1.0f, 1.0f);
    std::vector<float> c(static_cast<size_t>(m * n * 4), kPadding);
    SmallGemmProblem p{.m = m,
                       .n = n,
                       .k = k,
                       .a = a.data(),
                       .a_row = 2 * k,
                       .a_depth = 2,
                       .b = b.data(),
                       .b_depth = 2 * n,
                       .b_col = 2,
                       .c = c.data(),
                       .c_row = 2 * n,
                       .c_col = 2,
                       .accumulate = false};
    mb::detail::small_gemm(p);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0.0, magnitude = 0.0;
        for (int64_t kk = 0; kk < k; ++kk) {
          const double x = a[i * 2 * k + kk * 2], y = b[kk * 2 * n + j * 2];
          sum += x * y;
          magnitude += std::fabs(x * y);
        }
        CHECK(std::fabs(c[i * 2 * n + j * 2] - sum) <= (k + 1) * magnitude / (1 << 23) + 1e-30);
        CHECK(c[i * 2 * n + j * 2 + 1] == kPadding);
      }
    }
  }
}

TEST_CASE("backend::matmul on every kernel path: a dense layer's products at batch 8, each transpose",
          "[backend][matmul][small_gemm]") {
  // The 32-32-1 MLP's forward and backward products, batched products below the tiny threshold,
  // and one just above it (cblas_sgemm), through the public entry point.
  const KernelPathGuard guard;
  std::mt19937 rng(13);
  struct Case {
    Dims batch;
    int64_t m, k, n;
  };
  const std::vector<Case> cases = {{{}, 8, 32, 32}, {{}, 8, 32, 1},  {{}, 8, 1, 32},    {{}, 32, 8, 1},
                                   {{}, 32, 8, 32}, {{3}, 5, 9, 17}, {{2}, 16, 16, 16}, {{}, 17, 31, 33}};
  for (const mb::KernelPath path : mb::supported_kernel_paths()) {
    mb::set_kernel_path(path);
    INFO("path " << mb::kernel_path_name(path));
    for (const Case& c : cases) {
      for (const bool ta : {false, true}) {
        for (const bool tb : {false, true}) {
          for (const bool accumulate : {false, true}) {
            Dims a_shape = c.batch, b_shape = c.batch, c_shape = c.batch;
            a_shape.insert(a_shape.end(), {ta ? c.k : c.m, ta ? c.m : c.k});
            b_shape.insert(b_shape.end(), {tb ? c.n : c.k, tb ? c.k : c.n});
            c_shape.insert(c_shape.end(), {c.m, c.n});
            const std::vector<float> a = mdt::random_values(rng, mdt::numel(a_shape), -1.0f, 1.0f);
            const std::vector<float> b = mdt::random_values(rng, mdt::numel(b_shape), -1.0f, 1.0f);
            std::vector<float> out =
                accumulate ? mdt::random_values(rng, mdt::numel(c_shape), -1.0f, 1.0f)
                           : std::vector<float>(mdt::numel(c_shape), std::numeric_limits<float>::quiet_NaN());
            const std::vector<float> out0 = out;
            mb::matmul(a.data(), a_shape, ta, b.data(), b_shape, tb, out.data(), c_shape, accumulate);
            const int64_t batches = mdt::numel(c.batch);
            std::vector<double> expected(out.size()), tol(out.size());
            for (int64_t t = 0; t < batches; ++t) {
              for (int64_t i = 0; i < c.m; ++i) {
                for (int64_t j = 0; j < c.n; ++j) {
                  double sum = 0.0, magnitude = 0.0;
                  for (int64_t kk = 0; kk < c.k; ++kk) {
                    const double x = ta ? a[t * c.m * c.k + kk * c.m + i] : a[t * c.m * c.k + i * c.k + kk];
                    const double y = tb ? b[t * c.k * c.n + j * c.k + kk] : b[t * c.k * c.n + kk * c.n + j];
                    sum += x * y;
                    magnitude += std::fabs(x * y);
                  }
                  const size_t o = static_cast<size_t>((t * c.m + i) * c.n + j);
                  tol[o] = (c.k + 1) * magnitude / (1 << 23) + 1e-30;
                  if (accumulate) {
                    sum += out0[o];
                    tol[o] += (std::fabs(out0[o]) + std::fabs(sum)) / (1 << 23);
                  }
                  expected[o] = sum;
                }
              }
            }
            mdt::check_close_tol(out.data(), expected, tol,
                                 "matmul " + mdt::str(a_shape) + (ta ? "^T" : "") + " @ " + mdt::str(b_shape) +
                                     (tb ? "^T" : "") + (accumulate ? " accumulate" : ""));
          }
        }
      }
    }
  }
}
