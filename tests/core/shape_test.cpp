// Shapes, axes and dtypes: the helpers every shape check in minidl goes through.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "test_helpers.h"

TEST_CASE("shape_size counts elements and rejects unknown dims", "[shape]") {
  CHECK(md::shape_size({}) == 1);
  CHECK(md::shape_size({5}) == 5);
  CHECK(md::shape_size({2, 3, 4}) == 24);
  CHECK(md::shape_size({2, 0, 4}) == 0);
  CHECK_THROWS_AS(md::shape_size({md::None, 3}), md::ValueError);
  CHECK_THROWS_WITH(md::shape_size({md::None, 3}), Catch::Contains("(None, 3)"));
  CHECK(md::is_fully_defined({2, 3}));
  CHECK(md::is_fully_defined({}));
  CHECK_FALSE(md::is_fully_defined({2, md::None}));
}

TEST_CASE("shape_to_string uses Python tuple notation", "[shape]") {
  CHECK(md::shape_to_string({}) == "()");
  CHECK(md::shape_to_string({5}) == "(5,)");
  CHECK(md::shape_to_string({2, 3}) == "(2, 3)");
  CHECK(md::shape_to_string({md::None, 28, 28}) == "(None, 28, 28)");
  CHECK(md::shape_to_string({0}) == "(0,)");
}

TEST_CASE("broadcast_shapes follows NumPy (and Keras for unknown dims)", "[shape]") {
  CHECK(md::broadcast_shapes({2, 1, 4}, {3, 1}) == md::Shape{2, 3, 4});
  CHECK(md::broadcast_shapes({}, {2, 3}) == md::Shape{2, 3});
  CHECK(md::broadcast_shapes({2, 3}, {}) == md::Shape{2, 3});
  CHECK(md::broadcast_shapes({1}, {0}) == md::Shape{0});
  CHECK(md::broadcast_shapes({0, 1}, {1, 5}) == md::Shape{0, 5});
  CHECK(md::broadcast_shapes({5, 1, 1, 2}, {3, 1}) == md::Shape{5, 1, 3, 2});
  // None against n > 1 gives n; against 1 or None stays None.
  CHECK(md::broadcast_shapes({md::None, 3}, {4, 3}) == md::Shape{4, 3});
  CHECK(md::broadcast_shapes({md::None, 3}, {1, 3}) == md::Shape{md::None, 3});
  CHECK(md::broadcast_shapes({md::None, 3}, {3}) == md::Shape{md::None, 3});
  CHECK(md::broadcast_shapes({md::None}, {md::None}) == md::Shape{md::None});
  // Symmetric on random compatible pairs.
  std::mt19937 rng(5);
  for (int rank = 1; rank <= 5; ++rank) {
    const mdt::Dims full = mdt::random_shape(rng, rank, 1, 4);
    mdt::Dims a = full, b = full;
    for (int i = 0; i < rank; ++i) {
      if (rng() % 3 == 0) a[i] = 1;
      if (rng() % 3 == 0) b[i] = 1;
    }
    b.erase(b.begin(), b.begin() + static_cast<int64_t>(rng() % rank));
    INFO(mdt::str(a) << " and " << mdt::str(b));
    CHECK(md::broadcast_shapes(a, b) == md::broadcast_shapes(b, a));
  }
}

TEST_CASE("broadcast_shapes names both shapes when they do not fit", "[shape][errors]") {
  CHECK_THROWS_AS(md::broadcast_shapes({2, 3}, {4, 5}), md::ShapeError);
  CHECK_THROWS_WITH(md::broadcast_shapes({2, 3}, {4, 5}), Catch::Contains("(2, 3)") && Catch::Contains("(4, 5)"));
  CHECK_THROWS_WITH(md::broadcast_shapes({7, 2, 3}, {4, 3}), Catch::Contains("(7, 2, 3)") && Catch::Contains("(4, 3)"));
  CHECK_THROWS_AS(md::broadcast_shapes({3}, {0}), md::ShapeError);
  // ShapeError is a ValueError, as Keras raises.
  CHECK_THROWS_AS(md::broadcast_shapes({2}, {3}), md::ValueError);
  CHECK_THROWS_AS(md::broadcast_shapes({2}, {3}), md::Error);
}

TEST_CASE("normalize_axis and normalize_axes", "[shape]") {
  CHECK(md::normalize_axis(0, 3) == 0);
  CHECK(md::normalize_axis(-1, 3) == 2);
  CHECK(md::normalize_axis(-3, 3) == 0);
  CHECK_THROWS_AS(md::normalize_axis(3, 3), md::IndexError);
  CHECK_THROWS_AS(md::normalize_axis(-4, 3), md::IndexError);
  CHECK_THROWS_WITH(md::normalize_axis(5, 2), Catch::Contains("5") && Catch::Contains("rank 2"));
  CHECK_THROWS_AS(md::normalize_axis(0, 0), md::IndexError);
  CHECK(md::normalize_axes({}, 3) == std::vector<int>{0, 1, 2});
  CHECK(md::normalize_axes({-1, 0}, 3) == std::vector<int>{0, 2});
  CHECK(md::normalize_axes({}, 0).empty());
  CHECK_THROWS_AS(md::normalize_axes({1, -2}, 3), md::ValueError);
  CHECK_THROWS_AS(md::normalize_axes({3}, 3), md::IndexError);
}

TEST_CASE("contiguous_strides are row-major", "[shape]") {
  CHECK(md::contiguous_strides({2, 3, 4}) == std::vector<int64_t>{12, 4, 1});
  CHECK(md::contiguous_strides({5}) == std::vector<int64_t>{1});
  CHECK(md::contiguous_strides({}).empty());
}

TEST_CASE("dtype names round-trip", "[dtype]") {
  for (md::DType d : {md::DType::float32, md::DType::int32, md::DType::bool_}) {
    CHECK(md::dtype_from_name(md::dtype_name(d)) == d);
  }
  CHECK(md::dtype_name(md::DType::bool_) == "bool");
  CHECK(md::dtype_from_name("int64") == md::DType::int32);
  CHECK(md::is_floating(md::DType::float32));
  CHECK_FALSE(md::is_floating(md::DType::int32));
  CHECK_THROWS_AS(md::dtype_from_name("float16"), md::ValueError);
  CHECK_THROWS_WITH(md::dtype_from_name("float16"), Catch::Contains("float16"));
}
