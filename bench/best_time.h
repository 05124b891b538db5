#pragma once
// The best-of-rounds timer of the in-process benchmarks: `rounds` rounds of `calls` calls each,
// and the fastest round's time per call (the minimum is the figure least disturbed by the rest
// of the machine).
//   const double us = bench::best_seconds_per_call([&] { (void)dense(x); }, 7, 20000) * 1e6;
#include <algorithm>
#include <chrono>

namespace bench {

template <class F>
double best_seconds_per_call(F&& call, int rounds, int calls) {
  double best = 1e300;
  for (int round = 0; round < rounds; ++round) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) call();
    const std::chrono::duration<double> spent = std::chrono::steady_clock::now() - start;
    best = std::min(best, spent.count() / calls);
  }
  return best;
}

}  // namespace bench
