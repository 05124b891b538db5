// The softmax rows of dot-product attention (core/backend/dot_attention.cpp and its row kernels),
// on every kernel path, against a double-precision softmax: rows of every length around the AVX2
// kernels' vector widths (8 lanes, four vectors per step, the masked tail) and the AVX-512 softmax
// row's (16 lanes, 64 floats per step) on the avx512 path, with ordinary scores,
// scores far below the maximum (exactly zero weight below exp(-87)), Keras's -1e9 mask constant,
// and NaN and infinite scores in every part of the row (the AVX2 kernel's checked path: NaN or an
// infinite maximum makes the whole row NaN, an -inf score among finite ones gets weight 0).
// Also the softmax's backward (dq through the rows) against the same reference.
//
// With key_dim = value_dim = 1, scale 1 and the one query 1, the row's scores are the keys
// themselves, so each case sets its scores exactly.
#include <minidl/minidl.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "minidl/core/backend/attention_kernels.h"

namespace mb = minidl::backend;

namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

struct PathGuard {
  explicit PathGuard(mb::KernelPath p) { mb::set_kernel_path(p); }
  ~PathGuard() { mb::set_kernel_path(mb::KernelPath::automatic); }
  PathGuard(const PathGuard&) = delete;
  PathGuard& operator=(const PathGuard&) = delete;
};

struct RowCase {
  std::string name;
  std::vector<float> scores;
};

std::vector<RowCase> row_cases(int64_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random_row = [&](float spread) {
    std::vector<float> row(static_cast<size_t>(n));
    for (float& s : row) s = spread * normal(rng);
    return row;
  };
  std::vector<RowCase> cases{{"normal", random_row(3.0f)},
                             {"wide (many below exp(-87))", random_row(60.0f)},
                             {"all equal", std::vector<float>(static_cast<size_t>(n), 0.25f)},
                             {"all masked", std::vector<float>(static_cast<size_t>(n), -1e9f)},
                             {"all -inf", std::vector<float>(static_cast<size_t>(n), -kInf)}};
  // Special values at the start, in the middle and at the end (the tail for most lengths).
  for (const int64_t at : {int64_t{0}, n / 2, n - 1}) {
    const std::string where = " at " + std::to_string(at);
    std::vector<float> masked = random_row(2.0f), nan = random_row(2.0f), inf = random_row(2.0f),
                       minus_inf = random_row(2.0f);
    masked[static_cast<size_t>(at)] = -1e9f;
    nan[static_cast<size_t>(at)] = kNaN;
    inf[static_cast<size_t>(at)] = kInf;
    minus_inf[static_cast<size_t>(at)] = -kInf;
    cases.push_back({"masked" + where, masked});
    cases.push_back({"NaN" + where, nan});
    cases.push_back({"+inf" + where, inf});
    cases.push_back({"-inf" + where, minus_inf});
  }
  return cases;
}

// The softmax in double with the kernels' rules: NaN anywhere, or a maximum of +-inf, makes the
// row NaN; x - max below -87 weighs exactly 0 (the kernels' exp underflows there).
std::vector<double> reference_softmax(const std::vector<float>& scores) {
  const size_t n = scores.size();
  double max = -std::numeric_limits<double>::infinity();
  bool nan = false;
  for (float s : scores) {
    nan = nan || std::isnan(s);
    max = std::max(max, static_cast<double>(s));
  }
  if (nan || std::isinf(max)) return std::vector<double>(n, std::numeric_limits<double>::quiet_NaN());
  std::vector<double> w(n);
  double sum = 0.0;
  for (size_t j = 0; j < n; ++j) {
    const double x = static_cast<double>(scores[j]) - max;
    w[j] = x < -87.0 ? 0.0 : std::exp(x);
    sum += w[j];
  }
  for (double& v : w) v /= sum;
  return w;
}

}  // namespace

TEST_CASE("dot attention softmax rows match a double softmax, with NaN, infinities and masked scores",
          "[attention][backend]") {
  std::mt19937 rng(7);
  for (const mb::KernelPath path : mb::supported_kernel_paths()) {
    const PathGuard guard(path);
    for (const int64_t n :
         {1, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 40, 47, 48, 49, 63, 64, 65, 79, 100, 127, 128, 129, 256, 300}) {
      for (const RowCase& c : row_cases(n, rng)) {
        INFO("path " << mb::kernel_path_name(path) << ", length " << n << ", " << c.name);
        mb::DotAttentionProblem p;
        p.batch = p.tq = p.heads = p.key_dim = p.value_dim = 1;
        p.tv = n;
        const std::vector<float> q{1.0f};
        std::vector<float> v(static_cast<size_t>(n));
        std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
        for (float& x : v) x = uniform(rng);
        std::vector<float> weights(static_cast<size_t>(n), -7.0f), out(1, -7.0f);
        mb::dot_attention_forward(p, q.data(), c.scores.data(), v.data(), weights.data(), out.data());
        const std::vector<double> ref = reference_softmax(c.scores);
        double out_ref = 0.0, out_scale = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          const double r = ref[static_cast<size_t>(j)];
          const float w = weights[static_cast<size_t>(j)];
          if (std::isnan(r)) {
            CHECK(std::isnan(w));
          } else if (r == 0.0) {
            CHECK(w == 0.0f);
          } else {
            CHECK(w == Approx(r).epsilon(1e-6).margin(1e-9));
          }
          out_ref += r * v[static_cast<size_t>(j)];
          out_scale += std::fabs(r * v[static_cast<size_t>(j)]);
        }
        if (std::isnan(out_ref)) {
          CHECK(std::isnan(out[0]));
          continue;
        }
        CHECK(out[0] == Approx(out_ref).margin(1e-6 * (out_scale + 1e-3)));

        // A non-finite key makes dq non-finite on every path (0 * inf); the weights above cover those rows.
        if (!std::all_of(c.scores.begin(), c.scores.end(), [](float s) { return std::isfinite(s); })) continue;
        // Backward: d_out = 1, so g_j = v_j and ds_j = w_j (v_j - sum_k w_k v_k); dq = sum_j ds_j k_j
        // over the keys with a finite score (a zero weight passes no gradient).
        const std::vector<float> d_out{1.0f};
        std::vector<float> dq(1, -7.0f);
        mb::dot_attention_backward(p, q.data(), c.scores.data(), v.data(), weights.data(), d_out.data(), nullptr,
                                   dq.data(), nullptr, nullptr);
        double dq_ref = 0.0, dq_scale = 0.0;
        for (int64_t j = 0; j < n; ++j) {
          const double w = weights[static_cast<size_t>(j)], k = c.scores[static_cast<size_t>(j)];
          if (w == 0.0) continue;
          const double ds = w * (v[static_cast<size_t>(j)] - out_ref);
          dq_ref += ds * k;
          dq_scale += std::fabs(w) * (std::fabs(v[static_cast<size_t>(j)]) + std::fabs(out_ref)) * std::fabs(k);
        }
        CHECK(dq[0] == Approx(dq_ref).margin(1e-5 * (dq_scale + 1e-3)));
      }
    }
  }
}
