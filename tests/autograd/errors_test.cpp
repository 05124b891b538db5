// Errors from the tape and the differentiable ops: the right exception type and a message that
// says what went wrong.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

// Runs f, requires an exception of type E, and returns its message.
template <class E, class F>
std::string message_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  FAIL("the expected exception was not thrown");
  return {};
}

}  // namespace

TEST_CASE("the gradient of a non-float target throws TypeError", "[autograd][errors]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2}, {2});
  for (md::DType dtype : {md::DType::int32, md::DType::bool_}) {
    INFO(md::dtype_name(dtype));
    md::GradientTape tape;
    tape.watch(x);
    const md::Tensor target = md::ops::cast(x * 2.0f, dtype);
    const std::string what = message_of<md::TypeError>([&] { (void)tape.gradient(target, {x}); });
    CHECK_THAT(what, Catch::Contains(md::dtype_name(dtype)));
    CHECK_THAT(what, Catch::Contains("float"));
  }
  // Comparisons give bool tensors: not differentiable.
  md::GradientTape tape;
  tape.watch(x);
  CHECK_THROWS_AS(tape.gradient(md::ops::greater(x, md::Tensor::scalar(1.5f)), {x}), md::TypeError);
}

TEST_CASE("a second gradient() call on a non-persistent tape throws", "[autograd][errors]") {
  md::Variable w(md::Tensor::from_vector({1, 2}, {2}), "w");
  md::GradientTape tape;
  const md::Tensor y = md::ops::sum(w.value() * w.value());
  (void)tape.gradient(y, {w});
  const std::string what = message_of<md::Error>([&] { (void)tape.gradient(y, {w}); });
  CHECK_THAT(what, Catch::Contains("non-persistent"));
  CHECK_THAT(what, Catch::Contains("persistent=*/true"));
}

TEST_CASE("assigning to a variable saved by an op, then taking the gradient, throws", "[autograd][errors]") {
  md::Variable w(md::Tensor::from_vector({1, 2}, {2}), "w");
  const md::Tensor x = md::Tensor::from_vector({3, 4}, {2});
  md::GradientTape tape;
  const md::Tensor y = md::ops::sum(md::ops::multiply(w.value(), x));  // multiply saves w's value
  w.assign_sub(md::Tensor::from_vector({0.1f, 0.1f}, {2}));
  const std::string what = message_of<md::Error>([&] { (void)tape.gradient(y, {w}); });
  CHECK_THAT(what, Catch::Contains("modified in place"));
  CHECK_THAT(what, Catch::Contains("op 'Multiply'"));
  // Taking the gradient first, then assigning, is the right order.
  md::GradientTape tape2;
  const md::Tensor y2 = md::ops::sum(md::ops::multiply(w.value(), x));
  const md::Tensor g = tape2.gradient(y2, {w})[0];
  w.assign_sub(g * 0.1f);
  agt::check_close(g, std::vector<double>{3, 4}, 0.0, "gradient before the update");
}

TEST_CASE("gradient() argument errors", "[autograd][errors]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3}, {3});
  md::GradientTape tape(/*persistent=*/true);
  tape.watch(x);
  const md::Tensor y = x * x;
  const std::string what = message_of<md::ShapeError>([&] { (void)tape.gradient(y, {x}, {md::Tensor::ones({2})}); });
  CHECK_THAT(what, Catch::Contains("(2,)"));
  CHECK_THAT(what, Catch::Contains("(3,)"));
  CHECK_THROWS_AS(tape.gradient(y, {x}, {md::Tensor::ones({3}), md::Tensor::ones({3})}), md::ValueError);
  CHECK_THROWS_AS(tape.gradient(md::Tensor(), {x}), md::ValueError);
  // The tape still works after the failed calls.
  agt::check_close(tape.gradient(y, {x})[0], std::vector<double>{2, 4, 6}, 0.0, "after the errors");
}

TEST_CASE("differentiable ops reject bad arguments", "[autograd][errors]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3, 4, 5, 6}, {2, 3});
  const md::Tensor v = md::Tensor::from_vector({1, 2, 3}, {3});
  // Shapes that do not fit, named in the message.
  const std::string bcast = message_of<md::ShapeError>([&] { (void)(x + md::Tensor::ones({2})); });
  CHECK_THAT(bcast, Catch::Contains("(2, 3)"));
  CHECK_THAT(bcast, Catch::Contains("(2,)"));
  const std::string mm = message_of<md::ShapeError>([&] { (void)md::ops::matmul(x, x); });
  CHECK_THAT(mm, Catch::Contains("(2, 3)"));
  CHECK_THROWS_AS(md::ops::matmul(v, md::Tensor::ones({2})), md::ShapeError);
  CHECK_THROWS_AS(md::ops::concatenate({x, md::Tensor::ones({3, 2})}, 0), md::ShapeError);
  CHECK_THROWS_AS(md::ops::concatenate({}, 0), md::ValueError);
  CHECK_THROWS_AS(md::ops::stack({x, md::Tensor::ones({3, 2})}), md::ShapeError);
  CHECK_THROWS_AS(md::ops::stack({}), md::ValueError);
  CHECK_THROWS_AS(md::ops::sum_to(x, {3, 3}), md::ShapeError);
  CHECK_THROWS_AS(md::ops::sum_to(v, {2, 3}), md::ShapeError);
  CHECK_THROWS_AS(md::ops::squeeze(x, 0), md::ValueError);
  CHECK_THROWS_AS(md::ops::reshape(x, {4, 2}), md::ShapeError);
  // Axes and indices out of range.
  CHECK_THROWS_AS(md::ops::sum(x, {2}), md::IndexError);
  CHECK_THROWS_AS(md::ops::softmax(x, 2), md::IndexError);
  CHECK_THROWS_AS(md::ops::index(x, 2), md::IndexError);
  CHECK_THROWS_AS(md::ops::index(x, -3), md::IndexError);
  CHECK_THROWS_AS(md::ops::index(md::Tensor::scalar(1.0f), 0), md::IndexError);
  CHECK_THROWS_AS(md::ops::take(v, md::Tensor::from_vector({3}, {1}, md::DType::int32)), md::IndexError);
  CHECK_THROWS_AS(md::ops::take(v, md::Tensor::from_vector({-4}, {1}, md::DType::int32)), md::IndexError);
  CHECK_THROWS_AS(md::ops::take(v, md::Tensor::from_vector({0.5f}, {1})), md::TypeError);
  // Values out of their range.
  CHECK_THROWS_AS(md::ops::slice(x, 1, 0, 2, 0), md::ValueError);
  CHECK_THROWS_AS(md::ops::slice(x, 1, 0, 2, -1), md::ValueError);
  CHECK_THROWS_AS(md::ops::clip(x, 1.0f, 0.0f), md::ValueError);
  CHECK_THROWS_AS(md::ops::dropout(x, 1.0f, 1), md::ValueError);
  CHECK_THROWS_AS(md::ops::dropout(x, -0.1f, 1), md::ValueError);
  CHECK_THROWS_AS(md::ops::one_hot(v, -1), md::ValueError);
}

TEST_CASE("a failed op leaves the tape usable", "[autograd][errors]") {
  const md::Tensor x = md::Tensor::from_vector({1, 2, 3}, {3});
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor y = md::ops::square(x);
  CHECK_THROWS_AS(y + md::Tensor::ones({2}), md::ShapeError);
  CHECK_THROWS_AS(md::ops::index(y, 5), md::IndexError);
  agt::check_close(tape.gradient(y, {x})[0], std::vector<double>{2, 4, 6}, 0.0, "gradient");
}
