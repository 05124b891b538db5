// The collectives under md::distribution against closed forms, at whatever process count mpirun
// gave (CTest runs 2 and 4), and the bucketed gradient sum fit() uses.
#include <minidl/minidl.h>
#include <minidl/models/detail/data_parallel.h>

#include <catch2/catch.hpp>
#include <numeric>

#include "distribution_helpers.h"

namespace md = minidl;
namespace mpi = md::compute::collectives;
using distribution_test::same_bits_everywhere;

namespace {

bool under_mpi() { return md::distribution::num_processes() > 1; }

}  // namespace

TEST_CASE("allreduce sums float and double buffers: process r sends (r + 1) * i", "[collectives]") {
  if (!under_mpi()) return;  // the single-process run checks the no-MPI path instead
  const int p = md::distribution::num_processes(), r = md::distribution::process_id();
  const float factor = static_cast<float>(p * (p + 1) / 2);  // sum over r of (r + 1)
  for (size_t n : {size_t{1}, size_t{7}, size_t{100000}}) {
    std::vector<float> data(n);
    for (size_t i = 0; i < n; ++i) data[i] = static_cast<float>((r + 1) * static_cast<int>(i % 1000));
    mpi::allreduce_sum(data);
    for (size_t i = 0; i < n; ++i) REQUIRE(data[i] == factor * static_cast<float>(i % 1000));
  }
  std::vector<double> d{0.5 * (r + 1), -1.0};
  mpi::allreduce_sum(d);
  CHECK(d[0] == 0.5 * p * (p + 1) / 2);
  CHECK(d[1] == -1.0 * p);
}

TEST_CASE("broadcast gives process 0's buffer to every process", "[collectives]") {
  if (!under_mpi()) return;
  const int r = md::distribution::process_id();
  std::vector<float> data(1000, static_cast<float>(r + 10));
  mpi::broadcast(data, 0);
  for (float v : data) REQUIRE(v == 10.0f);
  std::vector<float> from_last(3, static_cast<float>(r));
  mpi::broadcast(from_last, md::distribution::num_processes() - 1);
  for (float v : from_last) REQUIRE(v == static_cast<float>(md::distribution::num_processes() - 1));
}

TEST_CASE("allgather and allgatherv lay process r's values at r's place", "[collectives]") {
  if (!under_mpi()) return;
  const int p = md::distribution::num_processes(), r = md::distribution::process_id();
  const std::vector<float> mine{static_cast<float>(r), static_cast<float>(-r)};
  const std::vector<float> all = mpi::allgather(std::span<const float>(mine));
  REQUIRE(all.size() == static_cast<size_t>(2 * p));
  for (int k = 0; k < p; ++k) {
    CHECK(all[2 * k] == static_cast<float>(k));
    CHECK(all[2 * k + 1] == static_cast<float>(-k));
  }
  // Process k sends k + 1 copies of k.
  std::vector<int64_t> counts(static_cast<size_t>(p));
  std::iota(counts.begin(), counts.end(), int64_t{1});
  const std::vector<float> v(static_cast<size_t>(r + 1), static_cast<float>(r));
  const std::vector<float> gathered = mpi::allgatherv(std::span<const float>(v), counts);
  std::vector<float> expected;
  for (int k = 0; k < p; ++k) expected.insert(expected.end(), static_cast<size_t>(k + 1), static_cast<float>(k));
  CHECK(gathered == expected);
  CHECK_THROWS_WITH(mpi::allgatherv(std::span<const float>(v), {1}),
                    Catch::Contains("allgatherv: 1 counts for " + std::to_string(p) + " processes"));
}

TEST_CASE("gradients are summed in buckets, the last first, undefined ones left undefined", "[collectives]") {
  if (!under_mpi()) return;
  const int p = md::distribution::num_processes(), r = md::distribution::process_id();
  // Three gradients of 3, 5 and 2 floats; a 24-byte cap (6 floats) makes three buckets: {c},
  // {b} (b alone is over the cap), {a}; the undefined one is skipped.
  const md::Tensor a = md::Tensor::full({3}, static_cast<float>(r + 1));
  const md::Tensor b = md::Tensor::full({5}, static_cast<float>(2 * (r + 1)));
  const md::Tensor c = md::Tensor::full({2, 1}, -1.0f);
  for (bool deterministic : {false, true}) {
    const std::vector<md::Tensor> summed = md::distribution::detail::sum_gradients(
        {a, md::Tensor(), b, c}, 0.5f, {.deterministic = deterministic, .bucket_bytes = 24});
    REQUIRE(summed.size() == 4);
    CHECK_FALSE(summed[1].defined());
    const float tri = static_cast<float>(p * (p + 1) / 2);
    CHECK(summed[0].to_vector() == std::vector<float>(3, 0.5f * tri));
    CHECK(summed[2].to_vector() == std::vector<float>(5, tri));
    CHECK(summed[3].shape() == md::Shape{2, 1});
    CHECK(summed[3].to_vector() == std::vector<float>(2, -0.5f * static_cast<float>(p)));
    CHECK(same_bits_everywhere(distribution_test::flat({summed[0], summed[2], summed[3]})));
  }
}

TEST_CASE("shards of a global batch: contiguous, in rank order, whole when smaller than the job",
          "[collectives]") {
  if (!under_mpi()) return;
  const int p = md::distribution::num_processes(), r = md::distribution::process_id();
  const std::vector<int64_t> sizes = md::distribution::detail::shard_sizes(10);
  CHECK(std::accumulate(sizes.begin(), sizes.end(), int64_t{0}) == 10);
  const auto rows = md::distribution::detail::shard(10);
  CHECK(rows.count() == sizes[static_cast<size_t>(r)]);
  CHECK(rows.begin == r * 10 / p);
  const auto small = md::distribution::detail::shard(p - 1);
  CHECK(small.begin == 0);
  CHECK(small.end == p - 1);
}
