// Products on column blocks of wider matrices (backend.h, "strided products"): MultiHeadAttention's
// packed q/k/v projection and its gradients run one product per block of the packed matrix, in
// place, instead of one product of the whole width.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <exception>
#include <numeric>
#include <stdexcept>
#include <string>

#include "minidl/core/backend/backend.h"
#include "minidl/core/backend/detail/dnnl_context.h"
#include "minidl/core/backend/detail/loops.h"
#include "minidl/core/backend/detail/matmul_thresholds.h"

namespace minidl::backend {
namespace {

// backend::matmul's thresholds: cblas_sgemm below the first, one thread below the second.
using detail::kSingleThreadGemmWork;
using detail::kSmallGemmWork;

bool transposed(const StridedOperand& x) { return x.col != 1; }
int64_t leading(const StridedOperand& x) { return transposed(x) ? x.col : x.row; }

void check(const StridedOperand& x, const char* name) {
  if (x.col != 1 && x.row != 1) {
    throw std::invalid_argument(std::string("strided_matmul: operand ") + name + " has no unit stride");
  }
}

// cblas_sgemm on the same operands (small products; the fallback for a reference primitive).
void blas_product(int64_t m, int64_t n, int64_t k, const StridedOperand& a, const StridedOperand& b, const float* bias,
                  float* c, int64_t ldc, bool accumulate) {
  float beta = accumulate ? 1.0f : 0.0f;
  if (bias != nullptr) {
    for (int64_t i = 0; i < m; ++i) {
      float* row = c + i * ldc;
      for (int64_t j = 0; j < n; ++j) row[j] = (accumulate ? row[j] : 0.0f) + bias[j];
    }
    beta = 1.0f;
  }
  cblas_sgemm(CblasRowMajor, transposed(a) ? CblasTrans : CblasNoTrans, transposed(b) ? CblasTrans : CblasNoTrans,
              static_cast<int>(m), static_cast<int>(n), static_cast<int>(k), 1.0f, a.data,
              static_cast<int>(leading(a)), b.data, static_cast<int>(leading(b)), beta, c, static_cast<int>(ldc));
}

void product(int64_t m, int64_t n, int64_t k, StridedOperand a, StridedOperand b, const float* bias, float* c,
             int64_t ldc, bool accumulate, bool one_thread) {
  check(a, "a");
  check(b, "b");
  if (m == 0 || n == 0) return;
  if (k == 0 || m * n * k <= kSmallGemmWork) {
    if (k == 0) {
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < n; ++j) {
          float& out = c[i * ldc + j];
          out = (accumulate ? out : 0.0f) + (bias != nullptr ? bias[j] : 0.0f);
        }
      }
      return;
    }
    blas_product(m, n, k, a, b, bias, c, ldc, accumulate);
    return;
  }
  const detail::OneThreadScope single(one_thread || m * n * k <= kSingleThreadGemmWork);
  const Dims a_strides = {a.row, a.col}, b_strides = {b.row, b.col}, c_strides = {ldc, 1};
  const std::string key = detail::KeyBuilder("strided_matmul")
                              .add(Dims{m, k, n})
                              .add(a_strides)
                              .add(b_strides)
                              .add(ldc)
                              .add(bias != nullptr ? "bias" : "no_bias")
                              .add(accumulate ? "accumulate" : "overwrite")
                              .str();
  auto arguments = [&] {
    std::vector<detail::ArgumentDesc> args = {{DNNL_ARG_SRC, detail::strided_desc({m, k}, a_strides)},
                                              {DNNL_ARG_WEIGHTS, detail::strided_desc({k, n}, b_strides)}};
    if (bias != nullptr) args.push_back({DNNL_ARG_BIAS, detail::dense_desc({1, n})});
    args.push_back({DNNL_ARG_DST, detail::strided_desc({m, n}, c_strides)});
    return args;
  };
  const auto& entry = detail::thread_primitive(
      key,
      [&] {
        const auto args = arguments();
        dnnl::primitive_attr attr;
        if (accumulate) {
          dnnl::post_ops ops;
          ops.append_sum(1.0f);
          attr.set_post_ops(ops);
        }
        if (bias != nullptr) {
          return dnnl::matmul::primitive_desc(dnnl::matmul::desc(args[0].desc, args[1].desc, args[2].desc, args[3].desc),
                                              attr, detail::engine());
        }
        return dnnl::matmul::primitive_desc(dnnl::matmul::desc(args[0].desc, args[1].desc, args[2].desc), attr,
                                            detail::engine());
      },
      arguments);
  if (entry.is_reference()) {
    detail::mark_unused(key);
    blas_product(m, n, k, a, b, bias, c, ldc, accumulate);
    return;
  }
  if (bias != nullptr) {
    entry.run({a.data, b.data, bias, c});
  } else {
    entry.run({a.data, b.data, c});
  }
}

double work(const StridedProduct& p) { return static_cast<double>(p.m) * static_cast<double>(p.n) * static_cast<double>(p.k); }

// Chains dealt to `threads` threads, largest first to the least loaded; empty when the busiest
// thread would carry more than 1/8 above the mean (then the team runs each product instead).
std::vector<std::vector<int>> deal_chains(const std::vector<StridedProduct>& products, int threads) {
  std::vector<int> chains;
  std::vector<double> chain_work;
  for (const StridedProduct& p : products) {
    auto at = std::find(chains.begin(), chains.end(), p.chain);
    if (at == chains.end()) {
      chains.push_back(p.chain);
      chain_work.push_back(0.0);
      at = chains.end() - 1;
    }
    chain_work[static_cast<size_t>(at - chains.begin())] += work(p);
  }
  if (static_cast<int>(chains.size()) < threads) return {};
  std::vector<size_t> order(chains.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) { return chain_work[x] > chain_work[y]; });
  std::vector<std::vector<int>> dealt(static_cast<size_t>(threads));
  std::vector<double> load(static_cast<size_t>(threads), 0.0);
  double total = 0.0;
  for (size_t c : order) {
    const auto least = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    dealt[least].push_back(chains[c]);
    load[least] += chain_work[c];
    total += chain_work[c];
  }
  if (*std::max_element(load.begin(), load.end()) > 1.125 * total / threads) return {};
  return dealt;
}

void run(const StridedProduct& p, bool one_thread) {
  product(p.m, p.n, p.k, p.a, p.b, p.bias, p.c, p.ldc, p.accumulate, one_thread);
}

}  // namespace

void strided_matmul(int64_t m, int64_t n, int64_t k, StridedOperand a, StridedOperand b, const float* bias, float* c,
                    int64_t ldc, bool accumulate) {
  detail::ensure_initialized();
  product(m, n, k, a, b, bias, c, ldc, accumulate, false);
}

void strided_matmuls(const std::vector<StridedProduct>& products) {
  detail::ensure_initialized();
  const int threads = omp_get_max_threads();
  double total = 0.0;
  for (const StridedProduct& p : products) total += work(p);
  // Below about two single-thread matmuls' worth the team's split is as good and costs no region.
  const bool worth = threads > 1 && !omp_in_parallel() && total > 2.0 * kSingleThreadGemmWork;
  const std::vector<std::vector<int>> dealt = worth ? deal_chains(products, threads) : std::vector<std::vector<int>>{};
  if (dealt.empty()) {
    for (const StridedProduct& p : products) run(p, false);
    return;
  }
  // Exceptions (a failing primitive) cannot leave an OpenMP region: the first is kept and rethrown.
  std::exception_ptr failure;
#pragma omp parallel num_threads(threads)
  {
    const auto mine = static_cast<size_t>(omp_get_thread_num());
    // A smaller team than asked for (the runtime may give one): its first thread runs everything.
    const bool whole_team = omp_get_num_threads() == threads;
    try {
      for (const StridedProduct& p : products) {
        if (!whole_team) {
          if (mine == 0) run(p, true);
        } else if (std::find(dealt[mine].begin(), dealt[mine].end(), p.chain) != dealt[mine].end()) {
          run(p, true);
        }
      }
    } catch (...) {
#pragma omp critical(minidl_strided_matmuls)
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace minidl::backend
