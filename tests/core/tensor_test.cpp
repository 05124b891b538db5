#include <catch2/catch.hpp>
#include <minidl/minidl.h>

namespace md = minidl;

TEST_CASE("a tensor made from a vector keeps its shape and values", "[tensor]") {
  md::Tensor a = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  CHECK(a.shape() == md::Shape{2, 3});
  CHECK(a.ndim() == 2);
  CHECK(a.size() == 6);
  CHECK(a.to_vector() == std::vector<float>{1, 2, 3, 4, 5, 6});
}
