// bench/tanh_kernel_bench: the additive-attention score kernels with the guarded tanh identity
// (md::backend::ScoreTanhMode::guarded, the default) against the direct-only kernels of before
// (ScoreTanhMode::direct): speed and accuracy (issue 16, section 3, second bullet).
//
//   tanh_kernel_bench [--threads 1,2] [--reps 7] [--shapes 0,1,2,3] [--no-speed] [--no-accuracy]
//
// 1. Bounds: ns per element of each tanh evaluation on L1-resident arrays, one thread, min of
//    --reps blocks: the rational tanh(a + b) of the direct path, the identity (a + b) / (1 + a b)
//    of the new path (bound by the divider) and the precise tanh that feeds it.
// 2. Speed (q, k ~ U(-1,1) as in attention_bench, and U(-5,5) where the guard falls back): the
//    score kernels alone (forward; backward with dq, dk, dscale) and the whole op
//    md::ops::additive_attention forward+backward on a tape, old (direct) vs new (guarded), at
//    attention_bench's four shapes, min of --reps calls after a warm-up, the two modes
//    interleaved call by call so that load changes hit both alike. ns/elem = wall time * threads /
//    (B Tq Tv D): compare it with the identity's bound. "oth" = CPUs used by other processes during
//    the fastest call (bench::others_cpus); a row with oth > 0.3 is disturbed.
// 3. Accuracy against float64 (std::tanh in double): per input family, max |error| of the
//    elementwise t = tanh(q + k) and 1 - t^2 (a problem with D = 1 and one key per row, so each
//    element takes the guard on its own), and of scores, dq, dk, dscale for (B,Tq,Tv,D) =
//    (4,32,160,64), as max |got - ref| / max |ref| per output; modes direct (old), guarded (new)
//    and identity (unguarded, to show what the guard prevents).
#include <minidl/minidl.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "minidl/core/backend/attention_kernels.h"
#include "peer_runner.h"

namespace md = minidl;
namespace be = md::backend;

namespace {

struct Shape {
  int64_t b, tq, tv, d;
  double elements() const { return static_cast<double>(b) * tq * tv * d; }
  std::string str() const { return fmt::format("({},{},{},{})", b, tq, tv, d); }
};
const Shape kShapes[] = {{32, 64, 64, 64}, {16, 128, 128, 128}, {4, 512, 512, 64}, {1, 1024, 1024, 256}};

struct Timing {
  double ms = 1e300, others = 0;
};

// Calls each of fns once (warm-up), then `reps` rounds of one call of each: min per fn.
std::vector<Timing> time_interleaved(const std::vector<std::function<void()>>& fns, int reps) {
  std::vector<Timing> best(fns.size());
  for (const auto& f : fns) f();
  for (int r = 0; r < reps; ++r) {
    for (size_t i = 0; i < fns.size(); ++i) {
      const bench::CpuSample c0 = bench::CpuSample::now();
      const auto t0 = std::chrono::steady_clock::now();
      fns[i]();
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (s * 1e3 < best[i].ms) best[i] = {s * 1e3, bench::others_cpus(c0, bench::CpuSample::now(), s)};
    }
  }
  return best;
}

std::vector<float> uniform(std::mt19937& rng, int64_t n, float lo, float hi) {
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = u(rng);
  return v;
}

// ---- 1. bounds -------------------------------------------------------------------------------

void print_bounds(int reps) {
  constexpr int64_t kN = 4096, kCalls = 2000;
  std::mt19937 rng(5);
  const std::vector<float> a = uniform(rng, kN, -1, 1), b = uniform(rng, kN, -1, 1);
  std::vector<float> out(kN);
  const auto run = [&](be::ElementwiseTanh which) {
    return [&, which] {
      for (int64_t c = 0; c < kCalls; ++c) be::score_tanh_elements(which, a.data(), b.data(), kN, out.data());
    };
  };
  const std::vector<Timing> t = time_interleaved(
      {run(be::ElementwiseTanh::direct), run(be::ElementwiseTanh::identity), run(be::ElementwiseTanh::precise)}, reps);
  const double per = 1e6 / (kN * kCalls);
  std::printf("\n### Tanh throughput bounds (one thread, %lld floats in L1, min of %d blocks of %lld calls)\n\n",
              static_cast<long long>(kN), reps, static_cast<long long>(kCalls));
  std::printf("| evaluation | used by | ns/element | oth |\n|---|---|---|---|\n");
  std::printf("| rational tanh(a + b) | direct path, per (i, j, d) | %.4f | %.2f |\n", t[0].ms * per, t[0].others);
  std::printf("| (ta + tb) / (1 + ta tb) | identity path, per (i, j, d) | %.4f | %.2f |\n", t[1].ms * per, t[1].others);
  std::printf("| precise tanh(x) | identity path, per (i, d) and (j, d) | %.4f | %.2f |\n", t[2].ms * per, t[2].others);
}

// ---- 2. speed --------------------------------------------------------------------------------

struct Inputs {
  md::Tensor q, k, v, scale, d_scores;
};

Inputs make_inputs(const Shape& s, float range) {
  return {md::random::uniform({s.b, s.tq, s.d}, -range, range, 1), md::random::uniform({s.b, s.tv, s.d}, -range, range, 2),
          md::random::uniform({s.b, s.tv, s.d}, -1.0f, 1.0f, 3), md::random::uniform({s.d}, -0.5f, 0.5f, 4),
          md::random::uniform({s.b, s.tq, s.tv}, -1.0f, 1.0f, 5)};
}

void fwd_bwd(const Inputs& in) {
  md::GradientTape tape;
  for (const md::Tensor& t : {in.q, in.k, in.v, in.scale}) tape.watch(t);
  md::Tensor out = md::ops::additive_attention(in.q, in.k, in.v, in.scale).first;
  (void)tape.gradient(md::ops::sum(out), std::vector<md::Tensor>{in.q, in.k, in.v, in.scale});
}

// fn under `mode`, restoring guarded.
std::function<void()> in_mode(be::ScoreTanhMode mode, std::function<void()> fn) {
  return [mode, fn] {
    be::set_score_tanh_mode(mode);
    fn();
    be::set_score_tanh_mode(be::ScoreTanhMode::guarded);
  };
}

void print_speed(const std::vector<int>& threads, const std::vector<size_t>& shapes, int reps) {
  std::printf("\n### Score kernels and the whole op, old (direct) vs new (guarded); min of %d, interleaved\n\n", reps);
  std::printf("| q, k | thr | (B,Tq,Tv,D) | pass | old ms | new ms | speed-up | old ns/elem | new ns/elem | oth old / new |\n");
  std::printf("|---|---|---|---|---|---|---|---|---|---|\n");
  for (const float range : {1.0f, 5.0f}) {
    for (const int t : threads) {
      md::set_num_threads(t);
      for (const size_t si : shapes) {
        const Shape& s = kShapes[si];
        if (range > 1.0f && si != 0 && si != 2) continue;  // the fallback's cost: two shapes suffice
        const Inputs in = make_inputs(s, range);
        const be::AdditiveScoresProblem p{.batch = s.b, .tq = s.tq, .tv = s.tv, .dim = s.d, .query = in.q.data(),
                                          .key = in.k.data(), .scale = in.scale.data()};
        md::Tensor scores = md::Tensor::empty({s.b, s.tq, s.tv}), dq = md::Tensor::empty(in.q.shape()),
                   dk = md::Tensor::empty(in.k.shape()), ds = md::Tensor::empty(in.scale.shape());
        const std::function<void()> fwd = [&] { be::additive_scores_forward(p, scores.mutable_data()); };
        const std::function<void()> bwd = [&] {
          be::additive_scores_backward(p, in.d_scores.data(), dq.mutable_data(), dk.mutable_data(), ds.mutable_data());
        };
        const std::function<void()> op = [&] { fwd_bwd(in); };
        std::fprintf(stderr, "range %g, %d threads, %s...\n", range, t, s.str().c_str());
        const std::pair<const char*, std::function<void()>> passes[] = {
            {"kernel fwd", fwd}, {"kernel bwd", bwd}, {"op fwd+bwd", op}};
        for (const auto& [name, fn] : passes) {
          const std::vector<Timing> r =
              time_interleaved({in_mode(be::ScoreTanhMode::direct, fn), in_mode(be::ScoreTanhMode::guarded, fn)}, reps);
          const double per = 1e6 * t / s.elements();
          std::printf("| U(-%g,%g) | %d | %s | %s | %.3f | %.3f | %.2fx | %.3f | %.3f | %.2f / %.2f |\n", range, range,
                      t, s.str().c_str(), name, r[0].ms, r[1].ms, r[0].ms / r[1].ms, r[0].ms * per, r[1].ms * per,
                      r[0].others, r[1].others);
        }
      }
    }
  }
}

// ---- 3. accuracy -----------------------------------------------------------------------------

struct Family {
  const char* name;
  // q and k values for element index (row or key), feature d.
  std::function<void(std::mt19937&, std::vector<float>&, std::vector<float>&, int64_t dim)> make;
};

// q, k ~ U(-r, r) independently.
Family uniform_family(const char* name, float r) {
  return {name, [r](std::mt19937& rng, std::vector<float>& q, std::vector<float>& k, int64_t) {
            std::uniform_real_distribution<float> u(-r, r);
            for (float& x : q) x = u(rng);
            for (float& x : k) x = u(rng);
          }};
}

std::vector<Family> families() {
  return {uniform_family("U(-1,1)", 1), uniform_family("U(-5,5)", 5), uniform_family("U(-20,20)", 20),
          // a ~ -b, both large: per feature, q = s m and k = -s m' with a sign s per feature and
          // magnitudes m, m' ~ U(2, 3) (sums in (-1, 1), cancelling), or for the elementwise
          // case (dim 1) a sign per element.
          {"adversarial a~-b, |a|,|b| in [2,3]",
           [](std::mt19937& rng, std::vector<float>& q, std::vector<float>& k, int64_t dim) {
             std::uniform_real_distribution<float> m(2.0f, 3.0f);
             std::bernoulli_distribution coin;
             std::vector<float> sign(static_cast<size_t>(dim == 1 ? q.size() : dim));
             for (float& x : sign) x = coin(rng) ? 1.0f : -1.0f;
             for (size_t i = 0; i < q.size(); ++i) q[i] = sign[dim == 1 ? i : i % dim] * m(rng);
             for (size_t i = 0; i < k.size(); ++i) k[i] = -sign[dim == 1 ? i : i % dim] * m(rng);
           }},
          // the guard's edge: |q| <= 1 lets the identity run for any k
          {"q ~ U(-1,1), k ~ U(-20,20)", [](std::mt19937& rng, std::vector<float>& q, std::vector<float>& k, int64_t) {
             std::uniform_real_distribution<float> small(-1.0f, 1.0f), large(-20.0f, 20.0f);
             for (float& x : q) x = small(rng);
             for (float& x : k) x = large(rng);
           }}};
}

// max |got - ref| / max |ref| (or the max |got - ref| when `absolute`); NaN if got has one.
double error_of(const std::vector<float>& got, const std::vector<double>& ref, bool absolute = false) {
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::isnan(got[i])) return std::nan("");
    num = std::max(num, std::fabs(got[i] - ref[i]));
    den = std::max(den, std::fabs(ref[i]));
  }
  return absolute || den == 0 ? num : num / den;
}

constexpr be::ScoreTanhMode kModes[] = {be::ScoreTanhMode::direct, be::ScoreTanhMode::guarded,
                                        be::ScoreTanhMode::identity};

void print_accuracy() {
  std::printf("\n### Accuracy against float64: elementwise (D = 1, one key per row; max abs error)\n\n");
  std::printf("| family | mode | t = tanh(q + k) | 1 - t^2 |\n|---|---|---|---|\n");
  constexpr int64_t kPairs = 1 << 20;
  for (const Family& f : families()) {
    std::mt19937 rng(11);
    std::vector<float> q(kPairs), k(kPairs);
    f.make(rng, q, k, 1);
    std::vector<double> ref_t(kPairs), ref_g(kPairs);
    for (int64_t i = 0; i < kPairs; ++i) {
      ref_t[i] = std::tanh(static_cast<double>(q[i]) + k[i]);
      ref_g[i] = 1.0 - ref_t[i] * ref_t[i];
    }
    const std::vector<float> ones(kPairs, 1.0f);
    const be::AdditiveScoresProblem p{.batch = kPairs, .tq = 1, .tv = 1, .dim = 1, .query = q.data(), .key = k.data()};
    for (const be::ScoreTanhMode mode : kModes) {
      be::set_score_tanh_mode(mode);
      std::vector<float> t(kPairs), g(kPairs);
      be::additive_scores_forward(p, t.data());
      be::additive_scores_backward(p, ones.data(), g.data(), nullptr, nullptr);
      std::printf("| %s | %s | %.3e | %.3e |\n", f.name, be::score_tanh_mode_name(mode), error_of(t, ref_t, true),
                  error_of(g, ref_g, true));
    }
  }

  const Shape s{4, 32, 160, 64};
  std::printf("\n### Accuracy against float64: %s, max|got - ref| / max|ref| per output\n\n", s.str().c_str());
  std::printf("| family | mode | scores | dq | dk | dscale |\n|---|---|---|---|---|---|\n");
  for (const Family& f : families()) {
    std::mt19937 rng(12);
    std::vector<float> q(s.b * s.tq * s.d), k(s.b * s.tv * s.d);
    f.make(rng, q, k, s.d);
    const std::vector<float> scale = uniform(rng, s.d, -1.5f, 1.5f), g0 = uniform(rng, s.b * s.tq * s.tv, -1, 1);
    std::vector<double> scores(s.b * s.tq * s.tv), dq(q.size()), dk(k.size()), ds(s.d);
    for (int64_t b = 0; b < s.b; ++b) {
      for (int64_t i = 0; i < s.tq; ++i) {
        for (int64_t j = 0; j < s.tv; ++j) {
          const int64_t o = (b * s.tq + i) * s.tv + j;
          for (int64_t d = 0; d < s.d; ++d) {
            const int64_t qi = (b * s.tq + i) * s.d + d, ki = (b * s.tv + j) * s.d + d;
            const double t = std::tanh(static_cast<double>(q[qi]) + k[ki]), g = g0[o] * (1.0 - t * t) * scale[d];
            scores[o] += scale[d] * t;
            dq[qi] += g;
            dk[ki] += g;
            ds[d] += g0[o] * t;
          }
        }
      }
    }
    const be::AdditiveScoresProblem p{.batch = s.b, .tq = s.tq, .tv = s.tv, .dim = s.d, .query = q.data(),
                                      .key = k.data(), .scale = scale.data()};
    for (const be::ScoreTanhMode mode : kModes) {
      be::set_score_tanh_mode(mode);
      std::vector<float> out(scores.size()), gq(q.size()), gk(k.size()), gs(s.d);
      be::additive_scores_forward(p, out.data());
      be::additive_scores_backward(p, g0.data(), gq.data(), gk.data(), gs.data());
      std::printf("| %s | %s | %.3e | %.3e | %.3e | %.3e |\n", f.name, be::score_tanh_mode_name(mode),
                  error_of(out, scores), error_of(gq, dq), error_of(gk, dk), error_of(gs, ds));
    }
  }
  be::set_score_tanh_mode(be::ScoreTanhMode::guarded);
}

// "1,2" -> {1, 2}; {} on anything else.
std::vector<int> parse_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (item.empty() || item.find_first_not_of("0123456789") != std::string::npos) return {};
    out.push_back(std::stoi(item));
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int> threads = {1, 2};
  std::vector<size_t> shapes = {0, 1, 2, 3};
  int reps = 7;
  bool speed = true, accuracy = true;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--threads" && i + 1 < argc) {
      threads = parse_list(argv[++i]);
    } else if (a == "--shapes" && i + 1 < argc) {
      shapes.clear();
      for (const int v : parse_list(argv[++i])) {
        if (v < 0 || v > 3) return 2;
        shapes.push_back(static_cast<size_t>(v));
      }
    } else if (a == "--reps" && i + 1 < argc) {
      reps = std::max(1, std::atoi(argv[++i]));
    } else if (a == "--no-speed") {
      speed = false;
    } else if (a == "--no-accuracy") {
      accuracy = false;
    } else {
      std::fprintf(stderr, "usage: tanh_kernel_bench [--threads 1,2] [--reps 7] [--shapes 0,1,2,3] [--no-speed] "
                           "[--no-accuracy]\n");
      return 2;
    }
  }
  const std::time_t now = std::time(nullptr);
  char date[64];
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  std::printf("tanh_kernel_bench: %s, load average %.2f, kernel path %s\n", date, bench::load_average(),
              be::kernel_path_name(be::active_kernel_path()));
  if (speed) {
    print_bounds(reps);
    print_speed(threads, shapes, reps);
  }
  if (accuracy) print_accuracy();
  std::printf("\nload average at the end: %.2f\n", bench::load_average());
  return 0;
}
