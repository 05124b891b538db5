// Variable: named, mutable state whose value() keeps its identity across in-place assigns.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"

namespace md = minidl;

TEST_CASE("a Variable holds a copy of its initial value, a name and a path", "[autograd][variable]") {
  md::Tensor init = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  md::Variable w(init, "kernel");
  CHECK(w.defined());
  CHECK(w.name() == "kernel");
  CHECK(w.path() == "kernel");
  CHECK(w.trainable());
  CHECK(w.shape() == md::Shape{2, 3});
  CHECK(w.dtype() == md::DType::float32);
  CHECK_FALSE(w.value().same_storage(init));
  init.mutable_data()[0] = 100.0f;  // the variable took a copy
  CHECK(w.value().to_vector()[0] == 1.0f);
  w.set_path("dense/kernel");
  CHECK(w.path() == "dense/kernel");
  CHECK(w.name() == "kernel");
  const md::Variable unnamed(md::Tensor::scalar(1.0f));
  CHECK(unnamed.name() == "variable");
  const md::Variable frozen(md::Tensor::scalar(1.0f), "f", /*trainable=*/false);
  CHECK_FALSE(frozen.trainable());
}

TEST_CASE("Variable ids are unique; copies share the same state", "[autograd][variable]") {
  md::Variable a(md::Tensor::zeros({2}), "a");
  md::Variable b(md::Tensor::zeros({2}), "b");
  CHECK(a.id() != b.id());
  CHECK_FALSE(a == b);
  md::Variable a2 = a;
  CHECK(a2 == a);
  CHECK(a2.id() == a.id());
  a2.assign(md::Tensor::from_vector({7, 8}, {2}));
  agt::check_close(a.value(), std::vector<double>{7, 8}, 0.0, "seen through the other handle");
  a2.set_trainable(false);
  CHECK_FALSE(a.trainable());
}

TEST_CASE("assign, assign_add and assign_sub write in place", "[autograd][variable]") {
  md::Variable w(md::Tensor::from_vector({1, 2, 3}, {3}), "w");
  const md::Tensor live = w.value();              // a live view
  const md::Tensor snapshot = w.value().clone();  // a copy
  const uint64_t id = w.value().id();
  const uint64_t version = w.value().storage_version();
  w.assign(md::Tensor::from_vector({4, 5, 6}, {3}));
  agt::check_close(w.value(), std::vector<double>{4, 5, 6}, 0.0, "assign");
  w.assign_add(md::Tensor::from_vector({1, 1, 1}, {3}));
  agt::check_close(w.value(), std::vector<double>{5, 6, 7}, 0.0, "assign_add");
  w.assign_sub(md::Tensor::from_vector({0.5f, 1, 2}, {3}));
  agt::check_close(w.value(), std::vector<double>{4.5, 5, 5}, 0.0, "assign_sub");
  CHECK(w.value().id() == id);  // the same tensor, so tapes keep watching it
  CHECK(w.value().storage_version() == version + 3);
  agt::check_close(live, std::vector<double>{4.5, 5, 5}, 0.0, "earlier value() handle");
  agt::check_close(snapshot, std::vector<double>{1, 2, 3}, 0.0, "clone");
}

TEST_CASE("assign with a wrong shape throws a ShapeError naming both shapes", "[autograd][variable]") {
  md::Variable w(md::Tensor::zeros({2, 3}), "kernel");
  for (int which = 0; which < 3; ++which) {
    INFO("operation " << which);
    const md::Tensor wrong = md::Tensor::zeros({3, 2});
    try {
      if (which == 0) w.assign(wrong);
      if (which == 1) w.assign_add(wrong);
      if (which == 2) w.assign_sub(wrong);
      FAIL("no exception");
    } catch (const md::ShapeError& e) {
      const std::string what = e.what();
      CHECK_THAT(what, Catch::Contains("(3, 2)"));
      CHECK_THAT(what, Catch::Contains("(2, 3)"));
      CHECK_THAT(what, Catch::Contains("kernel"));
    }
  }
  agt::check_close(w.value(), std::vector<double>(6, 0.0), 0.0, "unchanged after the failed assigns");
  // Broadcasting is not assignment: a (3,) delta does not fit a (2, 3) variable either.
  CHECK_THROWS_AS(w.assign_add(md::Tensor::ones({3})), md::ShapeError);
}

TEST_CASE("a default Variable is undefined and its accessors throw", "[autograd][variable]") {
  md::Variable v;
  CHECK_FALSE(v.defined());
  CHECK_THROWS_AS(v.value(), md::ValueError);
  CHECK_THROWS_AS(v.name(), md::ValueError);
  CHECK_THROWS_AS(v.assign(md::Tensor::zeros({1})), md::ValueError);
  CHECK_THROWS_AS(md::Variable(md::Tensor()), md::ValueError);
  CHECK_THROWS_AS(md::Variable(md::Tensor::symbolic({md::None, 2})), md::ValueError);
}

TEST_CASE("an integer variable is never watched", "[autograd][variable]") {
  md::Variable steps(md::Tensor::from_vector({0}, {1}, md::DType::int32), "steps");
  CHECK(steps.trainable());
  CHECK(steps.dtype() == md::DType::int32);
  md::GradientTape tape;
  tape.watch(steps);
  CHECK_FALSE(md::autograd::should_record(steps.value()));
  const md::Tensor y = md::ops::cast(steps.value(), md::DType::float32) * 2.0f;
  CHECK(tape.num_records() == 0);
  CHECK_FALSE(tape.gradient(y, {steps})[0].defined());
}

TEST_CASE("variables in a training step: gradient, then update", "[autograd][variable]") {
  // Linear regression y = x w with a known answer: plain gradient descent converges to w*.
  const md::Tensor x = md::Tensor::from_vector({1, 0, 0, 1, 1, 1, 2, -1}, {4, 2});
  const md::Tensor w_true = md::Tensor::from_vector({2, -3}, {2, 1});
  const md::Tensor y = md::ops::matmul(x, w_true);
  md::Variable w(md::Tensor::zeros({2, 1}), "w");
  for (int step = 0; step < 200; ++step) {
    md::GradientTape tape;
    const md::Tensor loss = md::ops::mean(md::ops::square(md::ops::matmul(x, w.value()) - y));
    const md::Tensor g = tape.gradient(loss, {w})[0];
    w.assign_sub(g * 0.1f);
  }
  agt::check_close(w.value(), std::vector<double>{2, -3}, 1e-3, "learned weights");
}
