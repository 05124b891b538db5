// Layout wrappers against naive index loops: permute (through compute::transpose) for random
// permutations of ranks 1-5, broadcast_to, where with broadcasting, copy and fill.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "test_helpers.h"

namespace {

using mdt::Dims;

std::string perm_string(const std::vector<int>& perm) {
  std::string s = "[";
  for (size_t i = 0; i < perm.size(); ++i) s += (i ? ", " : "") + std::to_string(perm[i]);
  return s + "]";
}

// out[index] = x[index permuted back]: out.shape[i] = shape[perm[i]].
std::vector<double> permute_ref(const std::vector<float>& x, const Dims& shape, const std::vector<int>& perm) {
  Dims out_shape(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) out_shape[i] = shape[perm[i]];
  std::vector<double> out(x.size());
  mdt::for_each_index(out_shape, [&](int64_t flat, const Dims& index) {
    Dims source(shape.size());
    for (size_t i = 0; i < perm.size(); ++i) source[perm[i]] = index[i];
    out[flat] = x[mdt::flat_offset(source, shape)];
  });
  return out;
}

void check_transpose(const Dims& shape, const std::vector<int>& perm, std::mt19937& rng) {
  const md::Tensor x = mdt::random_tensor(rng, shape);
  const std::vector<int64_t> perm64(perm.begin(), perm.end());
  const md::Tensor y = md::compute::transpose(x, perm64);
  Dims expected_shape(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) expected_shape[i] = shape[perm[i]];
  const std::string what = "transpose " + mdt::str(shape) + " by " + perm_string(perm);
  INFO(what);
  CHECK(y.shape() == expected_shape);
  mdt::check_close(y, permute_ref(x.to_vector(), shape, perm), 0.0, 0.0, what);
}

}  // namespace

TEST_CASE("compute::transpose matches a naive loop for random permutations of ranks 1-5", "[backend][layout]") {
  std::mt19937 rng(17);
  for (int rank = 1; rank <= 5; ++rank) {
    for (int trial = 0; trial < 6; ++trial) {
      // Odd trials draw size-1 dims too, which the backend drops before merging axes.
      const Dims shape = mdt::random_shape(rng, rank, trial % 2 ? 1 : 2, 5);
      check_transpose(shape, mdt::random_permutation(rng, rank), rng);
    }
    // The identity and the reversal.
    const Dims shape = mdt::random_shape(rng, rank, 2, 4);
    std::vector<int> identity(rank), reversed(rank);
    for (int i = 0; i < rank; ++i) {
      identity[i] = i;
      reversed[i] = rank - 1 - i;
    }
    check_transpose(shape, identity, rng);
    check_transpose(shape, reversed, rng);
  }
  // Size-0 dims: an empty result of the permuted shape.
  check_transpose({2, 0, 3}, {2, 0, 1}, rng);
  check_transpose({0, 4}, {1, 0}, rng);
  // Larger: a 2-D transpose and a batch of them, as the reorder primitive runs them.
  check_transpose({300, 200}, {1, 0}, rng);
  check_transpose({8, 64, 48}, {0, 2, 1}, rng);
  check_transpose({6, 20, 30, 10}, {2, 0, 3, 1}, rng);
}

TEST_CASE("compute::transpose reverses the axes by default and checks the permutation", "[compute][layout]") {
  const md::Tensor x = md::Tensor::arange(24).reshape({2, 3, 4});
  const md::Tensor t = md::compute::transpose(x);
  CHECK(t.shape() == md::Shape{4, 3, 2});
  CHECK(t.to_vector()[1] == 12.0f);  // t[0, 0, 1] = x[1, 0, 0]
  CHECK(md::compute::transpose(x, {-1, 0, 1}).shape() == md::Shape{4, 2, 3});
  CHECK(md::compute::transpose(md::Tensor::scalar(5.0f)).item() == 5.0f);
  const md::Tensor ints = md::Tensor::arange(6, md::DType::int32).reshape({2, 3});
  CHECK(md::compute::transpose(ints).dtype() == md::DType::int32);

  CHECK_THROWS_AS(md::compute::transpose(x, {0, 1}), md::ValueError);
  CHECK_THROWS_WITH(md::compute::transpose(x, {0, 1}), Catch::Contains("(2, 3, 4)"));
  CHECK_THROWS_AS(md::compute::transpose(x, {0, 1, 1}), md::ValueError);
  CHECK_THROWS_AS(md::compute::transpose(x, {0, 1, 3}), md::IndexError);
}

TEST_CASE("broadcast_to repeats size-1 and missing leading dims", "[backend][layout]") {
  std::mt19937 rng(18);
  for (int rank = 1; rank <= 5; ++rank) {
    const Dims out_shape = mdt::random_shape(rng, rank, 2, 4);
    std::vector<Dims> sources = {out_shape, {}};
    for (int i = 0; i < rank; ++i) {
      Dims one = out_shape;
      one[i] = 1;
      sources.push_back(one);
      sources.push_back(Dims(out_shape.begin() + i, out_shape.end()));  // lower rank
    }
    sources.push_back(Dims(rank, 1));
    for (const Dims& source : sources) {
      const md::Tensor x = mdt::random_tensor(rng, source);
      const md::Tensor y = md::compute::broadcast_to(x, out_shape);
      std::vector<double> expected(mdt::numel(out_shape));
      const std::vector<float> xv = x.to_vector();
      mdt::for_each_index(out_shape, [&](int64_t flat, const Dims& index) {
        expected[flat] = xv[mdt::broadcast_offset(index, source)];
      });
      CHECK(y.shape() == out_shape);
      mdt::check_close(y, expected, 0.0, 0.0, "broadcast_to " + mdt::str(source) + " -> " + mdt::str(out_shape));
    }
  }
  // Larger, through the parallel row loop; and into a size-0 dim.
  const md::Tensor row = mdt::random_tensor(rng, {1, 500});
  const md::Tensor big = md::compute::broadcast_to(row, {100, 500});
  const std::vector<float> rv = row.to_vector(), bv = big.to_vector();
  bool rows_equal = true;
  for (int64_t i = 0; i < 100; ++i) {
    for (int64_t j = 0; j < 500; ++j) rows_equal = rows_equal && bv[i * 500 + j] == rv[j];
  }
  CHECK(rows_equal);
  CHECK(md::compute::broadcast_to(md::Tensor::ones({1, 3}), {0, 3}).shape() == md::Shape{0, 3});

  CHECK_THROWS_AS(md::compute::broadcast_to(md::Tensor::ones({2, 3}), {4, 3}), md::ShapeError);
  CHECK_THROWS_WITH(md::compute::broadcast_to(md::Tensor::ones({2, 3}), {4, 3}),
                    Catch::Contains("(2, 3)") && Catch::Contains("(4, 3)"));
  // Broadcasting never drops dims: (2, 3) fits (1, 3) elementwise but not as a target.
  CHECK_THROWS_AS(md::compute::broadcast_to(md::Tensor::ones({2, 3}), {1, 3}), md::ShapeError);
  CHECK_THROWS_WITH(md::compute::broadcast_to(md::Tensor::ones({2, 3}), {3}),
                    Catch::Contains("(2, 3)") && Catch::Contains("(3,)"));
}

TEST_CASE("where selects with broadcasting on any operand", "[backend][layout]") {
  std::mt19937 rng(19);
  std::bernoulli_distribution coin(0.5);
  for (int rank = 1; rank <= 5; ++rank) {
    const Dims full = mdt::random_shape(rng, rank, 2, 4);
    for (int variant = 0; variant < 8; ++variant) {
      // Each operand independently full, size 1 on a random axis, or lower rank.
      auto pick = [&](int which) {
        if (!(variant & (1 << which))) return full;
        Dims s = full;
        s[std::uniform_int_distribution<int>(0, rank - 1)(rng)] = 1;
        if (coin(rng)) s.erase(s.begin());
        return s;
      };
      const Dims c_shape = pick(0), a_shape = pick(1), b_shape = pick(2);
      std::vector<float> cv(mdt::numel(c_shape));
      for (auto& v : cv) v = coin(rng) ? 1.0f : 0.0f;
      const md::Tensor cond = md::Tensor::from_vector(cv, c_shape, md::DType::bool_);
      const md::Tensor a = mdt::random_tensor(rng, a_shape), b = mdt::random_tensor(rng, b_shape);
      const md::Tensor out = md::compute::where(cond, a, b);
      const Dims out_shape = md::broadcast_shapes(md::broadcast_shapes(c_shape, a_shape), b_shape);
      const std::vector<float> av = a.to_vector(), bv = b.to_vector();
      std::vector<double> expected(mdt::numel(out_shape));
      mdt::for_each_index(out_shape, [&](int64_t flat, const Dims& index) {
        expected[flat] = cv[mdt::broadcast_offset(index, c_shape)] != 0.0f ? av[mdt::broadcast_offset(index, a_shape)]
                                                                           : bv[mdt::broadcast_offset(index, b_shape)];
      });
      CHECK(out.shape() == out_shape);
      mdt::check_close(out, expected, 0.0, 0.0,
                       "where " + mdt::str(c_shape) + " " + mdt::str(a_shape) + " " + mdt::str(b_shape));
    }
  }
  // Non-zero means true, not just 1.
  const md::Tensor picked = md::compute::where(md::Tensor::from_vector({2, 0, -1}, {3}), md::Tensor::full({3}, 1.0f),
                                               md::Tensor::scalar(-1.0f));
  CHECK(picked.to_vector() == std::vector<float>{1, -1, 1});
  CHECK(md::compute::where(md::Tensor::ones({0, 2}), md::Tensor::ones({2}), md::Tensor::zeros({1})).shape() ==
        md::Shape{0, 2});
  // dtype: kept when a and b agree, float32 otherwise.
  const md::Tensor i1 = md::Tensor::ones({2}, md::DType::int32), i0 = md::Tensor::zeros({2}, md::DType::int32);
  CHECK(md::compute::where(md::Tensor::ones({2}), i1, i0).dtype() == md::DType::int32);
  CHECK(md::compute::where(md::Tensor::ones({2}), i1, md::Tensor::zeros({2})).dtype() == md::DType::float32);
  CHECK_THROWS_AS(md::compute::where(md::Tensor::ones({2}), md::Tensor::ones({3}), md::Tensor::ones({1})),
                  md::ShapeError);
}

TEST_CASE("backend copy and fill, small and parallel", "[backend][layout]") {
  std::mt19937 rng(20);
  for (int64_t n : {int64_t{0}, int64_t{1}, int64_t{100}, int64_t{200000}}) {
    const std::vector<float> x = mdt::random_values(rng, n);
    std::vector<float> out(n + 1, std::numeric_limits<float>::quiet_NaN());
    out[n] = 99.0f;
    md::backend::copy(x.data(), out.data(), n);
    INFO("n = " << n);
    CHECK(std::vector<float>(out.begin(), out.begin() + n) == x);
    CHECK(out[n] == 99.0f);
    md::backend::fill(out.data(), n, -3.5f);
    CHECK(std::vector<float>(out.begin(), out.begin() + n) == std::vector<float>(n, -3.5f));
    CHECK(out[n] == 99.0f);
  }
  // Copying onto itself is a no-op.
  std::vector<float> same = {1, 2, 3};
  md::backend::copy(same.data(), same.data(), 3);
  CHECK(same == std::vector<float>{1, 2, 3});
}
