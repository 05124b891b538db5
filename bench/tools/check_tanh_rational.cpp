// Max abs error of the fused attention kernels' rational tanh over every float32 in [0, 12]
// (it is odd, and clamped beyond 8), for both kernel paths, through the public kernel API:
// one query of 0 against keys k_j with dim 1 and scale 1 gives scores[j] = tanh(k_j).
//
//   cmake --build --preset release --target minidl
//   g++ -O2 -std=c++20 -Ibuild/include bench/tools/check_tanh_rational.cpp -Lbuild -lminidl \
//       -Wl,-rpath,$PWD/build -o build/check_tanh_rational && build/check_tanh_rational
#include <minidl/core/backend/attention_kernels.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace mb = minidl::backend;

int main() {
  const uint32_t end = std::bit_cast<uint32_t>(12.0f);
  const int64_t chunk = int64_t{1} << 22;
  std::vector<float> keys(chunk), scores(chunk);
  const float query = 0.0f;
  std::vector<mb::KernelPath> paths{mb::KernelPath::portable};
  if (mb::cpu_has_avx512()) paths.insert(paths.begin(), mb::KernelPath::avx512);
  int status = 0;
  for (mb::KernelPath path : paths) {
    mb::set_kernel_path(path);
    double worst = 0.0;
    float worst_at = 0.0f;
    for (uint64_t first = 0; first <= end; first += chunk) {
      const int64_t n = static_cast<int64_t>(std::min<uint64_t>(chunk, end + 1 - first));
      for (int64_t j = 0; j < n; ++j) keys[j] = std::bit_cast<float>(static_cast<uint32_t>(first + j));
      const mb::AdditiveScoresProblem p{.batch = 1, .tq = 1, .tv = n, .dim = 1, .query = &query, .key = keys.data()};
      mb::additive_scores_forward(p, scores.data());
      for (int64_t j = 0; j < n; ++j) {
        const double err = std::fabs(scores[j] - std::tanh(static_cast<double>(keys[j])));
        if (err > worst) {
          worst = err;
          worst_at = keys[j];
        }
      }
    }
    std::printf("%s: max |t - tanh| = %.3g at x = %.9g\n", path == mb::KernelPath::avx512 ? "avx512" : "portable",
                worst, worst_at);
    if (worst > 5e-7) status = 1;
  }
  return status;
}
