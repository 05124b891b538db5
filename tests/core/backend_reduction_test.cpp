// backend::reduce and compute::reduce (sum, mean, max, min) over every subset of axes of
// ranks 1-4 (and some rank 5), with size-1 and size-0 dims, against a naive loop in double.
#include <minidl/minidl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test_helpers.h"

namespace {

using md::backend::ReduceOp;
using mdt::Dims;

constexpr ReduceOp kAllOps[] = {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min};

struct Reference {
  std::vector<double> value;
  std::vector<double> tol;  // absolute tolerance per output: float rounding of the terms' magnitudes
  Dims kept_shape;
};

Reference reduce_ref(ReduceOp op, const std::vector<float>& x, const Dims& shape, const std::vector<int>& axes) {
  std::vector<bool> reduced(shape.size(), false);
  for (int a : axes) reduced[a] = true;
  Reference r;
  int64_t reduced_count = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (reduced[i]) {
      reduced_count *= shape[i];
    } else {
      r.kept_shape.push_back(shape[i]);
    }
  }
  const int64_t kept = mdt::numel(r.kept_shape);
  const double init = op == ReduceOp::max   ? -std::numeric_limits<double>::infinity()
                      : op == ReduceOp::min ? std::numeric_limits<double>::infinity()
                                            : 0.0;
  r.value.assign(kept, init);
  std::vector<double> magnitude(kept, 0.0);
  mdt::for_each_index(shape, [&](int64_t flat, const Dims& index) {
    int64_t out = 0;
    for (size_t i = 0; i < shape.size(); ++i) {
      if (!reduced[i]) out = out * shape[i] + index[i];
    }
    const double v = x[flat];
    double& acc = r.value[out];
    acc = op == ReduceOp::max ? std::max(acc, v) : op == ReduceOp::min ? std::min(acc, v) : acc + v;
    magnitude[out] += std::fabs(v);
  });
  if (op == ReduceOp::mean) {
    for (int64_t i = 0; i < kept; ++i) {
      r.value[i] = reduced_count == 0 ? std::numeric_limits<double>::quiet_NaN() : r.value[i] / reduced_count;
      magnitude[i] = reduced_count == 0 ? 0.0 : magnitude[i] / reduced_count;
    }
  }
  // Max and min are exact; float sums lose about an ulp of the running magnitude per term at
  // worst (oneDNN and our loops add in blocks, so the real error is far smaller).
  r.tol.resize(kept);
  for (int64_t i = 0; i < kept; ++i) {
    const bool exact = op == ReduceOp::max || op == ReduceOp::min;
    r.tol[i] = exact ? 0.0 : 1e-6 * magnitude[i] + 1e-7;
  }
  return r;
}

std::string describe(ReduceOp op, const Dims& shape, const std::vector<int>& axes) {
  std::string s = std::string(md::backend::reduce_op_name(op)) + " " + mdt::str(shape) + " axes {";
  for (size_t i = 0; i < axes.size(); ++i) s += (i ? ", " : "") + std::to_string(axes[i]);
  return s + "}";
}

void check_backend_reduce(ReduceOp op, const Dims& shape, const std::vector<int>& axes, std::mt19937& rng) {
  const std::vector<float> x = mdt::random_values(rng, mdt::numel(shape), -2.0f, 2.0f);
  const Reference ref = reduce_ref(op, x, shape, axes);
  // A sentinel past the end catches writes beyond the kept elements.
  std::vector<float> out(ref.value.size() + 1, 12345.0f);
  md::backend::reduce(op, x.data(), shape, axes, out.data());
  mdt::check_close_tol(out.data(), ref.value, ref.tol, describe(op, shape, axes));
  INFO(describe(op, shape, axes));
  CHECK(out.back() == 12345.0f);
}

// Every subset of 0..rank-1, as sorted axis lists.
std::vector<std::vector<int>> all_subsets(int rank) {
  std::vector<std::vector<int>> subsets;
  for (int mask = 0; mask < (1 << rank); ++mask) {
    std::vector<int> axes;
    for (int i = 0; i < rank; ++i) {
      if (mask & (1 << i)) axes.push_back(i);
    }
    subsets.push_back(axes);
  }
  return subsets;
}

}  // namespace

TEST_CASE("backend::reduce over every subset of axes matches a naive loop", "[backend][reduction]") {
  std::mt19937 rng(2024);
  for (int rank = 1; rank <= 4; ++rank) {
    std::vector<Dims> shapes = {mdt::random_shape(rng, rank, 2, 5), mdt::random_shape(rng, rank, 1, 4)};
    Dims with_one = mdt::random_shape(rng, rank, 2, 5);
    with_one[rank / 2] = 1;
    shapes.push_back(with_one);
    for (const Dims& shape : shapes) {
      for (const auto& axes : all_subsets(rank)) {
        for (ReduceOp op : kAllOps) check_backend_reduce(op, shape, axes, rng);
      }
    }
  }
  // Rank 5: alternating patterns, which take several stages.
  const Dims shape5 = {3, 2, 4, 3, 5};
  for (const std::vector<int>& axes :
       std::vector<std::vector<int>>{{0, 2, 4}, {1, 3}, {0, 1, 2, 3, 4}, {4}, {0}, {1, 2, 3}, {0, 4}, {2}, {}}) {
    for (ReduceOp op : kAllOps) check_backend_reduce(op, shape5, axes, rng);
  }
}

TEST_CASE("backend::reduce on large shapes: oneDNN rows and our blocked middle-axis loop", "[backend][reduction]") {
  std::mt19937 rng(2025);
  for (ReduceOp op : kAllOps) {
    check_backend_reduce(op, {64, 5000}, {1}, rng);        // (rows, length): one oneDNN primitive
    check_backend_reduce(op, {5000, 64}, {0}, rng);        // outer axis: our loop, parallel
    check_backend_reduce(op, {30, 40, 700}, {1}, rng);     // middle axis with a blocked inner dim
    check_backend_reduce(op, {30, 40, 700}, {0, 2}, rng);  // two stages
    check_backend_reduce(op, {100000}, {0}, rng);          // everything to one value
  }
}

TEST_CASE("backend::reduce gives NumPy's identities for empty reductions", "[backend][reduction]") {
  std::mt19937 rng(7);
  const float inf = std::numeric_limits<float>::infinity();
  for (ReduceOp op : kAllOps) {
    // A size-0 reduced axis: every kept element gets the identity.
    check_backend_reduce(op, {3, 0}, {1}, rng);
    check_backend_reduce(op, {0, 3}, {0}, rng);
    check_backend_reduce(op, {2, 0, 4}, {1}, rng);
    check_backend_reduce(op, {2, 0, 4}, {0, 1, 2}, rng);
    // A size-0 kept axis: nothing to write.
    check_backend_reduce(op, {0, 3}, {1}, rng);
    check_backend_reduce(op, {2, 0, 4}, {0, 2}, rng);
  }
  std::vector<float> out(3);
  md::backend::reduce(ReduceOp::sum, nullptr, {3, 0}, {1}, out.data());
  CHECK(out == std::vector<float>{0, 0, 0});
  md::backend::reduce(ReduceOp::max, nullptr, {3, 0}, {1}, out.data());
  CHECK(out == std::vector<float>{-inf, -inf, -inf});
  md::backend::reduce(ReduceOp::min, nullptr, {3, 0}, {1}, out.data());
  CHECK(out == std::vector<float>{inf, inf, inf});
  md::backend::reduce(ReduceOp::mean, nullptr, {3, 0}, {1}, out.data());
  CHECK(std::isnan(out[0]));
  CHECK(std::isnan(out[2]));
}

TEST_CASE("compute::reduce: keepdims, negative axes, all axes, dtypes", "[compute][reduction]") {
  std::mt19937 rng(31);
  for (int rank = 1; rank <= 4; ++rank) {
    Dims shape = mdt::random_shape(rng, rank, 1, 4);
    const md::Tensor x = md::Tensor::from_vector(mdt::random_values(rng, mdt::numel(shape)), shape);
    for (const auto& axes : all_subsets(rank)) {
      for (ReduceOp op : kAllOps) {
        const Reference ref = reduce_ref(op, x.to_vector(), shape, axes.empty() ? all_subsets(rank).back() : axes);
        // Negative spellings of the same axes.
        std::vector<int64_t> negative;
        for (int a : axes) negative.push_back(a - rank);
        for (bool keepdims : {false, true}) {
          const md::Tensor r = md::compute::reduce(op, x, negative, keepdims);
          Dims expected_shape;
          for (int i = 0; i < rank; ++i) {
            const bool reduced = axes.empty() || std::find(axes.begin(), axes.end(), i) != axes.end();
            if (!reduced) {
              expected_shape.push_back(shape[i]);
            } else if (keepdims) {
              expected_shape.push_back(1);
            }
          }
          INFO(describe(op, shape, axes) << " keepdims " << keepdims);
          CHECK(r.shape() == expected_shape);
          CHECK(r.dtype() == md::DType::float32);
          REQUIRE(r.size() == static_cast<int64_t>(ref.value.size()));
          mdt::check_close_tol(r.data(), ref.value, ref.tol, "compute::reduce");
        }
      }
    }
  }
  // Empty axes reduce everything; a scalar reduces to itself.
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(md::compute::reduce(ReduceOp::sum, x).shape() == md::Shape{});
  CHECK(md::compute::reduce(ReduceOp::sum, x).item() == 21.0f);
  CHECK(md::compute::reduce(ReduceOp::mean, x, {}, true).shape() == md::Shape{1, 1});
  CHECK(md::compute::reduce(ReduceOp::mean, x, {}, true).item() == 3.5f);
  CHECK(md::compute::reduce(ReduceOp::max, md::Tensor::scalar(-2.0f)).item() == -2.0f);
  // int32 sums stay int32, bool sums and every mean become float32.
  const md::Tensor ints = md::Tensor::from_vector({1, 2, 3}, {3}, md::DType::int32);
  CHECK(md::compute::reduce(ReduceOp::sum, ints).dtype() == md::DType::int32);
  CHECK(md::compute::reduce(ReduceOp::max, ints).dtype() == md::DType::int32);
  CHECK(md::compute::reduce(ReduceOp::mean, ints).dtype() == md::DType::float32);
  const md::Tensor bools = md::Tensor::from_vector({1, 0, 1}, {3}, md::DType::bool_);
  CHECK(md::compute::reduce(ReduceOp::sum, bools).dtype() == md::DType::float32);
  CHECK(md::compute::reduce(ReduceOp::sum, bools).item() == 2.0f);
}

TEST_CASE("compute::reduce of empty tensors", "[compute][reduction]") {
  const md::Tensor empty = md::Tensor::zeros({2, 0, 3});
  const md::Tensor sum = md::compute::reduce(ReduceOp::sum, empty, {1});
  CHECK(sum.shape() == md::Shape{2, 3});
  CHECK(sum.to_vector() == std::vector<float>(6, 0.0f));
  const md::Tensor mean = md::compute::reduce(ReduceOp::mean, empty, {1}, true);
  CHECK(mean.shape() == md::Shape{2, 1, 3});
  for (float v : mean.to_vector()) CHECK(std::isnan(v));
  // A size-0 kept axis gives an empty result, even for max (as NumPy: nothing needs an identity).
  CHECK(md::compute::reduce(ReduceOp::sum, empty, {0, 2}).shape() == md::Shape{0});
  CHECK(md::compute::reduce(ReduceOp::max, empty, {0, 2}).shape() == md::Shape{0});
  CHECK(md::compute::reduce(ReduceOp::min, empty, {2}, true).shape() == md::Shape{2, 0, 1});
  // max/min of an empty tensor have no identity.
  for (ReduceOp op : {ReduceOp::max, ReduceOp::min}) {
    CHECK_THROWS_AS(md::compute::reduce(op, empty, {1}), md::ValueError);
    CHECK_THROWS_WITH(md::compute::reduce(op, empty), Catch::Contains("(2, 0, 3)") && Catch::Contains("empty"));
  }
}

TEST_CASE("compute::reduce rejects bad axes", "[compute][reduction][errors]") {
  const md::Tensor x = md::Tensor::ones({2, 3});
  CHECK_THROWS_AS(md::compute::reduce(ReduceOp::sum, x, {2}), md::IndexError);
  CHECK_THROWS_WITH(md::compute::reduce(ReduceOp::sum, x, {2}), Catch::Contains("2") && Catch::Contains("rank 2"));
  CHECK_THROWS_AS(md::compute::reduce(ReduceOp::sum, x, {-3}), md::IndexError);
  CHECK_THROWS_AS(md::compute::reduce(ReduceOp::sum, x, {1, -1}), md::ValueError);
}
