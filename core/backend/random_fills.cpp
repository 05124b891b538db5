// Seeded random fills (core/random.h makes the tensors): counter-based, so element i depends
// only on (seed, i) and the result is the same at any thread count.
#include <array>
#include <cmath>
#include <numbers>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/loops.h"

namespace minidl::backend {
namespace {

using Block = std::array<uint32_t, 4>;

// Philox-4x32 with 10 rounds (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3").
Block philox(uint64_t seed, uint64_t block_index, uint32_t stream) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  Block c = {static_cast<uint32_t>(block_index), static_cast<uint32_t>(block_index >> 32), stream, 0x6d696e69u};
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = static_cast<uint64_t>(kMul0) * c[0];
    const uint64_t p1 = static_cast<uint64_t>(kMul1) * c[2];
    c = {static_cast<uint32_t>(p1 >> 32) ^ c[1] ^ k0, static_cast<uint32_t>(p1),
         static_cast<uint32_t>(p0 >> 32) ^ c[3] ^ k1, static_cast<uint32_t>(p0)};
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return c;
}

// A uniform double in the open interval (0, 1); exact in double.
double open_unit(uint32_t bits) { return (static_cast<double>(bits) + 0.5) * (1.0 / 4294967296.0); }

// One standard normal sample for element i of stream `stream` (Box-Muller, cosine branch).
double standard_normal(uint64_t seed, uint64_t i, uint32_t stream) {
  const Block b = philox(seed, i / 2, stream);
  const int half = static_cast<int>(i % 2) * 2;
  const double u1 = open_unit(b[half]);
  const double u2 = open_unit(b[half + 1]);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
}

constexpr int64_t kParallelThreshold = 1 << 15;

}  // namespace

uint32_t philox_bits(uint64_t seed, uint64_t counter, uint32_t stream) {
  return philox(seed, counter / 4, stream)[counter % 4];
}

void fill_normal(float* p, int64_t n, float mean, float stddev, uint64_t seed) {
  detail::parallel_for(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      p[i] = static_cast<float>(mean + stddev * standard_normal(seed, static_cast<uint64_t>(i), 0));
    }
  });
}

void fill_uniform(float* p, int64_t n, float minval, float maxval, uint64_t seed) {
  const double range = static_cast<double>(maxval) - minval;
  detail::parallel_for(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      // 24 random bits give every float in [0, 1) with a 2^-24 step, so the result stays < maxval.
      const double u = static_cast<double>(philox_bits(seed, static_cast<uint64_t>(i)) >> 8) * (1.0 / 16777216.0);
      const auto v = static_cast<float>(minval + range * u);
      p[i] = v < maxval ? v : std::nextafter(maxval, minval);
    }
  });
}

void fill_truncated_normal(float* p, int64_t n, float mean, float stddev, uint64_t seed) {
  detail::parallel_for(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      double z = 0.0;
      // Each redraw uses a fresh stream, so the result still depends only on (seed, i).
      for (uint32_t attempt = 0;; ++attempt) {
        z = standard_normal(seed, static_cast<uint64_t>(i), attempt);
        if (std::fabs(z) <= 2.0) break;
      }
      p[i] = static_cast<float>(mean + stddev * z);
    }
  });
}

void fill_dropout_mask(float* p, int64_t n, float rate, uint64_t seed, uint64_t first_counter) {
  const float keep_scale = 1.0f / (1.0f - rate);
  // Keep when the 24-bit uniform u satisfies u >= rate, i.e. with probability 1 - rate.
  const auto threshold = static_cast<uint32_t>(std::ceil(static_cast<double>(rate) * 16777216.0));
  detail::parallel_for(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      p[i] = (philox_bits(seed, first_counter + static_cast<uint64_t>(i)) >> 8) >= threshold ? keep_scale : 0.0f;
    }
  });
}

}  // namespace minidl::backend
