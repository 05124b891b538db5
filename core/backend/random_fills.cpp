// Seeded random fills (core/random.h makes the tensors): counter-based, so element i depends
// only on (seed, i) and the result is the same at any thread count.
#include <algorithm>
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

// Philox blocks first, first + 1, ..., first + kLanes - 1 of one stream, computed side by side
// (the same rounds as philox(), lane by lane, so that the compiler vectorises them): words[w][l]
// is word w of block first + l.
constexpr int kLanes = 8;
void philox_lanes(uint64_t seed, uint64_t first, uint32_t stream, uint32_t (&words)[4][kLanes]) {
  constexpr uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  uint32_t c0[kLanes], c1[kLanes], c2[kLanes], c3[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    const uint64_t block = first + static_cast<uint64_t>(l);
    c0[l] = static_cast<uint32_t>(block);
    c1[l] = static_cast<uint32_t>(block >> 32);
    c2[l] = stream;
    c3[l] = 0x6d696e69u;
  }
  for (int round = 0; round < 10; ++round) {
    for (int l = 0; l < kLanes; ++l) {
      const uint64_t p0 = static_cast<uint64_t>(kMul0) * c0[l];
      const uint64_t p1 = static_cast<uint64_t>(kMul1) * c2[l];
      const uint32_t n0 = static_cast<uint32_t>(p1 >> 32) ^ c1[l] ^ k0;
      const uint32_t n2 = static_cast<uint32_t>(p0 >> 32) ^ c3[l] ^ k1;
      c1[l] = static_cast<uint32_t>(p1);
      c3[l] = static_cast<uint32_t>(p0);
      c0[l] = n0;
      c2[l] = n2;
    }
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  for (int l = 0; l < kLanes; ++l) {
    words[0][l] = c0[l];
    words[1][l] = c1[l];
    words[2][l] = c2[l];
    words[3][l] = c3[l];
  }
}

// Calls f(i, philox_bits(seed, i)) for i in [begin, end) (element i is word i % 4 of block
// i / 4), computing each block once for its four elements and kLanes blocks at a time: a
// dropout mask drew a whole block per element before, 75% of its time thrown away.
template <class F>
void for_each_bits(uint64_t seed, int64_t begin, int64_t end, F&& f) {
  uint32_t words[4][kLanes];
  for (int64_t i = begin; i < end;) {
    const uint64_t first = static_cast<uint64_t>(i) / 4;
    philox_lanes(seed, first, 0, words);
    const int64_t stop = std::min<int64_t>(end, static_cast<int64_t>(first + kLanes) * 4);
    for (; i < stop; ++i) {
      const auto block = static_cast<size_t>(static_cast<uint64_t>(i) / 4 - first);
      f(i, words[i % 4][block]);
    }
  }
}

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
    for_each_bits(seed, begin, end, [&](int64_t i, uint32_t bits) {
      // 24 random bits give every float in [0, 1) with a 2^-24 step, so the result stays < maxval.
      const double u = static_cast<double>(bits >> 8) * (1.0 / 16777216.0);
      const auto v = static_cast<float>(minval + range * u);
      p[i] = v < maxval ? v : std::nextafter(maxval, minval);
    });
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

void fill_dropout_mask(float* p, int64_t n, float rate, uint64_t seed) {
  const float keep_scale = 1.0f / (1.0f - rate);
  // Keep when the 24-bit uniform u satisfies u >= rate, i.e. with probability 1 - rate.
  const auto threshold = static_cast<uint32_t>(std::ceil(static_cast<double>(rate) * 16777216.0));
  detail::parallel_for(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
    for_each_bits(seed, begin, end, [&](int64_t i, uint32_t bits) { p[i] = (bits >> 8) >= threshold ? keep_scale : 0.0f; });
  });
}

}  // namespace minidl::backend
