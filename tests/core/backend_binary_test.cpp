// backend::binary and compute::binary against a naive broadcasting loop in double, for every
// BinaryOp, ranks 0-5, broadcasting on every axis of either or both operands, lower-rank and
// scalar operands, and size-0 dims.
#include <minidl/minidl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <limits>
#include <random>
#include <utility>
#include <vector>

#include "test_helpers.h"

namespace {

using md::backend::BinaryOp;
using mdt::Dims;

constexpr BinaryOp kAllOps[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div,
                                BinaryOp::max, BinaryOp::min, BinaryOp::eq,  BinaryOp::ne,
                                BinaryOp::lt,  BinaryOp::le,  BinaryOp::gt,  BinaryOp::ge};

bool is_comparison(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le || op == BinaryOp::gt ||
         op == BinaryOp::ge;
}

double reference_op(BinaryOp op, float a, float b) {
  const double x = a, y = b;
  switch (op) {
    case BinaryOp::add:
      return x + y;
    case BinaryOp::sub:
      return x - y;
    case BinaryOp::mul:
      return x * y;
    case BinaryOp::div:
      return x / y;
    case BinaryOp::max:
      return std::max(x, y);
    case BinaryOp::min:
      return std::min(x, y);
    case BinaryOp::eq:
      return x == y ? 1.0 : 0.0;
    case BinaryOp::ne:
      return x != y ? 1.0 : 0.0;
    case BinaryOp::lt:
      return x < y ? 1.0 : 0.0;
    case BinaryOp::le:
      return x <= y ? 1.0 : 0.0;
    case BinaryOp::gt:
      return x > y ? 1.0 : 0.0;
    case BinaryOp::ge:
      return x >= y ? 1.0 : 0.0;
  }
  return 0.0;
}

std::vector<double> reference_binary(BinaryOp op, const std::vector<float>& a, const Dims& a_shape,
                                     const std::vector<float>& b, const Dims& b_shape, const Dims& out_shape) {
  std::vector<double> out(mdt::numel(out_shape));
  mdt::for_each_index(out_shape, [&](int64_t flat, const Dims& index) {
    out[flat] = reference_op(op, a[mdt::broadcast_offset(index, a_shape)], b[mdt::broadcast_offset(index, b_shape)]);
  });
  return out;
}

// Multiples of 0.5 in [-2, 2], so that comparisons see many ties; divisors avoid zero.
std::vector<float> operand_values(std::mt19937& rng, int64_t n, bool divisor) {
  std::uniform_int_distribution<int> pick(-4, 4);
  std::vector<float> out(n);
  for (auto& v : out) {
    int k = pick(rng);
    if (divisor && k == 0) k = 1;
    v = 0.5f * static_cast<float>(k);
  }
  return out;
}

// Results are exact for every op but div, which float rounds once (relative 6e-8).
constexpr double kBinaryRtol = 1e-6;

void check_backend_binary(BinaryOp op, const Dims& a_shape, const Dims& b_shape, std::mt19937& rng) {
  const Dims out_shape = md::broadcast_shapes(a_shape, b_shape);
  const std::vector<float> a = operand_values(rng, mdt::numel(a_shape), false);
  const std::vector<float> b = operand_values(rng, mdt::numel(b_shape), op == BinaryOp::div);
  // NaN marks elements the backend forgot to write.
  std::vector<float> out(mdt::numel(out_shape), std::numeric_limits<float>::quiet_NaN());
  md::backend::binary(op, a.data(), a_shape, b.data(), b_shape, out.data(), out_shape);
  mdt::check_close(out.data(), reference_binary(op, a, a_shape, b, b_shape, out_shape), kBinaryRtol, 0.0,
                   std::string(md::backend::binary_op_name(op)) + " " + mdt::str(a_shape) + " " + mdt::str(b_shape));
}

void check_compute_binary(BinaryOp op, const Dims& a_shape, const Dims& b_shape, std::mt19937& rng) {
  const md::Tensor a = md::Tensor::from_vector(operand_values(rng, mdt::numel(a_shape), false), a_shape);
  const md::Tensor b = md::Tensor::from_vector(operand_values(rng, mdt::numel(b_shape), op == BinaryOp::div), b_shape);
  const md::Tensor out = md::compute::binary(op, a, b);
  INFO(md::backend::binary_op_name(op) << " " << mdt::str(a_shape) << " " << mdt::str(b_shape));
  CHECK(out.shape() == md::broadcast_shapes(a_shape, b_shape));
  CHECK(out.dtype() == (is_comparison(op) ? md::DType::bool_ : md::DType::float32));
  mdt::check_close(out, reference_binary(op, a.to_vector(), a_shape, b.to_vector(), b_shape, out.shape()), kBinaryRtol, 0.0,
                   "compute::binary");
}

Dims with_dim(Dims shape, size_t axis, int64_t value) {
  shape[axis] = value;
  return shape;
}

// The (a, b) shape pairs exercised at one rank.
std::vector<std::pair<Dims, Dims>> shape_pairs(std::mt19937& rng, int rank) {
  std::vector<std::pair<Dims, Dims>> pairs;
  const Dims base = mdt::random_shape(rng, rank, 2, 5);  // no size-1 dims: every variant broadcasts
  const Dims mixed = mdt::random_shape(rng, rank, 1, 5);
  pairs.push_back({base, base});
  pairs.push_back({mixed, mixed});
  for (int i = 0; i < rank; ++i) {
    const size_t axis = static_cast<size_t>(i);
    const Dims one = with_dim(base, axis, 1);
    pairs.push_back({one, base});  // src0 broadcasts (swapped, or materialised when not commutative)
    pairs.push_back({base, one});  // src1 broadcasts (oneDNN's fast path)
    pairs.push_back({one, one});   // both size 1 there
    // Both operands broadcast, on different axes.
    if (rank > 1) pairs.push_back({one, with_dim(base, (axis + 1) % rank, 1)});
    // A size-0 dim, against itself and against a broadcast size-1 dim.
    const Dims zero = with_dim(base, axis, 0);
    pairs.push_back({zero, zero});
    pairs.push_back({one, zero});
    pairs.push_back({zero, one});
  }
  // Lower-rank operands, right-aligned.
  for (int k = 1; k < rank; ++k) {
    const Dims suffix(base.begin() + k, base.end());
    pairs.push_back({base, suffix});
    pairs.push_back({suffix, base});
    pairs.push_back({with_dim(base, static_cast<size_t>(rank - 1), 1), suffix});
  }
  // Scalars.
  pairs.push_back({base, {}});
  pairs.push_back({{}, base});
  pairs.push_back({mixed, {1}});
  return pairs;
}

}  // namespace

TEST_CASE("backend::binary matches a naive loop for every op, rank and broadcast pattern", "[backend][binary]") {
  std::mt19937 rng(20240601);
  for (int rank = 1; rank <= 5; ++rank) {
    for (const auto& [a_shape, b_shape] : shape_pairs(rng, rank)) {
      for (BinaryOp op : kAllOps) check_backend_binary(op, a_shape, b_shape, rng);
    }
  }
  for (BinaryOp op : kAllOps) check_backend_binary(op, {}, {}, rng);
}

TEST_CASE("compute::binary broadcasts like NumPy and gives bool tensors for comparisons", "[compute][binary]") {
  std::mt19937 rng(77);
  for (int rank = 1; rank <= 4; ++rank) {
    for (const auto& [a_shape, b_shape] : shape_pairs(rng, rank)) {
      for (BinaryOp op : kAllOps) check_compute_binary(op, a_shape, b_shape, rng);
    }
  }
  for (BinaryOp op : kAllOps) check_compute_binary(op, {}, {}, rng);
}

TEST_CASE("compute::binary with a float operand", "[compute][binary]") {
  const md::Tensor a = md::Tensor::from_vector({-1, 0, 1, 2, 3, 4}, {2, 3});
  CHECK(md::compute::binary(BinaryOp::sub, a, 1.0f).to_vector() == std::vector<float>{-2, -1, 0, 1, 2, 3});
  CHECK(md::compute::binary(BinaryOp::div, a, 2.0f).to_vector() == std::vector<float>{-0.5f, 0, 0.5f, 1, 1.5f, 2});
  const md::Tensor ge = md::compute::binary(BinaryOp::ge, a, 2.0f);
  CHECK(ge.dtype() == md::DType::bool_);
  CHECK(ge.shape() == md::Shape{2, 3});
  CHECK(ge.to_vector() == std::vector<float>{0, 0, 0, 1, 1, 1});
}

TEST_CASE("non-commutative ops broadcasting src0 take the right operand order", "[backend][binary]") {
  // Large enough for the parallel loops: (64, 1) against (64, 300) and (1, 300).
  std::mt19937 rng(5);
  for (BinaryOp op : {BinaryOp::sub, BinaryOp::div, BinaryOp::lt, BinaryOp::le, BinaryOp::gt, BinaryOp::ge}) {
    check_backend_binary(op, {64, 1}, {64, 300}, rng);
    check_backend_binary(op, {1, 300}, {64, 300}, rng);
    check_backend_binary(op, {64, 1}, {1, 300}, rng);
    check_backend_binary(op, {300}, {64, 1}, rng);
    check_backend_binary(op, {}, {64, 300}, rng);
  }
  for (BinaryOp op : kAllOps) check_backend_binary(op, {8, 1, 50}, {8, 60, 50}, rng);
}

TEST_CASE("backend::binary may write into a same-shaped operand", "[backend][binary]") {
  std::mt19937 rng(11);
  const Dims full = {6, 7}, row = {7}, col = {6, 1};
  for (BinaryOp op : kAllOps) {
    INFO(md::backend::binary_op_name(op));
    const std::vector<float> a0 = operand_values(rng, 42, false);
    const std::vector<float> b0 = operand_values(rng, 42, op == BinaryOp::div);
    const std::vector<float> r = operand_values(rng, 7, op == BinaryOp::div);
    const std::vector<float> c = operand_values(rng, 6, false);

    std::vector<float> a = a0;  // out aliases a; b broadcasts
    md::backend::binary(op, a.data(), full, r.data(), row, a.data(), full);
    mdt::check_close(a.data(), reference_binary(op, a0, full, r, row, full), kBinaryRtol, 0.0, "out = a (op) row");

    a = a0;  // out aliases a; both full
    md::backend::binary(op, a.data(), full, b0.data(), full, a.data(), full);
    mdt::check_close(a.data(), reference_binary(op, a0, full, b0, full, full), kBinaryRtol, 0.0, "out = a (op) b");

    std::vector<float> b = b0;  // out aliases b, which has out's shape; a broadcasts
    md::backend::binary(op, c.data(), col, b.data(), full, b.data(), full);
    mdt::check_close(b.data(), reference_binary(op, c, col, b0, full, full), kBinaryRtol, 0.0, "out = col (op) b");
  }
}

TEST_CASE("small add/sub/mul/div give the same bits as oneDNN's kernel on large tensors", "[backend][binary]") {
  // Up to 4K output elements these ops run in our own loop; above, in oneDNN. Rows 0-7 of a
  // (64, 256) call (16K elements, oneDNN) are recomputed as an (8, 256) call (small) and must
  // match bit for bit, for every broadcast pattern of either operand.
  std::mt19937 rng(31);
  const int64_t rows = 64, small_rows = 8, cols = 256;
  const std::vector<std::pair<Dims, Dims>> patterns = {
      {{rows, cols}, {rows, cols}}, {{rows, cols}, {cols}}, {{rows, cols}, {rows, 1}}, {{rows, cols}, {}},
      {{cols}, {rows, cols}},       {{rows, 1}, {rows, cols}}, {{}, {rows, cols}},     {{rows, 1}, {1, cols}}};
  // A shape of `rows` rows cut down to its first `small_rows` rows (shapes without a row axis stay).
  auto first_rows = [&](const Dims& shape) {
    Dims out = shape;
    if (out.size() == 2 && out[0] == rows) out[0] = small_rows;
    return out;
  };
  for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div}) {
    for (const auto& [a_shape, b_shape] : patterns) {
      INFO(md::backend::binary_op_name(op) << " " << mdt::str(a_shape) << " " << mdt::str(b_shape));
      const std::vector<float> a = operand_values(rng, mdt::numel(a_shape), false);
      const std::vector<float> b = operand_values(rng, mdt::numel(b_shape), op == BinaryOp::div);
      std::vector<float> large(rows * cols), small(small_rows * cols);
      md::backend::binary(op, a.data(), a_shape, b.data(), b_shape, large.data(), {rows, cols});
      md::backend::binary(op, a.data(), first_rows(a_shape), b.data(), first_rows(b_shape), small.data(),
                          {small_rows, cols});
      CHECK(std::equal(small.begin(), small.end(), large.begin()));
    }
  }
}
