#pragma once
// Fused kernels for additive (Bahdanau/Keras) attention scores, forward and backward. They
// never materialise the (batch, Tq, Tv, dim) tensor that a composition of generic ops needs:
// tanh(q + k) is computed in registers, one (b, i) query row at a time, and recomputed in the
// backward pass. Masks are folded into the score writer. Two implementations are always built:
// AVX-512 (chosen at run time when the CPU has it) and a portable vectorised one.
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
