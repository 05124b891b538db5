// Tensor-level compute: result dtypes, fresh outputs, threads, and inputs that are not concrete.
// (Each op's numbers are checked against naive loops in the backend_*_test.cpp files.)
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "test_helpers.h"

using md::backend::BinaryOp;
using md::backend::EltwiseOp;
using md::backend::ReduceOp;

TEST_CASE("compute::binary result dtypes", "[compute]") {
  const md::Tensor f = md::Tensor::ones({2});
  const md::Tensor i = md::Tensor::from_vector({3, 4}, {2}, md::DType::int32);
  const md::Tensor b = md::Tensor::from_vector({1, 0}, {2}, md::DType::bool_);
  CHECK(md::compute::binary(BinaryOp::add, i, i).dtype() == md::DType::int32);
  CHECK(md::compute::binary(BinaryOp::mul, i, f).dtype() == md::DType::float32);
  CHECK(md::compute::binary(BinaryOp::div, i, i).dtype() == md::DType::float32);
  CHECK(md::compute::binary(BinaryOp::div, i, i).to_vector() == std::vector<float>{1, 1});
  CHECK(md::compute::binary(BinaryOp::max, b, b).dtype() == md::DType::bool_);
  CHECK(md::compute::binary(BinaryOp::add, b, f).dtype() == md::DType::float32);
  for (BinaryOp op : {BinaryOp::eq, BinaryOp::ne, BinaryOp::lt, BinaryOp::le, BinaryOp::gt, BinaryOp::ge}) {
    CHECK(md::compute::binary(op, f, i).dtype() == md::DType::bool_);
  }
  CHECK(md::compute::binary(BinaryOp::add, i, 1.0f).dtype() == md::DType::int32);
  CHECK(md::compute::eltwise(EltwiseOp::abs, i).dtype() == md::DType::float32);
}

TEST_CASE("compute ops return fresh tensors and leave their inputs alone", "[compute]") {
  std::mt19937 rng(1);
  const md::Tensor x = mdt::random_tensor(rng, {3, 4});
  const std::vector<float> before = x.to_vector();
  const std::vector<md::Tensor> outputs = {
      md::compute::binary(BinaryOp::add, x, x), md::compute::binary(BinaryOp::mul, x, 2.0f),
      md::compute::eltwise(EltwiseOp::tanh, x), md::compute::softmax(x, 0),
      md::compute::softmax(x, 1, true),         md::compute::reduce(ReduceOp::sum, x, {0}),
      md::compute::matmul(x, x, false, true),   md::compute::transpose(x),
      md::compute::broadcast_to(x, {2, 3, 4}),  md::compute::where(md::Tensor::ones({4}), x, x),
  };
  for (const md::Tensor& out : outputs) {
    CHECK(out.is_concrete());
    CHECK_FALSE(out.same_storage(x));
  }
  CHECK(x.to_vector() == before);
  // broadcast_to to the same shape is still a copy.
  const md::Tensor same = md::compute::broadcast_to(x, {3, 4});
  CHECK_FALSE(same.same_storage(x));
  CHECK(same.to_vector() == before);
}

TEST_CASE("compute ops give the same numbers on 1 and 2 threads", "[compute][threads]") {
  const int saved = md::get_num_threads();
  std::mt19937 rng(2);
  // Big enough for every parallel path (> 1 << 14 elements per call).
  const md::Tensor a = mdt::random_tensor(rng, {160, 200}), b = mdt::random_tensor(rng, {200, 150});
  const md::Tensor col = mdt::random_tensor(rng, {160, 1});
  auto run = [&] {
    std::vector<std::vector<float>> r;
    r.push_back(md::compute::binary(BinaryOp::sub, col, a).to_vector());
    r.push_back(md::compute::softmax(a, 0).to_vector());
    r.push_back(md::compute::reduce(ReduceOp::max, a, {0}).to_vector());
    r.push_back(md::compute::transpose(a).to_vector());
    r.push_back(md::compute::eltwise(EltwiseOp::gelu, a).to_vector());
    r.push_back(md::compute::matmul(a, b).to_vector());
    return r;
  };
  md::set_num_threads(1);
  const auto one = run();
  md::set_num_threads(2);
  const auto two = run();
  md::set_num_threads(saved);
  REQUIRE(one.size() == two.size());
  for (size_t i = 0; i < one.size(); ++i) {
    INFO("result " << i);
    // Every op here but matmul computes each output element in a fixed order; oneDNN's GEMM may
    // split k differently per thread count, so it is compared to float rounding.
    if (i + 1 == one.size()) {
      mdt::check_close(two[i].data(), mdt::to_double(one[i]), 1e-5, 1e-5, "matmul 1 vs 2 threads");
    } else {
      CHECK(one[i] == two[i]);
    }
  }
}

TEST_CASE("set_num_threads rejects counts below 1", "[threads][errors]") {
  const int saved = md::get_num_threads();
  CHECK(saved >= 1);
  CHECK_THROWS_AS(md::set_num_threads(0), md::ValueError);
  CHECK_THROWS_WITH(md::set_num_threads(-2), Catch::Contains("-2"));
  CHECK(md::get_num_threads() == saved);
  md::set_num_threads(1);
  CHECK(md::backend::get_num_threads() == 1);
  md::set_num_threads(saved);
  CHECK(md::get_num_threads() == saved);
}

TEST_CASE("compute ops on symbolic or undefined tensors throw instead of reading garbage", "[compute][errors]") {
  const md::Tensor s = md::Tensor::symbolic({2, 3});
  const md::Tensor c = md::Tensor::ones({2, 3});
  CHECK_THROWS_AS(md::compute::binary(BinaryOp::add, s, c), md::ValueError);
  CHECK_THROWS_WITH(md::compute::binary(BinaryOp::add, c, s), Catch::Contains("symbolic"));
  CHECK_THROWS_AS(md::compute::eltwise(EltwiseOp::exp, s), md::ValueError);
  CHECK_THROWS_AS(md::compute::reduce(ReduceOp::sum, s), md::ValueError);
  CHECK_THROWS_AS(md::compute::matmul(s, md::compute::transpose(c)), md::ValueError);
  CHECK_THROWS_AS(md::compute::softmax(s, 0), md::ValueError);
  CHECK_THROWS_AS(md::compute::transpose(s), md::ValueError);
  CHECK_THROWS_AS(md::compute::binary(BinaryOp::add, md::Tensor(), c), md::ValueError);
  CHECK_THROWS_WITH(md::compute::binary(BinaryOp::add, md::Tensor(), c), Catch::Contains("undefined"));
}
