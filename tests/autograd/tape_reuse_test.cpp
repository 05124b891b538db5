// The tape's recycled storage: op records go back to a per-thread free list when the last tape
// holding them drops them, and are refilled in place for later ops (autograd/tape_record.cpp);
// the per-id tables of tapes and gradient() calls are leased and reset (tape_id_table.cpp).
// A recycled record must describe only its new op: its arity, its inputs' shapes and ranks, what
// it saved.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"
#include "minidl/autograd/detail/tape_id_table.h"

namespace md = minidl;
using md::autograd::detail::TensorIdTable;

TEST_CASE("records recycled from other ops describe only their new op", "[autograd][tape]") {
  // First fill the free list with records of two-input ops on matrices.
  {
    const md::Tensor a = md::random::normal({3, 4}, 0.0f, 1.0f, 1);
    const md::Tensor b = md::random::normal({3, 4}, 0.0f, 1.0f, 2);
    md::GradientTape tape;
    tape.watch(a);
    tape.watch(b);
    const md::Tensor y = md::ops::sum(md::ops::multiply(md::ops::add(a, b), md::ops::subtract(a, b)));
    const std::vector<md::Tensor> g = tape.gradient(y, {a, b});
    agt::check_close(g[0], md::ops::multiply(a, 2.0f), 1e-5, "d(a^2 - b^2)/da");
    agt::check_close(g[1], md::ops::multiply(b, -2.0f), 1e-5, "d(a^2 - b^2)/db");
  }
  // Then ops of other arities and ranks: one input of rank 3, three inputs (where), a scalar.
  const md::Tensor x = md::random::normal({2, 3, 2}, 0.0f, 1.0f, 3);
  const md::Tensor c = md::ops::greater(md::random::normal({2, 3, 2}, 0.0f, 1.0f, 4), md::Tensor::scalar(0.0f));
  const md::Tensor s = md::Tensor::scalar(1.5f);
  md::GradientTape tape;
  tape.watch(x);
  tape.watch(s);
  const md::Tensor y = md::ops::sum(md::ops::where(c, md::ops::square(x), md::ops::multiply(x, s)));
  const std::vector<md::Tensor> g = tape.gradient(y, {x, s});
  // where c: d x^2 = 2x; elsewhere d (s x) = s; and d/ds = sum of x where !c.
  const md::Tensor expected_dx = md::ops::where(c, md::ops::multiply(x, 2.0f), md::Tensor::full(x.shape(), 1.5f));
  const md::Tensor expected_ds = md::ops::sum(md::ops::where(c, md::Tensor::zeros(x.shape()), x));
  agt::check_close(g[0], expected_dx, 1e-5, "dx through recycled records");
  agt::check_close(g[1], expected_ds, 1e-5, "ds through recycled records");
  CHECK(g[0].shape() == x.shape());
  CHECK(g[1].shape() == md::Shape{});
}

TEST_CASE("a persistent tape keeps its records while other tapes recycle theirs", "[autograd][tape]") {
  const md::Tensor x = md::random::normal({4}, 0.0f, 1.0f, 5);
  md::GradientTape persistent(/*persistent=*/true);
  persistent.watch(x);
  const md::Tensor y = md::ops::sum(md::ops::tanh(x));
  const md::Tensor first = persistent.gradient(y, {x})[0];
  for (int i = 0; i < 20; ++i) {  // other tapes record and drop records meanwhile
    md::GradientTape other;
    other.watch(x);
    const md::Tensor z = md::ops::sum(md::ops::multiply(md::ops::exp(x), md::ops::sigmoid(x)));
    CHECK(other.gradient(z, {x})[0].defined());
  }
  const md::Tensor second = persistent.gradient(y, {x})[0];
  agt::check_close(second, first, 0.0, "the persistent tape's gradient, again");
  const md::Tensor t = md::ops::tanh(x);
  agt::check_close(first, md::ops::subtract(md::Tensor::scalar(1.0f), md::ops::square(t)), 1e-5, "d tanh");
}

TEST_CASE("a tape over a graph of tens of thousands of ops", "[autograd][tape]") {
  // 40,000 records: the gradient table grows far past its first size, and is given back after.
  const md::Tensor x = md::Tensor::from_vector({0.5f, -1.0f}, {2});
  md::GradientTape tape;
  tape.watch(x);
  md::Tensor y = x;
  for (int i = 0; i < 40000; ++i) y = md::ops::add(y, x);
  CHECK(tape.num_records() == 40000);
  const md::Tensor g = tape.gradient(md::ops::sum(y), {x})[0];
  agt::check_close(g, md::Tensor::from_vector({40001.0f, 40001.0f}, {2}), 0.0, "d sum(x * 40001)");
}

TEST_CASE("TensorIdTable: marks and tensors per id, growth, reset", "[autograd][tape]") {
  TensorIdTable::Lease table;
  table->prepare(4);
  CHECK_FALSE(table->marked(1));
  CHECK(table->tensor(1) == nullptr);
  CHECK_FALSE(table->marked(0));  // id 0 (an undefined input) is never in the table
  // Far more ids than prepared for: the table grows, and keeps what it held.
  for (uint64_t id = 1; id <= 5000; ++id) {
    if (id % 3 == 0) table->mark(id);
    if (id % 5 == 0) table->tensor_slot(id) = md::Tensor::scalar(static_cast<float>(id));
  }
  for (uint64_t id = 1; id <= 5000; ++id) {
    REQUIRE(table->marked(id) == (id % 3 == 0));
    const md::Tensor* t = table->tensor(id);
    REQUIRE((t != nullptr) == (id % 5 == 0));
    if (t != nullptr) REQUIRE(t->item() == static_cast<float>(id));
  }
  CHECK_FALSE(table->marked(5001));
  // An id with a slot whose tensor is still undefined has no tensor.
  table->tensor_slot(7001);
  CHECK(table->tensor(7001) == nullptr);
  table->reset();
  CHECK_FALSE(table->marked(3));
  CHECK(table->tensor(5) == nullptr);
  table->mark(9);
  CHECK(table->marked(9));
}

TEST_CASE("TensorIdTable leases: nested ones are distinct, returned ones come back empty", "[autograd][tape]") {
  {
    TensorIdTable::Lease outer;
    outer->mark(42);
    outer->tensor_slot(43) = md::Tensor::scalar(1.0f);
    TensorIdTable::Lease inner;
    CHECK(&*inner != &*outer);
    CHECK_FALSE(inner->marked(42));
  }
  TensorIdTable::Lease again;
  // Whichever spare it is, it holds nothing from before.
  CHECK_FALSE(again->marked(42));
  CHECK(again->tensor(43) == nullptr);
}
