// Seeded random tensors: reproducible per seed, independent of the thread count, with the
// right distribution; and SeedGenerator's reproducible stream of seeds.
#include <minidl/minidl.h>

#include <algorithm>
#include <bit>
#include <catch2/catch.hpp>
#include <cmath>
#include <set>
#include <vector>

#include "minidl/core/backend/attention_kernels.h"
#include "test_helpers.h"

namespace {

struct Moments {
  double mean = 0.0, stddev = 0.0;
  float min = 0.0f, max = 0.0f;
};

Moments moments(const md::Tensor& t) {
  const std::vector<float> v = t.to_vector();
  Moments m;
  m.min = m.max = v.at(0);
  for (float x : v) {
    m.mean += x;
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
  }
  m.mean /= static_cast<double>(v.size());
  for (float x : v) m.stddev += (x - m.mean) * (x - m.mean);
  m.stddev = std::sqrt(m.stddev / static_cast<double>(v.size()));
  return m;
}

// Restores the thread count a test changed.
struct ThreadGuard {
  int saved = md::get_num_threads();
  ~ThreadGuard() { md::set_num_threads(saved); }
};

}  // namespace

TEST_CASE("random tensors are reproducible per seed", "[random]") {
  const md::Shape shape = {3, 50, 7};
  CHECK(md::random::normal(shape, 0.0f, 1.0f, 42).to_vector() == md::random::normal(shape, 0.0f, 1.0f, 42).to_vector());
  CHECK(md::random::uniform(shape, -1.0f, 1.0f, 42).to_vector() ==
        md::random::uniform(shape, -1.0f, 1.0f, 42).to_vector());
  CHECK(md::random::truncated_normal(shape, 0.0f, 1.0f, 42).to_vector() ==
        md::random::truncated_normal(shape, 0.0f, 1.0f, 42).to_vector());
  CHECK(md::random::normal(shape, 0.0f, 1.0f, 42).to_vector() != md::random::normal(shape, 0.0f, 1.0f, 43).to_vector());
  CHECK(md::random::uniform(shape, -1.0f, 1.0f, 42).to_vector() !=
        md::random::uniform(shape, -1.0f, 1.0f, 43).to_vector());
  CHECK(md::random::truncated_normal(shape, 0.0f, 1.0f, 42).to_vector() !=
        md::random::truncated_normal(shape, 0.0f, 1.0f, 43).to_vector());
  // Element i depends only on (seed, i): the same seed gives a prefix of a longer tensor, whatever the shape.
  const std::vector<float> small = md::random::normal({10}, 0.0f, 1.0f, 5).to_vector();
  const std::vector<float> large = md::random::normal({4, 25}, 0.0f, 1.0f, 5).to_vector();
  CHECK(std::vector<float>(large.begin(), large.begin() + 10) == small);
  // Shapes, dtype, and the empty case.
  const md::Tensor r = md::random::uniform({2, 3}, 0.0f, 1.0f, 1);
  CHECK(r.shape() == md::Shape{2, 3});
  CHECK(r.dtype() == md::DType::float32);
  CHECK(md::random::normal({0, 3}, 0.0f, 1.0f, 1).size() == 0);
  CHECK(md::random::normal({}, 0.0f, 1.0f, 1).shape() == md::Shape{});
}

TEST_CASE("random tensors do not depend on the thread count", "[random][threads]") {
  ThreadGuard guard;
  const md::Shape shape = {300, 250};  // 75000 elements > 1 << 15: the parallel loop runs
  md::set_num_threads(1);
  CHECK(md::get_num_threads() == 1);
  const std::vector<float> n1 = md::random::normal(shape, 1.0f, 2.0f, 9).to_vector();
  const std::vector<float> u1 = md::random::uniform(shape, -3.0f, 5.0f, 9).to_vector();
  const std::vector<float> t1 = md::random::truncated_normal(shape, 0.0f, 0.5f, 9).to_vector();
  md::set_num_threads(2);
  CHECK(md::get_num_threads() == 2);
  CHECK(md::random::normal(shape, 1.0f, 2.0f, 9).to_vector() == n1);
  CHECK(md::random::uniform(shape, -3.0f, 5.0f, 9).to_vector() == u1);
  CHECK(md::random::truncated_normal(shape, 0.0f, 0.5f, 9).to_vector() == t1);
}

TEST_CASE("random tensors have the requested distribution", "[random]") {
  const md::Shape shape = {100000};
  // Standard error of the mean over 1e5 samples is stddev / 316: 0.02 stddev is > 6 sigma.
  const Moments n = moments(md::random::normal(shape, 3.0f, 2.0f, 11));
  CHECK(n.mean == Approx(3.0).margin(0.04));
  CHECK(n.stddev == Approx(2.0).margin(0.04));
  CHECK(n.min < 3.0f - 3.5f * 2.0f);  // ~23 of 1e5 samples lie beyond 3.5 sigma on each side
  CHECK(n.max > 3.0f + 3.5f * 2.0f);

  const Moments u = moments(md::random::uniform(shape, -1.0f, 3.0f, 12));
  CHECK(u.mean == Approx(1.0).margin(0.02));
  CHECK(u.stddev == Approx(4.0 / std::sqrt(12.0)).margin(0.02));
  CHECK(u.min >= -1.0f);
  CHECK(u.max < 3.0f);
  CHECK(u.min < -0.99f);
  CHECK(u.max > 2.99f);

  // Normal(0, 1) truncated to [-2, 2] has stddev 0.8796.
  const Moments t = moments(md::random::truncated_normal(shape, -1.0f, 0.5f, 13));
  CHECK(t.mean == Approx(-1.0).margin(0.01));
  CHECK(t.stddev == Approx(0.5 * 0.8796).margin(0.01));
  CHECK(t.min >= -1.0f - 2 * 0.5f);
  CHECK(t.max <= -1.0f + 2 * 0.5f);
  CHECK(t.min < -1.9f);
  CHECK(t.max > -0.1f);
}

TEST_CASE("uniform never reaches maxval, even on a tiny range", "[random]") {
  const float lo = 1.0f, hi = std::nextafter(1.0f, 2.0f);  // a range of one float step
  for (float v : md::random::uniform({1000}, lo, hi, 3).to_vector()) {
    CHECK(v >= lo);
    CHECK(v < hi);
  }
  const std::vector<float> big = md::random::uniform({1000}, -1e30f, 1e30f, 4).to_vector();
  CHECK(*std::max_element(big.begin(), big.end()) < 1e30f);
}

TEST_CASE("SeedGenerator gives a reproducible stream of distinct seeds", "[random]") {
  md::random::SeedGenerator a(1337), b(1337), c(1338);
  std::vector<uint64_t> sa, sb, sc;
  for (int i = 0; i < 100; ++i) {
    sa.push_back(a.next());
    sb.push_back(b.next());
    sc.push_back(c.next());
  }
  CHECK(sa == sb);
  CHECK(sa != sc);
  CHECK(std::set<uint64_t>(sa.begin(), sa.end()).size() == 100);
  CHECK(a.initial_seed() == 1337);
  CHECK(a.counter() == 100);
  // Rewinding the counter replays the stream.
  a.set_counter(10);
  CHECK(a.next() == sa[10]);

  // Unseeded generators follow the global seed.
  md::random::set_global_seed(7);
  md::random::SeedGenerator g1, g2;
  md::random::set_global_seed(7);
  md::random::SeedGenerator h1, h2;
  CHECK(g1.initial_seed() == h1.initial_seed());
  CHECK(g2.initial_seed() == h2.initial_seed());
  CHECK(g1.initial_seed() != g2.initial_seed());
  CHECK(g1.next() == h1.next());
}

TEST_CASE("philox_bits is a pure function of (seed, counter, stream)", "[random]") {
  CHECK(md::random::philox_bits(1, 0) == md::random::philox_bits(1, 0));
  CHECK(md::random::philox_bits(1, 0) != md::random::philox_bits(2, 0));
  CHECK(md::random::philox_bits(1, 0) != md::random::philox_bits(1, 1));
  CHECK(md::random::philox_bits(1, 0, 0) != md::random::philox_bits(1, 0, 1));
  // Roughly balanced bits.
  int64_t ones = 0;
  for (uint64_t i = 0; i < 10000; ++i) ones += std::popcount(md::random::philox_bits(123, i));
  CHECK(ones == Approx(10000 * 16).epsilon(0.01));
}

TEST_CASE("dropout masks and uniforms take element i from philox_bits(seed, i), split at any point", "[random]") {
  // The fills draw Philox blocks several at a time; every element must still be word i % 4 of
  // block i / 4, including where the threads' ranges start mid-block (70001 elements: two
  // threads split at 35001) and for seeds using both halves. On every kernel path this CPU
  // runs: the AVX2 lanes and the portable ones must draw the same bits.
  const md::backend::KernelPath path = GENERATE(from_range(md::backend::supported_kernel_paths()));
  INFO("kernel path " << md::backend::kernel_path_name(path));
  md::backend::set_kernel_path(path);
  struct Restore {
    ~Restore() { md::backend::set_kernel_path(md::backend::KernelPath::automatic); }
  } restore;
  const float rate = 0.3f;
  const auto threshold = static_cast<uint32_t>(std::ceil(static_cast<double>(rate) * 16777216.0));
  for (const int64_t n : {int64_t{1}, int64_t{7}, int64_t{70001}}) {
    for (const uint64_t seed : {uint64_t{5}, uint64_t{0x123456789abcdefULL}}) {
      const std::vector<float> mask = md::random::dropout_mask({n}, rate, seed).to_vector();
      const std::vector<float> u = md::random::uniform({n}, 0.0f, 1.0f, seed).to_vector();
      int64_t mismatches = 0;
      for (int64_t i = 0; i < n; ++i) {
        const uint32_t bits = md::random::philox_bits(seed, static_cast<uint64_t>(i));
        const float want_mask = (bits >> 8) >= threshold ? 1.0f / (1.0f - rate) : 0.0f;
        const auto want_u = static_cast<float>(static_cast<double>(bits >> 8) * (1.0 / 16777216.0));
        mismatches += mask[static_cast<size_t>(i)] != want_mask || u[static_cast<size_t>(i)] != want_u;
      }
      CHECK(mismatches == 0);
    }
  }
}
