// backend::matmul and compute::matmul against a naive double loop: 2-D, batched, broadcast
// batch dims, every transpose combination, accumulate, k = 0, 1-D operands, and sizes on both
// sides of the small-GEMM threshold (48^3 multiply-adds, core/backend/matmul.cpp).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test_helpers.h"

namespace {

using mdt::Dims;

struct Expected {
  std::vector<double> value;
  std::vector<double> tol;
};

// c = op(a) @ op(b) (+ c0), batch dims broadcast. The tolerance is the classic float GEMM
// bound: (k + 1) ulps of sum |a_ip * b_pj| (+ an ulp of |c0|).
Expected matmul_ref(const std::vector<float>& a, const Dims& a_shape, bool ta, const std::vector<float>& b,
                    const Dims& b_shape, bool tb, const Dims& c_shape, const std::vector<float>* c0) {
  const size_t rank = c_shape.size();
  const int64_t m = c_shape[rank - 2], n = c_shape[rank - 1];
  const int64_t k = ta ? a_shape[a_shape.size() - 2] : a_shape[a_shape.size() - 1];
  const Dims batch(c_shape.begin(), c_shape.end() - 2);
  const Dims a_batch(a_shape.begin(), a_shape.end() - 2);
  const Dims b_batch(b_shape.begin(), b_shape.end() - 2);
  constexpr double kUlp = 1.2e-7;
  Expected e;
  e.value.assign(mdt::numel(c_shape), 0.0);
  e.tol.assign(e.value.size(), 0.0);
  mdt::for_each_index(batch, [&](int64_t flat_batch, const Dims& index) {
    const float* pa = a.data() + mdt::broadcast_offset(index, a_batch) * m * k;
    const float* pb = b.data() + mdt::broadcast_offset(index, b_batch) * k * n;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double sum = 0.0, magnitude = 0.0;
        for (int64_t p = 0; p < k; ++p) {
          const double x = ta ? pa[p * m + i] : pa[i * k + p];
          const double y = tb ? pb[j * k + p] : pb[p * n + j];
          sum += x * y;
          magnitude += std::fabs(x * y);
        }
        const int64_t o = (flat_batch * m + i) * n + j;
        double tol = static_cast<double>(k + 1) * kUlp * magnitude;
        if (c0) {
          sum += (*c0)[o];
          tol += kUlp * std::fabs((*c0)[o]) + kUlp * std::fabs(sum);
        }
        e.value[o] = sum;
        e.tol[o] = tol + 1e-30;
      }
    }
  });
  return e;
}

// Stored shape of an operand whose logical (rows, cols) are given: transposed stores (cols, rows).
Dims stored(Dims batch, int64_t rows, int64_t cols, bool transpose) {
  batch.push_back(transpose ? cols : rows);
  batch.push_back(transpose ? rows : cols);
  return batch;
}

void check_backend_matmul(const Dims& a_batch, const Dims& b_batch, int64_t m, int64_t k, int64_t n, bool ta, bool tb,
                          bool accumulate, std::mt19937& rng) {
  const Dims a_shape = stored(a_batch, m, k, ta);
  const Dims b_shape = stored(b_batch, k, n, tb);
  Dims c_shape = md::broadcast_shapes(a_batch, b_batch);
  c_shape.push_back(m);
  c_shape.push_back(n);
  const std::vector<float> a = mdt::random_values(rng, mdt::numel(a_shape), -1.0f, 1.0f);
  const std::vector<float> b = mdt::random_values(rng, mdt::numel(b_shape), -1.0f, 1.0f);
  const std::vector<float> c0 = accumulate
                                    ? mdt::random_values(rng, mdt::numel(c_shape), -1.0f, 1.0f)
                                    : std::vector<float>(mdt::numel(c_shape), std::numeric_limits<float>::quiet_NaN());
  std::vector<float> c = c0;
  md::backend::matmul(a.data(), a_shape, ta, b.data(), b_shape, tb, c.data(), c_shape, accumulate);
  const Expected e = matmul_ref(a, a_shape, ta, b, b_shape, tb, c_shape, accumulate ? &c0 : nullptr);
  mdt::check_close_tol(c.data(), e.value, e.tol,
                       "matmul " + mdt::str(a_shape) + (ta ? "^T" : "") + " @ " + mdt::str(b_shape) + (tb ? "^T" : "") +
                           " -> " + mdt::str(c_shape) + (accumulate ? " accumulate" : ""));
}

void check_all_flags(const Dims& a_batch, const Dims& b_batch, int64_t m, int64_t k, int64_t n, std::mt19937& rng) {
  for (bool ta : {false, true}) {
    for (bool tb : {false, true}) {
      for (bool accumulate : {false, true}) check_backend_matmul(a_batch, b_batch, m, k, n, ta, tb, accumulate, rng);
    }
  }
}

}  // namespace

TEST_CASE("backend::matmul below the small-GEMM threshold: 2-D, batched, broadcast, transposed", "[backend][matmul]") {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int64_t> dim(1, 6);
  for (int trial = 0; trial < 3; ++trial) {
    const int64_t m = dim(rng), k = dim(rng), n = dim(rng), b1 = dim(rng) % 3 + 2, b2 = dim(rng) % 3 + 2;
    check_all_flags({}, {}, m, k, n, rng);              // 2-D
    check_all_flags({b1}, {b1}, m, k, n, rng);          // batched 3-D
    check_all_flags({b1, b2}, {b1, b2}, m, k, n, rng);  // batched 4-D
    check_all_flags({b1}, {}, m, k, n, rng);            // b has no batch dims
    check_all_flags({}, {b1}, m, k, n, rng);            // a has no batch dims
    check_all_flags({b1, 1}, {1, b2}, m, k, n, rng);    // size-1 batch dims on either side
    check_all_flags({b1, b2}, {b2}, m, k, n, rng);      // different ranks
    check_all_flags({1}, {b1, b2}, m, k, n, rng);
  }
  check_all_flags({}, {}, 1, 1, 1, rng);
  check_all_flags({}, {}, 48, 48, 48, rng);  // exactly at the threshold
}

TEST_CASE("backend::matmul above the small-GEMM threshold runs the oneDNN primitive correctly", "[backend][matmul]") {
  std::mt19937 rng(2);
  check_all_flags({}, {}, 100, 120, 90, rng);
  check_all_flags({}, {}, 49, 48, 48, rng);  // just above the threshold
  check_backend_matmul({3}, {3}, 64, 50, 40, false, false, false, rng);
  check_backend_matmul({3}, {3}, 64, 50, 40, true, true, true, rng);
  check_backend_matmul({2, 1}, {3}, 60, 70, 50, false, false, false, rng);  // broadcast batch
  check_backend_matmul({2, 1}, {3}, 60, 70, 50, true, false, true, rng);
  check_backend_matmul({1}, {2, 2}, 60, 70, 50, false, true, false, rng);
  check_backend_matmul({4}, {}, 60, 70, 50, false, true, false, rng);  // b shared by every batch
}

TEST_CASE("backend::matmul with k = 0 and empty outputs", "[backend][matmul]") {
  std::vector<float> c(6, 7.0f);
  md::backend::matmul(nullptr, {2, 0}, false, nullptr, {0, 3}, false, c.data(), {2, 3}, false);
  CHECK(c == std::vector<float>(6, 0.0f));
  c.assign(6, 7.0f);
  md::backend::matmul(nullptr, {2, 0}, false, nullptr, {0, 3}, false, c.data(), {2, 3}, true);  // adds nothing
  CHECK(c == std::vector<float>(6, 7.0f));
  c.assign(6, 7.0f);
  md::backend::matmul(nullptr, {0, 2}, true, nullptr, {3, 0}, true, c.data(), {2, 3}, false);
  CHECK(c == std::vector<float>(6, 0.0f));
  // Empty outputs: nothing is touched.
  std::mt19937 rng(3);
  check_backend_matmul({}, {}, 0, 4, 3, false, false, false, rng);
  check_backend_matmul({}, {}, 3, 4, 0, false, true, true, rng);
  check_backend_matmul({0}, {0}, 3, 4, 5, false, false, false, rng);
  check_backend_matmul({2, 0}, {0}, 3, 4, 5, true, false, false, rng);
}

TEST_CASE("compute::matmul follows NumPy for 1-D operands and batch broadcasting", "[compute][matmul]") {
  std::mt19937 rng(4);
  auto check = [&](const Dims& a_shape, const Dims& b_shape, const Dims& out_shape) {
    const md::Tensor a = mdt::random_tensor(rng, a_shape, -1.0f, 1.0f);
    const md::Tensor b = mdt::random_tensor(rng, b_shape, -1.0f, 1.0f);
    const md::Tensor c = md::compute::matmul(a, b);
    INFO(mdt::str(a_shape) << " @ " << mdt::str(b_shape));
    CHECK(c.shape() == out_shape);
    CHECK(md::compute::matmul_shape(a_shape, b_shape) == out_shape);
    // The same product with the 1-D operands promoted to matrices by hand.
    const Dims a2 = a_shape.size() == 1 ? Dims{1, a_shape[0]} : a_shape;
    const Dims b2 = b_shape.size() == 1 ? Dims{b_shape[0], 1} : b_shape;
    Dims full = md::broadcast_shapes(Dims(a2.begin(), a2.end() - 2), Dims(b2.begin(), b2.end() - 2));
    full.push_back(a2[a2.size() - 2]);
    full.push_back(b2[b2.size() - 1]);
    const Expected e = matmul_ref(a.to_vector(), a2, false, b.to_vector(), b2, false, full, nullptr);
    REQUIRE(c.size() == static_cast<int64_t>(e.value.size()));
    mdt::check_close_tol(c.data(), e.value, e.tol, "compute::matmul");
  };
  check({4}, {4}, {});
  check({4}, {4, 3}, {3});
  check({2, 4}, {4}, {2});
  check({4}, {5, 4, 3}, {5, 3});
  check({5, 2, 4}, {4}, {5, 2});
  check({2, 4}, {4, 3}, {2, 3});
  check({5, 2, 4}, {4, 3}, {5, 2, 3});
  check({2, 1, 2, 4}, {3, 4, 6}, {2, 3, 2, 6});
  check({0, 4}, {4, 3}, {0, 3});
  check({2, 0}, {0, 3}, {2, 3});
  CHECK(md::compute::matmul(md::Tensor::ones({2, 0}), md::Tensor::ones({0, 3})).to_vector() ==
        std::vector<float>(6, 0.0f));
  CHECK(md::compute::matmul(md::Tensor::from_vector({1, 2, 3}, {3}), md::Tensor::from_vector({4, 5, 6}, {3})).item() ==
        32.0f);
}

TEST_CASE("compute::matmul transpose flags swap the last two axes (and leave 1-D operands alone)",
          "[compute][matmul]") {
  const md::Tensor a = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {3, 2});  // a^T is (2, 3)
  const md::Tensor b = md::Tensor::from_vector({1, 0, 0, 1, 1, 1}, {2, 3});  // b^T is (3, 2)
  const md::Tensor at_bt = md::compute::matmul(a, b, true, true);            // (2, 3) @ (3, 2)
  CHECK(at_bt.shape() == md::Shape{2, 2});
  // a^T = [[1, 3, 5], [2, 4, 6]], b^T = [[1, 1], [0, 1], [0, 1]].
  CHECK(at_bt.to_vector() == std::vector<float>{1, 9, 2, 12});
  CHECK(md::compute::matmul_shape({3, 2}, {2, 3}, true, true) == md::Shape{2, 2});
  CHECK(md::compute::matmul_shape({7, 3, 2}, {7, 4, 3}, true, true) == md::Shape{7, 2, 4});
  // A vector has no axes to swap.
  const md::Tensor v = md::Tensor::from_vector({1, 1, 1}, {3});
  CHECK(md::compute::matmul(v, b, true, true).to_vector() == std::vector<float>{1, 3});
  CHECK(md::compute::matmul(a, v, true, true).to_vector() == std::vector<float>{9, 12});
  CHECK(md::compute::matmul_shape({3}, {2, 3}, true, true) == md::Shape{2});
  CHECK(md::compute::matmul_shape({3, 2}, {3}, true, true) == md::Shape{2});
  // Unknown dims of symbolic shapes pass through.
  CHECK(md::compute::matmul_shape({md::None, 3}, {3, 4}) == md::Shape{md::None, 4});
  CHECK(md::compute::matmul_shape({md::None, 5, 3}, {3, md::None}) == md::Shape{md::None, 5, md::None});
}
