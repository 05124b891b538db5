// GradientTape behaviour: persistence, watching, unconnected sources, stop_gradient,
// accumulation, output-gradient seeding, pausing, per-thread tapes and backward pruning.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <thread>

#include "autograd_helpers.h"

namespace md = minidl;

TEST_CASE("a persistent tape gives the same gradients on every call", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({0.5f, -1.0f, 2.0f}, {3});
  md::GradientTape tape(/*persistent=*/true);
  CHECK(tape.persistent());
  tape.watch(x);
  const md::Tensor y = md::ops::sum(md::ops::exp(x) * x);
  const size_t records = tape.num_records();
  const md::Tensor g1 = tape.gradient(y, {x})[0];
  const md::Tensor g2 = tape.gradient(y, {x})[0];
  const md::Tensor g3 = tape.gradient(y, {x})[0];
  std::vector<double> expected;
  for (float v : x.to_vector()) expected.push_back(std::exp(v) * (1 + v));
  agt::check_close(g1, expected, 1e-5, "first call", 1e-6);
  agt::check_close(g2, g1, 0.0, "second call");
  agt::check_close(g3, g1, 0.0, "third call");
  CHECK(tape.num_records() == records);  // the backward passes were not recorded on this tape
  // Different targets from the same persistent tape.
  const md::Tensor z = md::ops::sum(x * 2.0f);
  agt::check_close(tape.gradient(z, {x})[0], std::vector<double>{2, 2, 2}, 0.0, "another target");
}

TEST_CASE("a non-persistent tape allows one gradient call and then frees its records", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  md::GradientTape tape;
  CHECK_FALSE(tape.persistent());
  tape.watch(x);
  const md::Tensor y = md::ops::sum(x * x);
  CHECK(tape.num_records() == 2);
  agt::check_close(tape.gradient(y, {x})[0], std::vector<double>{2, 4}, 0.0, "gradient");
  CHECK(tape.num_records() == 0);
  // It records nothing more.
  const md::Tensor z = md::ops::sum(x * 3.0f);
  CHECK(tape.num_records() == 0);
  try {
    (void)tape.gradient(y, {x});
    FAIL("a second gradient() call on a non-persistent tape did not throw");
  } catch (const md::Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("non-persistent"));
  }
}

TEST_CASE("an unconnected source gets an undefined gradient", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  const md::Tensor unused = md::Tensor::from_vector({3, 4}, {2});
  md::GradientTape tape;
  tape.watch(x);
  tape.watch(unused);
  const md::Tensor y = md::ops::sum(md::ops::square(x));
  const auto g = tape.gradient(y, {x, unused, md::Tensor()});
  REQUIRE(g.size() == 3);
  CHECK(g[0].defined());
  CHECK_FALSE(g[1].defined());
  CHECK_FALSE(g[2].defined());
}

TEST_CASE("an unwatched tensor gets no gradient; the tape records nothing for it", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  md::GradientTape tape;
  const md::Tensor y = md::ops::sum(x * x);
  CHECK(tape.num_records() == 0);
  CHECK_FALSE(tape.gradient(y, {x})[0].defined());
}

TEST_CASE("an unwatched source gets no gradient even when a recorded op used it", "[autograd][tape]") {
  // As TensorFlow: x * w is recorded because w is watched, but x itself is not.
  md::Variable w(md::Tensor::from_vector({2, 3}, {2}), "w");
  const md::Tensor x = md::Tensor::from_vector({4, 5}, {2});
  md::GradientTape tape;
  const md::Tensor y = md::ops::sum(x * w.value());
  CHECK(tape.num_records() == 2);
  const auto g = tape.gradient(y, {x, w});
  CHECK_FALSE(g[0].defined());
  agt::check_close(g[1], std::vector<double>{4, 5}, 0.0, "d/dw");
}

TEST_CASE("ops before watch() are not recorded", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  md::GradientTape tape(/*persistent=*/true);
  const md::Tensor before = x * 2.0f;
  tape.watch(x);
  const md::Tensor after = x * 3.0f;
  CHECK_FALSE(tape.gradient(md::ops::sum(before), {x})[0].defined());
  agt::check_close(tape.gradient(md::ops::sum(after), {x})[0], std::vector<double>{3, 3}, 0.0, "after watch");
}

TEST_CASE("stop_gradient blocks the flow", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3}, {3});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  const md::Tensor s = md::stop_gradient(x * x);
  agt::check_close(s, std::vector<double>{1, 4, 9}, 0.0, "stop_gradient keeps the values");
  // y = x * stop(x^2): dy/dx = x^2 (the stopped factor counts as a constant)
  const md::Tensor y = md::ops::sum(x * s);
  agt::check_close(tape.gradient(y, {x})[0], std::vector<double>{1, 4, 9}, 0.0, "through one factor only");
  CHECK_FALSE(tape.gradient(md::ops::sum(s), {x})[0].defined());
  // The stopped tensor can be watched in its own right.
  md::GradientTape other;
  other.watch(s);
  const md::Tensor z = md::ops::sum(s * 2.0f);
  agt::check_close(other.gradient(z, {s})[0], std::vector<double>{2, 2, 2}, 0.0, "watching the stopped tensor");
}

TEST_CASE("stop_gradient on a variable's value", "[autograd][tape]") {
  md::Variable w(md::Tensor::from_vector({1, 2}, {2}), "w");
  md::GradientTape tape;
  const md::Tensor frozen = md::stop_gradient(w.value());
  CHECK(frozen.same_storage(w.value()));
  CHECK_FALSE(md::autograd::should_record(frozen));  // the new handle is not a trainable variable
  const md::Tensor y = md::ops::sum(frozen * w.value());
  agt::check_close(tape.gradient(y, {w})[0], std::vector<double>{1, 2}, 0.0, "one factor stopped");
}

TEST_CASE("gradients with respect to intermediate tensors", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor h = md::ops::exp(x);  // recorded outputs are watched by the tape
  const md::Tensor y = md::ops::sum(h * h);
  const auto g = tape.gradient(y, std::vector<md::GradSource>{h, x});
  const std::vector<float> hv = h.to_vector();
  agt::check_close(g[0], std::vector<double>{2 * hv[0], 2 * hv[1]}, 1e-5, "dy/dh = 2h");
  agt::check_close(g[1], std::vector<double>{2.0 * hv[0] * hv[0], 2.0 * hv[1] * hv[1]}, 1e-4, "dy/dx = 2h^2", 1e-6);
}

TEST_CASE("a variable used twice accumulates its gradients", "[autograd][tape]") {
  md::Variable w(md::Tensor::from_vector({1.0f, -2.0f, 0.5f}, {3}), "w");
  md::GradientTape tape;
  // y = w*w + w: dy/dw = 2w + 1
  const md::Tensor y = w.value() * w.value() + w.value();
  agt::check_close(tape.gradient(y, {w})[0], std::vector<double>{3, -3, 2}, 1e-6, "2w + 1");

  // Through two branches that join later: z = exp(w) * tanh(w)
  md::GradientTape tape2;
  const md::Tensor z = md::ops::sum(md::ops::exp(w.value()) * md::ops::tanh(w.value()));
  std::vector<double> expected;
  for (float v : w.value().to_vector()) {
    const double t = std::tanh(static_cast<double>(v));
    expected.push_back(std::exp(v) * t + std::exp(v) * (1 - t * t));
  }
  agt::check_close(tape2.gradient(z, {w})[0], expected, 1e-5, "exp(w) tanh(w)", 1e-6);
}

TEST_CASE("trainable variables are watched automatically, non-trainable ones are not", "[autograd][tape]") {
  md::Variable w(md::Tensor::from_vector({2, 3}, {2}), "w");
  md::Variable frozen(md::Tensor::from_vector({4, 5}, {2}), "frozen", /*trainable=*/false);
  {
    md::GradientTape tape;
    const md::Tensor y = md::ops::sum(w.value() * frozen.value());
    const auto g = tape.gradient(y, {w, frozen});
    agt::check_close(g[0], std::vector<double>{4, 5}, 0.0, "d/dw");
    CHECK_FALSE(g[1].defined());
  }
  {
    md::GradientTape tape;
    tape.watch(frozen);  // explicit watch works for a non-trainable variable
    const md::Tensor y = md::ops::sum(w.value() * frozen.value());
    const auto g = tape.gradient(y, std::vector<md::Variable>{w, frozen});
    agt::check_close(g[0], std::vector<double>{4, 5}, 0.0, "d/dw");
    agt::check_close(g[1], std::vector<double>{2, 3}, 0.0, "d/dfrozen");
  }
  {
    // Toggling trainable changes what tapes see.
    frozen.set_trainable(true);
    w.set_trainable(false);
    md::GradientTape tape;
    const md::Tensor y = md::ops::sum(w.value() * frozen.value());
    const auto g = tape.gradient(y, {w, frozen});
    CHECK_FALSE(g[0].defined());
    agt::check_close(g[1], std::vector<double>{2, 3}, 0.0, "d/dfrozen once trainable");
  }
}

TEST_CASE("watch() on plain tensors; non-float tensors are ignored", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  const md::Tensor i = md::Tensor::from_vector({1, 2}, {2}, md::DType::int32);
  md::GradientTape tape;
  tape.watch(x);
  tape.watch(i);
  const md::Tensor y = md::ops::sum(x * md::ops::cast(i, md::DType::float32));
  const size_t records = tape.num_records();
  const md::Tensor yi = i * i;  // int32 only: not recorded
  CHECK(yi.dtype() == md::DType::int32);
  CHECK(tape.num_records() == records);
  const auto g = tape.gradient(y, std::vector<md::Tensor>{x, i});
  agt::check_close(g[0], std::vector<double>{1, 2}, 0.0, "d/dx");
  CHECK_FALSE(g[1].defined());
}

TEST_CASE("gradient() takes a braced list mixing tensors and variables", "[autograd][tape]") {
  md::Variable w(md::Tensor::from_vector({2}, {1}), "w");
  const md::Tensor x = md::Tensor::from_vector({3}, {1});
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = x * w.value();
  const auto g = tape.gradient(y, {x, w});
  agt::check_close(g[0], std::vector<double>{2}, 0.0, "d/dx");
  agt::check_close(g[1], std::vector<double>{3}, 0.0, "d/dw");
}

TEST_CASE("output_gradients seeds the backward pass", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const md::Tensor seed = md::Tensor::from_vector({1, 0, -1, 2}, {2, 2});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  const md::Tensor y = x * x;
  agt::check_close(tape.gradient(y, {x}, {seed})[0], std::vector<double>{2, 0, -6, 16}, 0.0, "2 x * seed");
  // An undefined seed means ones (the target is summed).
  agt::check_close(tape.gradient(y, {x}, {md::Tensor()})[0], std::vector<double>{2, 4, 6, 8}, 0.0, "no seed");
}

TEST_CASE("a non-scalar target is summed", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({0.5f, 1.5f, -1.0f}, {3});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  const md::Tensor y = md::ops::tanh(x);
  const md::Tensor summed = md::ops::sum(y);
  agt::check_close(tape.gradient(y, {x})[0], tape.gradient(summed, {x})[0], 0.0, "gradient of y vs sum(y)");
}

TEST_CASE("the gradient of a source with respect to itself is ones", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3}, {3});
  md::GradientTape tape;
  tape.watch(x);
  agt::check_close(tape.gradient(x, {x})[0], std::vector<double>{1, 1, 1}, 0.0, "dx/dx");
}

TEST_CASE("stop_recording pauses the tape", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  const md::Tensor a = x * 2.0f;
  const size_t records = tape.num_records();
  md::Tensor b;
  {
    auto pause = tape.stop_recording();
    b = x * 5.0f;
    CHECK(tape.num_records() == records);
  }
  const md::Tensor c = x * 7.0f;
  CHECK(tape.num_records() == records + 1);
  CHECK_FALSE(tape.gradient(md::ops::sum(b), {x})[0].defined());
  // y = a + b + c: only a and c are differentiated (b is a constant to this tape).
  agt::check_close(tape.gradient(md::ops::sum(a + b + c), {x})[0], std::vector<double>{9, 9}, 0.0, "a + b + c");
}

TEST_CASE("num_records counts the recorded ops", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  const md::Tensor c = md::Tensor::from_vector({3, 4}, {2});
  md::GradientTape tape(/*persistent=*/true);
  CHECK(tape.num_records() == 0);
  tape.watch(x);
  const md::Tensor y = md::ops::exp(x);  // 1
  const md::Tensor z = y * c;            // 2
  const md::Tensor unrelated = c * c;    // not watched: no record
  const md::Tensor s = md::ops::sum(z);  // 3
  CHECK(tape.num_records() == 3);
  (void)tape.gradient(s, {x});
  CHECK(tape.num_records() == 3);
  CHECK(unrelated.size() == 2);
}

TEST_CASE("tapes are per thread", "[autograd][tape]") {
  md::Variable w(md::Tensor::from_vector({1, 2}, {2}), "w");
  md::GradientTape tape;  // this thread's tape watches every trainable variable
  size_t other_thread_records = 0;
  bool other_thread_gradient_ok = false;
  std::thread worker([&] {
    // Ops on another thread are not recorded on this thread's tape...
    const md::Tensor y = md::ops::sum(w.value() * w.value());
    // ...but a tape created there records them.
    md::GradientTape own;
    const md::Tensor z = md::ops::sum(w.value() * 3.0f);
    other_thread_records = own.num_records();
    const md::Tensor g = own.gradient(z, {w})[0];
    other_thread_gradient_ok = g.defined() && g.to_vector() == std::vector<float>{3, 3} && y.item() == 5.0f;
  });
  worker.join();
  CHECK(tape.num_records() == 0);
  CHECK(other_thread_records == 2);
  CHECK(other_thread_gradient_ok);
  // And this thread's tape still works.
  const md::Tensor y = md::ops::sum(w.value() * w.value());
  agt::check_close(tape.gradient(y, {w})[0], std::vector<double>{2, 4}, 0.0, "this thread");
}

TEST_CASE("nested tapes each record what they watch", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  const md::Tensor u = md::Tensor::from_vector({3, 4}, {2});
  md::GradientTape outer(/*persistent=*/true);
  outer.watch(x);
  md::GradientTape inner(/*persistent=*/true);
  inner.watch(u);
  const md::Tensor a = x * 2.0f;  // outer only
  const md::Tensor b = u * 3.0f;  // inner only
  const md::Tensor c = a * b;     // both
  CHECK(outer.num_records() == 2);
  CHECK(inner.num_records() == 2);
  agt::check_close(outer.gradient(c, {x})[0], std::vector<double>{18, 24}, 0.0, "outer d/dx");
  agt::check_close(inner.gradient(c, {u})[0], std::vector<double>{6, 12}, 0.0, "inner d/du");
  CHECK_FALSE(outer.gradient(c, {u})[0].defined());
  CHECK_FALSE(inner.gradient(c, {x})[0].defined());
}

TEST_CASE("a destroyed tape stops recording", "[autograd][tape]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  {
    md::GradientTape tape;
    tape.watch(x);
    CHECK(md::autograd::should_record(x));
  }
  CHECK_FALSE(md::autograd::should_record(x));
  md::Variable w(md::Tensor::from_vector({1}, {1}), "w");
  CHECK_FALSE(md::autograd::should_record(w.value()));
  md::GradientTape tape;
  CHECK(md::autograd::should_record(w.value()));
  CHECK_FALSE(md::autograd::should_record(x));
}

namespace {

// A user-defined op (the pattern of autograd/record.h) whose gradient rule counts its calls.
int g_scaled_backward_calls = 0;

md::Tensor counted_scale(const md::Tensor& x, float factor) {
  md::Tensor y = md::compute::binary(md::compute::BinaryOp::mul, x, factor);
  if (md::autograd::should_record(x)) {
    md::autograd::record("counted_scale", {x}, {y}, {}, [factor](const md::autograd::BackwardArgs& a) {
      ++g_scaled_backward_calls;
      return std::vector<md::Tensor>{a.grad() * factor};
    });
  }
  return y;
}

}  // namespace

TEST_CASE("a user-defined op with record() is differentiable", "[autograd][tape]") {
  auto my_tanh = [](const md::Tensor& x) {
    md::Tensor y = md::compute::eltwise(md::compute::EltwiseOp::tanh, x);
    if (md::autograd::should_record(x)) {
      md::autograd::record("my_tanh", {x}, {y}, {y}, [](const md::autograd::BackwardArgs& a) {
        return std::vector<md::Tensor>{a.grads[0] * (1.0f - md::ops::square(a.saved[0]))};
      });
    }
    return y;
  };
  std::mt19937 rng(701);
  agt::check_gradients("my_tanh", [my_tanh](const agt::Inputs& in) { return my_tanh(in[0]); },
                       {agt::uniform(rng, {2, 3})});
}

namespace {

// x^2 with a gradient rule that is off by `factor` (1 = right), optionally hiding the rule's
// dependence on x from outer tapes (right first derivative, wrong second).
md::Tensor rigged_square(const md::Tensor& x, float factor, bool hide_second_order) {
  md::Tensor y = md::compute::binary(md::compute::BinaryOp::mul, x, x);
  if (md::autograd::should_record(x)) {
    md::autograd::record("rigged_square", {x}, {y}, {x},
                         [factor, hide_second_order](const md::autograd::BackwardArgs& a) {
                           const md::Tensor s = hide_second_order ? md::stop_gradient(a.saved[0]) : a.saved[0];
                           return std::vector<md::Tensor>{a.grad() * s * (2.0f * factor)};
                         });
  }
  return y;
}

}  // namespace

TEST_CASE("gradcheck and gradgradcheck catch wrong gradient rules", "[autograd][tape][gradcheck]") {
  std::mt19937 rng(702);
  const md::Tensor x = agt::uniform(rng, {2, 3}, 0.5f, 2.0f);
  auto check = [&](float factor, bool hide) {
    return [factor, hide](const agt::Inputs& in) { return md::ops::tanh(rigged_square(in[0], factor, hide)); };
  };
  CHECK(md::testing::gradcheck(check(1.0f, false), {x}).max_relative_error < 1e-2);
  CHECK(md::testing::gradgradcheck(check(1.0f, false), {x}).max_relative_error < 1e-2);
  CHECK(md::testing::gradcheck(check(1.05f, false), {x}).max_relative_error > 3e-2);
  CHECK(md::testing::gradcheck(check(1.0f, true), {x}).max_relative_error < 1e-2);
  CHECK(md::testing::gradgradcheck(check(1.0f, true), {x}).max_relative_error > 0.1);
}

TEST_CASE("the backward pass skips records not connected to the sources or the target", "[autograd][tape]") {
  const md::Tensor a = md::Tensor::from_vector({1, 2}, {2});
  const md::Tensor b = md::Tensor::from_vector({3, 4}, {2});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(a);
  tape.watch(b);
  const md::Tensor y = md::ops::sum(a * 2.0f + counted_scale(b, 5.0f));
  const md::Tensor side = counted_scale(a, 7.0f);  // depends on a, but y does not depend on it
  g_scaled_backward_calls = 0;
  agt::check_close(tape.gradient(y, {a})[0], std::vector<double>{2, 2}, 0.0, "d/da");
  CHECK(g_scaled_backward_calls == 0);  // neither counted_scale record leads from a to y
  agt::check_close(tape.gradient(y, {b})[0], std::vector<double>{5, 5}, 0.0, "d/db");
  CHECK(g_scaled_backward_calls == 1);
  CHECK(side.size() == 2);
}

TEST_CASE("pruned records may hold tensors modified in place", "[autograd][tape]") {
  // v * v saves v's value; assigning to v afterwards only matters if its gradient is needed.
  md::Variable v(md::Tensor::from_vector({0.5f, 1.0f}, {2}), "v");
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  const md::Tensor y = md::ops::sum(x * 3.0f) + md::ops::sum(v.value() * v.value());
  v.assign(md::Tensor::from_vector({0.0f, 0.0f}, {2}));
  agt::check_close(tape.gradient(y, {x})[0], std::vector<double>{3, 3}, 0.0, "d/dx needs no saved v");
  CHECK_THROWS_AS(tape.gradient(y, {v}), md::Error);
}
