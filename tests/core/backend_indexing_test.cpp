// backend::slice_copy, slice_assign, gather, scatter_add, argmax, copy and fill against naive
// loops, below and above the size at which they split over threads (detail::kParallelGrain,
// 16384 elements), with one and two threads.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <random>
#include <vector>

namespace {

namespace backend = md::backend;

std::vector<float> random_indexing_values(std::mt19937& rng, int64_t n) {
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = dist(rng);
  return v;
}

struct IndexingViewCase {
  backend::AxisView view;
  const char* what;
};

// (outer, axis, inner) cases: tiny, many short rows, few long rows, and one past the grain in
// each way the loops count work.
const IndexingViewCase kIndexingViews[] = {
    {{1, 5, 1}, "tiny"},
    {{3, 7, 4}, "small, inner 4"},
    {{64, 40, 16}, "above the grain, short rows"},
    {{2, 9, 5000}, "above the grain, long rows"},
    {{3000, 6, 1}, "above the grain, inner 1"},
};

size_t view_index(const backend::AxisView& v, int64_t o, int64_t a, int64_t i) {
  return static_cast<size_t>((o * v.axis + a) * v.inner + i);
}

}  // namespace

TEST_CASE("backend indexing loops match naive loops at every size and thread count", "[indexing][backend]") {
  std::mt19937 rng(7);
  const int threads_before = md::get_num_threads();
  for (const int threads : {1, 2}) {
    md::set_num_threads(threads);
    for (const IndexingViewCase& c : kIndexingViews) {
      const backend::AxisView v = c.view;
      INFO(c.what << ", threads " << threads);
      const std::vector<float> x = random_indexing_values(rng, v.outer * v.axis * v.inner);

      // slice_copy: positions 1, 3, 5, ... of the axis.
      const int64_t start = v.axis > 1 ? 1 : 0, step = 2, count = (v.axis - start + step - 1) / step;
      std::vector<float> sliced(static_cast<size_t>(v.outer * count * v.inner), -7.0f);
      backend::slice_copy(x.data(), v, start, step, sliced.data(), count);
      bool slice_ok = true;
      for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t k = 0; k < count; ++k)
          for (int64_t i = 0; i < v.inner; ++i)
            slice_ok &= sliced[static_cast<size_t>((o * count + k) * v.inner + i)] == x[view_index(v, o, start + k * step, i)];
      CHECK(slice_ok);

      // slice_assign writes the slice back into a tensor of sentinels: only those positions change.
      std::vector<float> assigned(x.size(), 5.0f);
      backend::slice_assign(sliced.data(), count, assigned.data(), v, start, step);
      bool assign_ok = true;
      for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t a = 0; a < v.axis; ++a)
          for (int64_t i = 0; i < v.inner; ++i) {
            const bool in_slice = a >= start && (a - start) % step == 0;
            assign_ok &= assigned[view_index(v, o, a, i)] == (in_slice ? x[view_index(v, o, a, i)] : 5.0f);
          }
      CHECK(assign_ok);

      // gather with repeated and out-of-order indices; scatter_add of the gathered rows adds up
      // each repeat.
      const std::vector<float> indices = {static_cast<float>(v.axis - 1), 0.0f, static_cast<float>(v.axis - 1),
                                          static_cast<float>(v.axis / 2)};
      const auto n = static_cast<int64_t>(indices.size());
      std::vector<float> gathered(static_cast<size_t>(v.outer * n * v.inner));
      backend::gather(x.data(), v, indices.data(), n, gathered.data());
      bool gather_ok = true;
      for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t k = 0; k < n; ++k)
          for (int64_t i = 0; i < v.inner; ++i)
            gather_ok &= gathered[static_cast<size_t>((o * n + k) * v.inner + i)] ==
                         x[view_index(v, o, static_cast<int64_t>(indices[static_cast<size_t>(k)]), i)];
      CHECK(gather_ok);

      std::vector<float> scattered(x.size(), 0.0f), expected(x.size(), 0.0f);
      backend::scatter_add(gathered.data(), indices.data(), n, scattered.data(), v);
      for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t k = 0; k < n; ++k)
          for (int64_t i = 0; i < v.inner; ++i)
            expected[view_index(v, o, static_cast<int64_t>(indices[static_cast<size_t>(k)]), i)] +=
                gathered[static_cast<size_t>((o * n + k) * v.inner + i)];
      CHECK(scattered == expected);

      // argmax along the axis: the first index of the largest value (a tie is planted at 0 and 1).
      std::vector<float> tied = x;
      for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t i = 0; i < v.inner; ++i)
          if (v.axis > 1) tied[view_index(v, o, 0, i)] = tied[view_index(v, o, 1, i)] = 2.0f;
      std::vector<float> best(static_cast<size_t>(v.outer * v.inner), -1.0f);
      backend::argmax(tied.data(), v, best.data());
      bool argmax_ok = true;
      for (int64_t o = 0; o < v.outer; ++o)
        for (int64_t i = 0; i < v.inner; ++i) {
          int64_t want = 0;
          for (int64_t a = 1; a < v.axis; ++a)
            if (tied[view_index(v, o, a, i)] > tied[view_index(v, o, want, i)]) want = a;
          argmax_ok &= best[static_cast<size_t>(o * v.inner + i)] == static_cast<float>(want);
        }
      CHECK(argmax_ok);
    }

    // copy and fill below and above their grain (4 x 16384 elements).
    for (const int64_t n : {int64_t{1}, int64_t{1000}, int64_t{65537}, int64_t{200003}}) {
      INFO("n " << n << ", threads " << threads);
      const std::vector<float> x = random_indexing_values(rng, n);
      std::vector<float> y(static_cast<size_t>(n), 0.0f);
      backend::copy(x.data(), y.data(), n);
      CHECK(y == x);
      backend::fill(y.data(), n, 3.5f);
      CHECK(y == std::vector<float>(static_cast<size_t>(n), 3.5f));
    }
  }
  md::set_num_threads(threads_before);
}
