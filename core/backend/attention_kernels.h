#pragma once
// Fused kernels for additive (Bahdanau/Keras) attention scores, forward and backward. They
// never materialise the (batch, Tq, Tv, dim) tensor that a composition of generic ops needs:
// tanh(q + k) is computed in registers, one (b, i) query row at a time, and recomputed in the
// backward pass. Masks are folded into the score writer. Three implementations are always built:
// AVX-512 and AVX2 + FMA (chosen at run time when the CPU has them) and a portable vectorised one.
// Where q and k are small enough, tanh(q + k) comes from tanh(q) and tanh(k) (ScoreTanhMode).
//
//   md::backend::AdditiveScoresProblem p{.batch = B, .tq = Tq, .tv = Tv, .dim = D,
//                                        .query = q, .key = k, .scale = s};
//   md::backend::additive_scores_forward(p, scores);              // scores: (B, Tq, Tv)
//   md::backend::additive_scores_backward(p, d_scores, dq, dk, ds);
#include <cstdint>
#include <vector>

namespace minidl::backend {

struct AdditiveScoresProblem {
  int64_t batch = 0, tq = 0, tv = 0, dim = 0;
  const float* query = nullptr;       // (batch, tq, dim), row-major
  const float* key = nullptr;         // (batch, tv, dim)
  const float* scale = nullptr;       // (dim), or nullptr for all ones
  const float* value_mask = nullptr;  // (batch, tv): 0 = masked key, anything else = kept; nullptr = none
  bool causal = false;                // key j is masked for query i when j > i
};

// scores[b,i,j] = sum_d scale[d] * tanh(q[b,i,d] + k[b,j,d]), minus 1e9 where masked (Keras's
// constant). In a row that keeps at least one key, masked entries get exactly -1e9 without
// computing their tanh (their softmax weight is 0 either way); a fully masked row computes
// every entry and subtracts 1e9, so that softmax gives Keras's uniform row.
void additive_scores_forward(const AdditiveScoresProblem& problem, float* scores);

// From d_scores (batch, tq, tv) — the gradient w.r.t. the masked scores, which is zero at the
// masked entries of any row that keeps a key — writes
//   dq[b,i,d]  = sum_j d_scores[b,i,j] * scale[d] * (1 - t^2)
//   dk[b,j,d]  = sum_i d_scores[b,i,j] * scale[d] * (1 - t^2)
//   dscale[d]  = sum_{b,i,j} d_scores[b,i,j] * t          (t = tanh(q[b,i,d] + k[b,j,d]))
// overwriting dq, dk and dscale. dscale may be nullptr (not wanted); dq or dk likewise.
void additive_scores_backward(const AdditiveScoresProblem& problem, const float* d_scores, float* dq, float* dk,
                              float* dscale);

// How the kernels evaluate tanh(q + k).
//   guarded  (the default) per (query row, tile of 64 keys): the identity
//            tanh(a + b) = (tanh a + tanh b) / (1 + tanh a tanh b) from tanh(q) and tanh(k)
//            computed once per call (Tq*D + Tv*D tanh instead of Tq*Tv*D), where it is at least as
//            accurate as the direct path, else the direct path (attention_kernels.cpp: the guard);
//   direct   every tanh(q + k) by the rational tanh (the kernels before the identity path);
//   identity the identity everywhere, unguarded: inaccurate where q and k are both large and of
//            opposite signs. For accuracy comparisons only.
// Tests and benchmarks switch modes to compare them; it applies to every later call.
enum class ScoreTanhMode { guarded, direct, identity };
void set_score_tanh_mode(ScoreTanhMode mode);
ScoreTanhMode score_tanh_mode();
const char* score_tanh_mode_name(ScoreTanhMode mode);  // "guarded", "direct", "identity"

// The active kernel path's elementwise tanh evaluations, for accuracy tests and the tanh
// microbenchmark (bench/tanh_kernel_bench.cpp):
//   direct   out = tanh(a + b) by the rational tanh of the direct path
//   precise  out = tanh(a), as the identity path precomputes tanh(q) and tanh(k) (b unused)
//   identity out = (a + b) / (1 + a b) with a, b the tanh of the summands, as the identity path
enum class ElementwiseTanh { direct, precise, identity };
void score_tanh_elements(ElementwiseTanh which, const float* a, const float* b, int64_t n, float* out);

// Which implementation the fused kernels run. Tests and benchmarks pin one; `automatic` uses
// AVX-512 when the CPU supports it, else AVX2 + FMA when it has those, else the portable path.
enum class KernelPath { automatic, avx512, avx2, portable };
// Throws std::runtime_error for a path this CPU cannot run.
void set_kernel_path(KernelPath path);
KernelPath active_kernel_path();  // the resolved path: avx512, avx2 or portable
const char* kernel_path_name(KernelPath path);  // "automatic", "avx512", "avx2", "portable"
bool cpu_has_avx512();
bool cpu_has_avx2_fma();
// Every path this CPU can run, fastest first (what the tests run everything on).
std::vector<KernelPath> supported_kernel_paths();

}  // namespace minidl::backend
