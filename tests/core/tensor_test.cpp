#include <minidl/minidl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "test_helpers.h"

namespace md = minidl;

TEST_CASE("a tensor made from a vector keeps its shape and values", "[tensor]") {
  md::Tensor a = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(a.shape() == md::Shape{2, 3});
  CHECK(a.ndim() == 2);
  CHECK(a.size() == 6);
  CHECK(a.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("factories: zeros, ones, full, scalar, arange, empty shapes", "[tensor]") {
  CHECK(md::Tensor::zeros({2, 2}).to_vector() == std::vector<float>(4, 0.0f));
  CHECK(md::Tensor::ones({3}).to_vector() == std::vector<float>(3, 1.0f));
  const md::Tensor f = md::Tensor::full({2, 1, 3}, -2.5f, md::DType::int32);
  CHECK(f.shape() == md::Shape{2, 1, 3});
  CHECK(f.dtype() == md::DType::int32);
  CHECK(f.to_vector() == std::vector<float>(6, -2.5f));
  const md::Tensor s = md::Tensor::scalar(4.5f);
  CHECK(s.shape() == md::Shape{});
  CHECK(s.ndim() == 0);
  CHECK(s.size() == 1);
  CHECK(s.item() == 4.5f);
  CHECK(md::Tensor::arange(5).to_vector() == std::vector<float>{0, 1, 2, 3, 4});
  CHECK(md::Tensor::arange(0).shape() == md::Shape{0});
  const md::Tensor e = md::Tensor::zeros({3, 0, 2});
  CHECK(e.size() == 0);
  CHECK(e.to_vector().empty());
  CHECK(e.is_concrete());
  CHECK(md::Tensor::from_vector({}, {0, 4}).shape() == md::Shape{0, 4});
  CHECK(md::Tensor::from_vector({7}, {}).item() == 7.0f);
  // dim() takes negative axes.
  const md::Tensor t = md::Tensor::zeros({2, 3, 4});
  CHECK(t.dim(0) == 2);
  CHECK(t.dim(-1) == 4);
  CHECK_THROWS_AS(t.dim(3), md::IndexError);
  CHECK_THROWS_AS(t.dim(-4), md::IndexError);
}

TEST_CASE("from_vector takes integer data for ids, int32 by default", "[tensor]") {
  const std::vector<int> ids = {4, 2, 7, 0};
  const md::Tensor t = md::Tensor::from_vector(ids, {2, 2});
  CHECK(t.dtype() == md::DType::int32);
  CHECK(t.to_vector() == std::vector<float>{4, 2, 7, 0});
  const std::vector<int64_t> wide = {-3, 16777216};
  CHECK(md::Tensor::from_vector(wide, {2}).to_vector() == std::vector<float>{-3, 16777216});
  CHECK(md::Tensor::from_vector(std::vector<uint8_t>{1, 0}, {2}, md::DType::bool_).dtype() == md::DType::bool_);
  CHECK(md::Tensor::from_vector(ids, {4}, md::DType::float32).dtype() == md::DType::float32);
  // Braced lists stay float data, as before.
  CHECK(md::Tensor::from_vector({1, 2}, {2}).dtype() == md::DType::float32);
  CHECK_THROWS_WITH(md::Tensor::from_vector(std::vector<int64_t>{1, 16777217}, {2}),
                    "Tensor::from_vector: value 16777217 at index 1 cannot be held exactly: minidl stores every dtype "
                    "as float32, which holds integers only up to 2^24 = 16777216 in magnitude.");
  CHECK_THROWS_AS(md::Tensor::from_vector(ids, {3}), md::ShapeError);
}

TEST_CASE("reshape is a view: same storage, writes visible, -1 inferred", "[tensor]") {
  const md::Tensor a = md::Tensor::arange(12);
  const md::Tensor b = a.reshape({3, -1});
  CHECK(b.shape() == md::Shape{3, 4});
  CHECK(b.same_storage(a));
  CHECK(b.data() == a.data());
  CHECK(b.id() != a.id());
  b.mutable_data()[5] = 100.0f;
  CHECK(a.to_vector()[5] == 100.0f);
  a.mutable_data()[0] = -1.0f;
  CHECK(b.to_vector()[0] == -1.0f);
  CHECK(a.reshape({-1, 2, 3}).shape() == md::Shape{2, 2, 3});
  CHECK(a.reshape({2, 3, 2}).reshape({12}).to_vector() == a.to_vector());
  CHECK(md::Tensor::scalar(1.0f).reshape({1, 1}).shape() == md::Shape{1, 1});
  CHECK(md::Tensor::ones({1, 1}).reshape({}).shape() == md::Shape{});
  CHECK(md::Tensor::zeros({0, 3}).reshape({3, 0}).shape() == md::Shape{3, 0});
  // Copies share the handle's identity.
  const md::Tensor copy = a;
  CHECK(copy.id() == a.id());
  CHECK(copy.same_storage(a));
}

TEST_CASE("clone is a deep copy and astype converts values", "[tensor]") {
  const md::Tensor a = md::Tensor::from_vector({1.7f, -2.2f, 0.0f}, {3});
  const md::Tensor c = a.clone();
  CHECK_FALSE(c.same_storage(a));
  CHECK(c.id() != a.id());
  CHECK(c.to_vector() == a.to_vector());
  c.mutable_data()[0] = 9.0f;
  CHECK(a.to_vector()[0] == 1.7f);
  const md::Tensor i = a.astype(md::DType::int32);
  CHECK(i.dtype() == md::DType::int32);
  CHECK(i.to_vector() == std::vector<float>{1, -2, 0});
  const md::Tensor b = a.astype(md::DType::bool_);
  CHECK(b.dtype() == md::DType::bool_);
  CHECK(b.to_vector() == std::vector<float>{1, 1, 0});
  CHECK_FALSE(i.same_storage(a));
  CHECK(md::Tensor::zeros({0}).clone().size() == 0);
}

TEST_CASE("item() needs exactly one element", "[tensor][errors]") {
  CHECK(md::Tensor::ones({1, 1, 1}).item() == 1.0f);
  const md::Tensor m = md::Tensor::zeros({2, 3});
  CHECK_THROWS_AS(m.item(), md::ValueError);
  CHECK_THROWS_WITH(m.item(), Catch::Contains("(2, 3)") && Catch::Contains("6 elements"));
  CHECK_THROWS_AS(md::Tensor::zeros({0}).item(), md::ValueError);
  CHECK_THROWS_WITH(md::Tensor::zeros({0}).item(), Catch::Contains("(0,)"));
}

TEST_CASE("symbolic tensors have a shape but no data", "[tensor][errors]") {
  const md::Tensor s = md::Tensor::symbolic({md::None, 3});
  CHECK(s.defined());
  CHECK(s.is_symbolic());
  CHECK_FALSE(s.is_concrete());
  CHECK(s.shape() == md::Shape{md::None, 3});
  CHECK(s.dim(1) == 3);
  CHECK_THROWS_AS(s.data(), md::ValueError);
  CHECK_THROWS_WITH(s.data(),
                    Catch::Contains("symbolic") && Catch::Contains("(None, 3)") && Catch::Contains("no values"));
  CHECK_THROWS_AS(s.mutable_data(), md::ValueError);
  CHECK_THROWS_AS(s.to_vector(), md::ValueError);
  CHECK_THROWS_AS(s.size(), md::ValueError);
  CHECK_THROWS_WITH(s.size(), Catch::Contains("(None, 3)"));
  // Reshape and clone stay symbolic.
  const md::Tensor r = s.reshape({-1, 3, 1});
  CHECK(r.is_symbolic());
  CHECK(r.shape() == md::Shape{md::None, 3, 1});
  CHECK(s.clone().is_symbolic());
  CHECK(s.clone().id() != s.id());
  // A fully known symbolic shape still checks the element count.
  const md::Tensor known = md::Tensor::symbolic({2, 3}, md::DType::int32);
  CHECK(known.size() == 6);
  CHECK(known.reshape({3, 2}).is_symbolic());
  CHECK(known.reshape({3, 2}).dtype() == md::DType::int32);
  CHECK_THROWS_AS(known.reshape({4, 2}), md::ShapeError);
  CHECK_FALSE(s.same_storage(s));
  CHECK(s.storage_version() == 0);
  CHECK_THROWS_AS(md::Tensor::symbolic({-2, 3}), md::ShapeError);
}

TEST_CASE("an undefined tensor says so", "[tensor][errors]") {
  const md::Tensor u;
  CHECK_FALSE(u.defined());
  CHECK_FALSE(u.is_symbolic());
  CHECK_FALSE(u.is_concrete());
  CHECK_THROWS_AS(u.shape(), md::ValueError);
  CHECK_THROWS_WITH(u.shape(), Catch::Contains("undefined"));
  CHECK_THROWS_AS(u.data(), md::ValueError);
  CHECK_THROWS_AS(u.size(), md::ValueError);
  CHECK_THROWS_AS(u.id(), md::ValueError);
  CHECK_THROWS_AS(u.clone(), md::ValueError);
  CHECK_THROWS_AS(u.reshape({1}), md::ValueError);
  CHECK_THROWS_AS(md::compute::eltwise(md::backend::EltwiseOp::exp, u), md::ValueError);
  CHECK_FALSE(u.same_storage(u));
  CHECK(md::to_string(u) == "Tensor(undefined)");
}

TEST_CASE("fmt prints tensors NumPy-style", "[tensor][format]") {
  CHECK(fmt::format("{}", md::Tensor::from_vector({1, 2.5f, -3, 4}, {2, 2})) ==
        "Tensor(shape=(2, 2), dtype=float32,\n[[1, 2.5],\n [-3, 4]])");
  CHECK(fmt::format("{}", md::Tensor::from_vector({1, 2, 3}, {3})) == "Tensor(shape=(3,), dtype=float32, [1, 2, 3])");
  CHECK(fmt::format("{}", md::Tensor::scalar(0.125f)) == "Tensor(shape=(), dtype=float32, 0.125)");
  CHECK(fmt::format("{}", md::Tensor::from_vector({1, 0}, {2}, md::DType::bool_)) ==
        "Tensor(shape=(2,), dtype=bool, [true, false])");
  CHECK(fmt::format("{}", md::Tensor::from_vector({3, -2}, {2}, md::DType::int32)) ==
        "Tensor(shape=(2,), dtype=int32, [3, -2])");
  CHECK(fmt::format("{}", md::Tensor::from_vector({1.0f / 3.0f, 1e10f}, {2})) ==
        "Tensor(shape=(2,), dtype=float32, [0.333333, 1e+10])");
  CHECK(fmt::format("{}", md::Tensor::zeros({2, 0})) == "Tensor(shape=(2, 0), dtype=float32,\n[[],\n []])");
  CHECK(fmt::format("{}", md::Tensor::symbolic({md::None, 4})) == "Tensor(shape=(None, 4), dtype=float32, symbolic)");
  // More than 1000 elements: the first and last three of each axis.
  CHECK(fmt::format("{}", md::Tensor::arange(2000)) ==
        "Tensor(shape=(2000,), dtype=float32, [0, 1, 2, ..., 1997, 1998, 1999])");
  const std::string matrix = fmt::format("{}", md::Tensor::arange(2000).reshape({40, 50}));
  CHECK_THAT(matrix, Catch::StartsWith("Tensor(shape=(40, 50), dtype=float32,\n[[0, 1, 2, ..., 47, 48, 49],\n"
                                       " [50, 51, 52, ..., 97, 98, 99],"));
  CHECK_THAT(matrix, Catch::Contains(" ...,\n [1850, 1851, 1852, ..., 1897, 1898, 1899]") &&
                         Catch::EndsWith("[1950, 1951, 1952, ..., 1997, 1998, 1999]])"));
  // 1000 elements exactly are printed in full.
  CHECK_THAT(fmt::format("{}", md::Tensor::arange(1000)), !Catch::Contains("..."));
}

TEST_CASE("memory_stats counts live buffers", "[tensor][memory]") {
  const md::MemoryStats before = md::memory_stats();
  {
    const md::Tensor a = md::Tensor::zeros({10, 10});
    const md::Tensor view = a.reshape({100});  // no new buffer
    const md::Tensor copy = a;                 // no new buffer
    md::MemoryStats during = md::memory_stats();
    CHECK(during.live_buffers == before.live_buffers + 1);
    CHECK(during.live_bytes == before.live_bytes + 400);
    CHECK(during.total_allocations == before.total_allocations + 1);
    CHECK(during.peak_bytes >= during.live_bytes);
    const md::Tensor c = a.clone();
    during = md::memory_stats();
    CHECK(during.live_buffers == before.live_buffers + 2);
    CHECK(during.live_bytes == before.live_bytes + 800);
    md::Tensor tmp = md::compute::binary(md::backend::BinaryOp::add, a, c);
    CHECK(md::memory_stats().live_buffers == before.live_buffers + 3);
  }
  const md::MemoryStats after = md::memory_stats();
  CHECK(after.live_buffers == before.live_buffers);
  CHECK(after.live_bytes == before.live_bytes);
  CHECK(after.total_allocations == before.total_allocations + 3);
  md::reset_peak_memory();
  CHECK(md::memory_stats().peak_bytes == after.live_bytes);
}

TEST_CASE("constructors reject bad shapes and sizes", "[tensor][errors]") {
  CHECK_THROWS_AS(md::Tensor::from_vector({1, 2, 3}, {2, 2}), md::ShapeError);
  CHECK_THROWS_WITH(md::Tensor::from_vector({1, 2, 3}, {2, 2}),
                    Catch::Contains("(2, 2)") && Catch::Contains("3 values"));
  CHECK_THROWS_AS(md::Tensor::zeros({md::None, 2}), md::ShapeError);
  CHECK_THROWS_WITH(md::Tensor::zeros({md::None, 2}), Catch::Contains("(None, 2)"));
  CHECK_THROWS_AS(md::Tensor::empty({2, -3}), md::ShapeError);
}

TEST_CASE("reshape to the wrong size names both shapes", "[tensor][errors]") {
  const md::Tensor a = md::Tensor::zeros({2, 3});
  CHECK_THROWS_AS(a.reshape({4, 2}), md::ShapeError);
  CHECK_THROWS_WITH(a.reshape({4, 2}), Catch::Contains("(2, 3)") && Catch::Contains("(4, 2)"));
  CHECK_THROWS_AS(a.reshape({4, -1}), md::ShapeError);
  // The requested shape is echoed as given, -1 and all.
  CHECK_THROWS_WITH(a.reshape({4, -1}), Catch::Contains("(2, 3)") && Catch::Contains("(4, -1)"));
  CHECK_THROWS_AS(a.reshape({-1, -1}), md::ShapeError);
  CHECK_THROWS_WITH(a.reshape({-1, -1}), Catch::Contains("(-1, -1)"));
  CHECK_THROWS_AS(a.reshape({-2, 3}), md::ShapeError);
  CHECK_THROWS_WITH(a.reshape({-2, 3}), Catch::Contains("(-2, 3)"));
  CHECK_THROWS_AS(md::Tensor::zeros({0, 3}).reshape({0, -1}), md::ShapeError);
}

TEST_CASE("buffers reused after a tensor is freed stay 64-byte aligned and distinct", "[tensor][memory]") {
  // Storage keeps small freed buffers per thread and hands them out again.
  for (int round = 0; round < 3; ++round) {
    std::vector<md::Tensor> live;
    std::vector<float> fills;
    for (int64_t n : {1, 3, 16, 17, 255, 1000, 4096, 70000}) {
      for (float sign : {1.0f, -1.0f}) {
        fills.push_back(sign * static_cast<float>(n + round));
        live.push_back(md::Tensor::full({n}, fills.back()));
      }
    }
    for (size_t i = 0; i < live.size(); ++i) {
      CHECK(reinterpret_cast<uintptr_t>(live[i].data()) % 64 == 0);
      const std::vector<float> values = live[i].to_vector();
      CHECK(std::all_of(values.begin(), values.end(), [&](float v) { return v == fills[i]; }));
    }
  }
}
