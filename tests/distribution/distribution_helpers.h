#pragma once
// Helpers of the data-parallel tests: flat weights, and the same values on every process.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <span>
#include <vector>

namespace distribution_test {

namespace md = minidl;

inline std::vector<float> flat(const std::vector<md::Tensor>& tensors) {
  std::vector<float> out;
  for (const md::Tensor& t : tensors) {
    const std::vector<float> v = t.to_vector();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

inline std::vector<float> flat_weights(const md::Model& model) { return flat(model.get_weights()); }

// Whether every process holds exactly these bits (each compares itself with process 0).
inline bool same_bits_everywhere(const std::vector<float>& values) {
  const int p = md::distribution::num_processes();
  if (p == 1) return true;
  const std::vector<float> all = md::compute::collectives::allgather(std::span<const float>(values));
  for (int r = 1; r < p; ++r) {
    if (std::memcmp(all.data(), all.data() + static_cast<size_t>(r) * values.size(), sizeof(float) * values.size()) !=
        0) {
      return false;
    }
  }
  return true;
}

// max |a - b| / max(max |b|, 1e-30) over the two flat lists (the same length).
inline double max_relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double diff = 0.0, scale = 1e-30;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::abs(a[i] - b[i])));
    scale = std::max(scale, static_cast<double>(std::abs(b[i])));
  }
  return diff / scale;
}

}  // namespace distribution_test
