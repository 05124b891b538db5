// Seeded random fills (core/random.h makes the tensors): counter-based, so element i depends
// only on (seed, i) and the result is the same at any thread count.
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>

#include "minidl/core/backend/attention_kernels.h"
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

// The 4 * kLanes words of blocks first .. first + kLanes - 1 of stream 0 in element order:
// bits[e] = philox_bits(seed, first * 4 + e).
constexpr int kLanes = 8;
using LaneBits = uint32_t[4 * kLanes];

void philox_lanes_portable(uint64_t seed, uint64_t first, LaneBits& bits) {
  for (int l = 0; l < kLanes; ++l) {
    const Block block = philox(seed, first + static_cast<uint64_t>(l), 0);
    std::copy(block.begin(), block.end(), bits + 4 * l);
  }
}

// The high 32 bits of the eight products a * m (32 x 32 -> 64 bits), as AVX2 has no such
// instruction: the even lanes' products, then the odd lanes', blended.
__attribute__((target("avx2"))) inline __m256i mul_high(__m256i a, __m256i m) {
  const __m256i even = _mm256_mul_epu32(a, m);
  const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  return _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

// philox() on eight blocks at once, one block per 32-bit lane, then transposed to element
// order. 4x faster than eight calls of philox() (the scalar rounds are a chain of 64-bit
// multiplies), and the same bits.
__attribute__((target("avx2"))) void philox_lanes_avx2(uint64_t seed, uint64_t first, LaneBits& bits) {
  const __m256i mul0 = _mm256_set1_epi32(static_cast<int>(0xD2511F53u));
  const __m256i mul1 = _mm256_set1_epi32(static_cast<int>(0xCD9E8D57u));
  uint32_t low[kLanes], high[kLanes];
  for (int l = 0; l < kLanes; ++l) {
    const uint64_t block = first + static_cast<uint64_t>(l);
    low[l] = static_cast<uint32_t>(block);
    high[l] = static_cast<uint32_t>(block >> 32);
  }
  __m256i c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(low));
  __m256i c1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(high));
  __m256i c2 = _mm256_setzero_si256();  // stream 0
  __m256i c3 = _mm256_set1_epi32(0x6d696e69);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    const __m256i high0 = mul_high(c0, mul0), high1 = mul_high(c2, mul1);
    const __m256i low0 = _mm256_mullo_epi32(c0, mul0), low1 = _mm256_mullo_epi32(c2, mul1);
    c0 = _mm256_xor_si256(_mm256_xor_si256(high1, c1), _mm256_set1_epi32(static_cast<int>(k0)));
    c2 = _mm256_xor_si256(_mm256_xor_si256(high0, c3), _mm256_set1_epi32(static_cast<int>(k1)));
    c1 = low1;
    c3 = low0;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  // Word w of block l is lane l of c_w: transpose to (block, word) order.
  const __m256i t0 = _mm256_unpacklo_epi32(c0, c1), t1 = _mm256_unpackhi_epi32(c0, c1);
  const __m256i t2 = _mm256_unpacklo_epi32(c2, c3), t3 = _mm256_unpackhi_epi32(c2, c3);
  const __m256i b04 = _mm256_unpacklo_epi64(t0, t2), b15 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i b26 = _mm256_unpacklo_epi64(t1, t3), b37 = _mm256_unpackhi_epi64(t1, t3);
  auto* out = reinterpret_cast<__m256i*>(bits);
  _mm256_storeu_si256(out + 0, _mm256_permute2x128_si256(b04, b15, 0x20));
  _mm256_storeu_si256(out + 1, _mm256_permute2x128_si256(b26, b37, 0x20));
  _mm256_storeu_si256(out + 2, _mm256_permute2x128_si256(b04, b15, 0x31));
  _mm256_storeu_si256(out + 3, _mm256_permute2x128_si256(b26, b37, 0x31));
}

// Calls f(i, philox_bits(seed, i)) for i in [begin, end), each Philox block computed once for
// its four elements, kLanes blocks at a time (a dropout mask drew a whole block per element
// before, 75% of the work thrown away).
template <class F>
void for_each_bits(uint64_t seed, int64_t begin, int64_t end, F&& f) {
  // The portable lanes when a test pins the portable kernel path (attention_kernels.h), so that
  // they run on every machine.
  const bool avx2 = active_kernel_path() != KernelPath::portable && cpu_has_avx2_fma();
  LaneBits bits;
  for (int64_t i = begin; i < end;) {
    const uint64_t first = static_cast<uint64_t>(i) / 4;
    if (avx2) {
      philox_lanes_avx2(seed, first, bits);
    } else {
      philox_lanes_portable(seed, first, bits);
    }
    const auto base = static_cast<int64_t>(first * 4);
    const int64_t stop = std::min<int64_t>(end, base + 4 * kLanes);
    for (; i < stop; ++i) f(i, bits[i - base]);
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

void fill_dropout_mask(float* p, int64_t n, float rate, uint64_t seed, uint64_t first_counter) {
  const float keep_scale = 1.0f / (1.0f - rate);
  // Keep when the 24-bit uniform u satisfies u >= rate, i.e. with probability 1 - rate.
  const auto threshold = static_cast<uint32_t>(std::ceil(static_cast<double>(rate) * 16777216.0));
  detail::parallel_for(n, kParallelThreshold, [&](int64_t begin, int64_t end) {
    // 0 or 1 times the scale, not a select: the compiler made the select a branch, mispredicted
    // on a random rate of the elements. Element i draws counter first_counter + i, so a shard of
    // a batch (first_counter = its first element) draws what the whole batch would.
    const auto first = static_cast<int64_t>(first_counter);
    for_each_bits(seed, first + begin, first + end, [&](int64_t counter, uint32_t bits) {
      p[counter - first] = static_cast<float>((bits >> 8) >= threshold) * keep_scale;
    });
  });
}

}  // namespace minidl::backend
