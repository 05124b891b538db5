// Built against the installed minidl package by the test suite: includes the umbrella header,
// links minidl::minidl, and checks that real work happens.
#include <minidl/minidl.h>

#include <cmath>

namespace md = minidl;

int main() {
  md::Tensor a = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  md::Tensor b = md::Tensor::from_vector({1, 0, 0, 1, 1, 1}, {3, 2});
  md::Tensor c = md::compute::matmul(a, b);  // [[4, 5], [10, 11]]
  fmt::print("{}\n", c);
  const std::vector<float> expected = {4, 5, 10, 11};
  const std::vector<float> got = c.to_vector();
  for (size_t i = 0; i < expected.size(); ++i) {
    if (std::fabs(got[i] - expected[i]) > 1e-6f) return 1;
  }
  return 0;
}
