// Bad input raises the right minidl error, with a message that names the shapes involved.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "test_helpers.h"

using Catch::Contains;
using md::backend::BinaryOp;
using md::backend::ReduceOp;

TEST_CASE("mismatched broadcast shapes throw ShapeError naming both shapes", "[errors][binary]") {
  const md::Tensor a = md::Tensor::ones({2, 3}), b = md::Tensor::ones({4, 5});
  CHECK_THROWS_AS(md::compute::binary(BinaryOp::add, a, b), md::ShapeError);
  CHECK_THROWS_WITH(md::compute::binary(BinaryOp::add, a, b), Contains("(2, 3)") && Contains("(4, 5)"));
  const md::Tensor c = md::Tensor::ones({3, 2, 4}), d = md::Tensor::ones({3, 4});
  CHECK_THROWS_AS(md::compute::binary(BinaryOp::lt, c, d), md::ShapeError);
  CHECK_THROWS_WITH(md::compute::binary(BinaryOp::lt, c, d), Contains("(3, 2, 4)") && Contains("(3, 4)"));
  CHECK_THROWS_AS(md::compute::where(md::Tensor::ones({3}), a, b), md::ShapeError);
  CHECK_THROWS_WITH(md::compute::where(md::Tensor::ones({2}), a, md::Tensor::ones({2, 1})),
                    Contains("(2,)") && Contains("(2, 3)"));
}

TEST_CASE("a bad axis throws IndexError naming the axis and the rank", "[errors][axis]") {
  const md::Tensor x = md::Tensor::ones({2, 3, 4});
  CHECK_THROWS_AS(md::compute::softmax(x, 3), md::IndexError);
  CHECK_THROWS_WITH(md::compute::softmax(x, 3), Contains("Axis 3") && Contains("rank 3"));
  CHECK_THROWS_AS(md::compute::softmax_backward(x, x, -4), md::IndexError);
  CHECK_THROWS_AS(md::compute::reduce(ReduceOp::mean, x, {0, 7}), md::IndexError);
  CHECK_THROWS_WITH(md::compute::reduce(ReduceOp::mean, x, {0, 7}), Contains("7") && Contains("rank 3"));
  CHECK_THROWS_AS(md::compute::transpose(x, {0, 1, -5}), md::IndexError);
  CHECK_THROWS_AS(x.dim(-4), md::IndexError);
  CHECK_THROWS_WITH(x.dim(-4), Contains("-4") && Contains("rank 3"));
}

TEST_CASE("reshape to the wrong size throws ShapeError naming both shapes", "[errors][tensor]") {
  const md::Tensor x = md::Tensor::ones({2, 3});
  CHECK_THROWS_AS(x.reshape({5}), md::ShapeError);
  CHECK_THROWS_WITH(x.reshape({5}), Contains("(2, 3)") && Contains("(5,)"));
  CHECK_THROWS_WITH(x.reshape({4, -1}), Contains("(2, 3)") && Contains("(4, -1)"));
}

TEST_CASE("item() on a multi-element tensor throws ValueError naming its shape", "[errors][tensor]") {
  CHECK_THROWS_AS(md::Tensor::ones({2, 2}).item(), md::ValueError);
  CHECK_THROWS_WITH(md::Tensor::ones({2, 2}).item(), Contains("(2, 2)") && Contains("item()"));
}

TEST_CASE("matmul shape errors name both shapes", "[errors][matmul]") {
  const md::Tensor a = md::Tensor::ones({2, 3}), b = md::Tensor::ones({4, 5});
  CHECK_THROWS_AS(md::compute::matmul(a, b), md::ShapeError);
  CHECK_THROWS_WITH(md::compute::matmul(a, b), Contains("(2, 3)") && Contains("(4, 5)") && Contains("3 and 4"));
  // With transposes the stored shapes are named.
  CHECK_THROWS_WITH(md::compute::matmul(a, md::Tensor::ones({3, 5}), true, false),
                    Contains("(2, 3)") && Contains("(3, 5)"));
  CHECK_NOTHROW(md::compute::matmul(a, md::Tensor::ones({5, 3}), false, true));
  // Batch dims that do not broadcast.
  CHECK_THROWS_AS(md::compute::matmul(md::Tensor::ones({2, 2, 3}), md::Tensor::ones({3, 3, 4})), md::ShapeError);
  CHECK_THROWS_WITH(md::compute::matmul(md::Tensor::ones({2, 2, 3}), md::Tensor::ones({3, 3, 4})),
                    Contains("(2, 2, 3)") && Contains("(3, 3, 4)") && Contains("batch"));
  // 1-D operands and scalars.
  CHECK_THROWS_WITH(md::compute::matmul(md::Tensor::ones({3}), md::Tensor::ones({4})),
                    Contains("(3,)") && Contains("(4,)"));
  CHECK_THROWS_AS(md::compute::matmul(md::Tensor::scalar(1.0f), a), md::ShapeError);
  CHECK_THROWS_WITH(md::compute::matmul(md::Tensor::scalar(1.0f), a), Contains("()") && Contains("(2, 3)"));
}

TEST_CASE("every minidl error is an md::Error", "[errors]") {
  CHECK_THROWS_AS(md::Tensor::ones({2, 2}).item(), md::Error);
  CHECK_THROWS_AS(md::compute::softmax(md::Tensor::ones({2}), 1), md::Error);
  CHECK_THROWS_AS(md::Tensor::ones({2}).reshape({3}), md::Error);
  CHECK_THROWS_AS(md::Tensor::ones({2}).reshape({3}), std::runtime_error);
}
