// The primitive cache: a second identical call is a hit, and no primitive that actually runs
// is one of oneDNN's slow ref:* implementations (PERF-RESEARCH.md, section 0).
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "test_helpers.h"

namespace {

using md::backend::BinaryOp;
using md::backend::EltwiseOp;
using md::backend::ReduceOp;

std::string describe_entries() {
  std::ostringstream out;
  for (const auto& e : md::backend::primitive_cache_entries()) {
    out << (e.used ? "  used   " : "  unused ") << e.impl << "  <- " << e.key << "\n";
  }
  return out.str();
}

// Runs `op` twice; the second run must only hit the cache.
template <class Op>
void check_second_call_hits(const std::string& what, Op&& op) {
  op();
  const auto before = md::backend::primitive_cache_stats();
  op();
  const auto after = md::backend::primitive_cache_stats();
  INFO(what << ": hits " << before.hits << " -> " << after.hits << ", misses " << before.misses << " -> "
            << after.misses << ", entries " << before.entries << " -> " << after.entries);
  CHECK(after.hits > before.hits);
  CHECK(after.misses == before.misses);
  CHECK(after.entries == before.entries);
}

}  // namespace

TEST_CASE("a second identical call hits the primitive cache", "[backend][cache]") {
  std::mt19937 rng(1);
  const md::Tensor m1 = mdt::random_tensor(rng, {100, 120}), m2 = mdt::random_tensor(rng, {120, 90});
  const md::Tensor x = mdt::random_tensor(rng, {64, 256}), row = mdt::random_tensor(rng, {256});
  const md::Tensor t3 = mdt::random_tensor(rng, {4, 8, 16});
  check_second_call_hits("matmul", [&] { md::compute::matmul(m1, m2); });
  check_second_call_hits("binary add row", [&] { md::compute::binary(BinaryOp::add, x, row); });
  check_second_call_hits("binary mul same shape", [&] { md::compute::binary(BinaryOp::mul, x, x); });
  check_second_call_hits("eltwise tanh", [&] { md::compute::eltwise(EltwiseOp::tanh, x); });
  check_second_call_hits("eltwise backward gelu",
                         [&] { md::compute::eltwise_backward(EltwiseOp::gelu, x, md::Tensor(), x); });
  check_second_call_hits("softmax", [&] { md::compute::softmax(x, -1); });
  check_second_call_hits("softmax backward", [&] { md::compute::softmax_backward(x, x, -1); });
  check_second_call_hits("reduce sum rows", [&] { md::compute::reduce(ReduceOp::sum, x, {1}); });
  check_second_call_hits("transpose", [&] { md::compute::transpose(t3, {0, 2, 1}); });
  // A different shape is a new entry.
  const auto before = md::backend::primitive_cache_stats();
  md::compute::eltwise(EltwiseOp::tanh, row);
  const auto after = md::backend::primitive_cache_stats();
  CHECK(after.misses == before.misses + 1);
  CHECK(after.entries == before.entries + 1);
}

TEST_CASE("clear_primitive_cache empties the cache and its counters", "[backend][cache]") {
  md::compute::eltwise(EltwiseOp::exp, md::Tensor::ones({5}));
  CHECK(md::backend::primitive_cache_stats().entries > 0);
  md::backend::clear_primitive_cache();
  const auto cleared = md::backend::primitive_cache_stats();
  CHECK(cleared.entries == 0);
  CHECK(cleared.hits == 0);
  CHECK(cleared.misses == 0);
  CHECK(md::backend::primitive_cache_entries().empty());
  // And works again afterwards.
  CHECK(md::compute::eltwise(EltwiseOp::exp, md::Tensor::zeros({5})).to_vector() == std::vector<float>(5, 1.0f));
  CHECK(md::backend::primitive_cache_stats().entries == 1);
}

TEST_CASE("no hot primitive runs a ref: implementation", "[backend][cache]") {
  md::backend::clear_primitive_cache();
  std::mt19937 rng(2);
  const md::Tensor a = mdt::random_tensor(rng, {256, 128}), b = mdt::random_tensor(rng, {128, 192});
  const md::Tensor x = mdt::random_tensor(rng, {64, 256}, 0.1f, 2.0f);
  const md::Tensor row = mdt::random_tensor(rng, {1, 256}), col = mdt::random_tensor(rng, {64, 1});
  const md::Tensor x3 = mdt::random_tensor(rng, {8, 64, 32});

  // matmul, big enough for the oneDNN primitive, with every transpose and a batch.
  md::compute::matmul(a, b);
  md::compute::matmul(a, a, true, false);
  md::compute::matmul(b, b, false, true);
  md::compute::matmul(x3, md::compute::transpose(x3, {0, 2, 1}));
  std::vector<float> acc(256 * 192, 0.0f);
  md::backend::matmul(a.data(), {256, 128}, false, b.data(), {128, 192}, false, acc.data(), {256, 192}, true);
  // binary: same shape, row broadcast, column broadcast, scalar, and broadcasts on src0.
  for (BinaryOp op : {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::max, BinaryOp::min,
                      BinaryOp::eq, BinaryOp::ne, BinaryOp::lt, BinaryOp::le, BinaryOp::gt, BinaryOp::ge}) {
    md::compute::binary(op, x, x);
    md::compute::binary(op, x, row);
    md::compute::binary(op, x, col);
    md::compute::binary(op, x, 2.0f);
    md::compute::binary(op, row, x);
    md::compute::binary(op, col, x);
    md::compute::binary(op, row, col);
  }
  // every eltwise op, forward and backward.
  for (EltwiseOp op : {EltwiseOp::tanh, EltwiseOp::exp, EltwiseOp::log, EltwiseOp::relu, EltwiseOp::sigmoid,
                       EltwiseOp::sqrt, EltwiseOp::abs, EltwiseOp::square, EltwiseOp::gelu, EltwiseOp::gelu_tanh,
                       EltwiseOp::soft_relu, EltwiseOp::linear, EltwiseOp::clip, EltwiseOp::pow}) {
    const float alpha = op == EltwiseOp::clip ? -1.0f : 0.5f, beta = op == EltwiseOp::clip ? 1.0f : 2.0f;
    const md::Tensor y = md::compute::eltwise(op, x, alpha, beta);
    md::compute::eltwise_backward(op, x, y, x, alpha, beta);
  }
  md::compute::eltwise(EltwiseOp::relu, x, 0.1f);  // leaky
  // softmax on the innermost axis (oneDNN) and another axis (our loop).
  for (bool log : {false, true}) {
    const md::Tensor s = md::compute::softmax(x, -1, log);
    md::compute::softmax_backward(s, x, -1, log);
    md::compute::softmax(x3, 1, log);
  }
  // reductions: innermost, outer 2-D, middle, everything.
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min}) {
    md::compute::reduce(op, x, {1});
    md::compute::reduce(op, x, {0});
    md::compute::reduce(op, x3, {1});
    md::compute::reduce(op, x3, {0, 2});
    md::compute::reduce(op, x);
  }
  // permute: 2-D transpose and a batch of 2-D transposes.
  md::compute::transpose(x);
  md::compute::transpose(x3, {0, 2, 1});
  md::compute::transpose(x3, {2, 1, 0});

  const auto entries = md::backend::primitive_cache_entries();
  INFO("primitive cache entries:\n" << describe_entries());
  CHECK(entries.size() > 20);
  int used = 0;
  for (const auto& e : entries) {
    if (!e.used) continue;
    ++used;
    INFO(e.key << " runs " << e.impl);
    CHECK(e.impl.rfind("ref", 0) != 0);
  }
  CHECK(used > 20);
}
