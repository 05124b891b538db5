// Losses: values from Keras 3.16's own tests (keras/src/losses/losses_test.py; each case names
// the test it reproduces), logits against probabilities, numerical stability at extreme logits,
// gradients (tape vs finite differences), reductions, sample weights, masks, configs and errors.
#include <minidl/minidl.h>
#include <minidl/optim/losses.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

namespace md = minidl;

namespace losses_test_helpers {

md::Tensor t(const std::vector<float>& values, const md::Shape& shape) {
  return md::Tensor::from_vector(values, shape);
}

float scalar_of(const md::Tensor& x) {
  REQUIRE(x.defined());
  REQUIRE(x.size() == 1);
  return x.item();
}

void require_values(const md::Tensor& actual, const std::vector<float>& expected, double margin) {
  REQUIRE(actual.size() == static_cast<int64_t>(expected.size()));
  const std::vector<float> got = actual.to_vector();
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(expected[i]).margin(margin));
  }
}

bool all_finite(const md::Tensor& x) {
  for (float v : x.to_vector()) {
    if (!std::isfinite(v)) return false;
  }
  return true;
}

// d loss / d x through a tape.
md::Tensor gradient_of(const std::function<md::Tensor(const md::Tensor&)>& loss_of, const md::Tensor& x) {
  md::GradientTape tape;
  tape.watch(x);
  const md::Tensor loss = loss_of(x);
  return tape.gradient(loss, {x})[0];
}

void require_gradcheck(const std::string& what, const md::testing::TensorFunction& fn, const md::Tensor& x) {
  const md::testing::GradcheckResult result = md::testing::gradcheck(fn, {x});
  INFO(what << ": " << result.describe());
  CHECK(result.checked_elements == x.size());
  CHECK(result.max_relative_error < 1e-2);
}

// Keras's MSE/MAE fixtures (MeanSquaredErrorTest, MeanAbsoluteErrorTest).
const md::Tensor& regression_true() {
  static const md::Tensor y = t({1, 9, 2, -5, -2, 6}, {2, 3});
  return y;
}
const md::Tensor& regression_pred() {
  static const md::Tensor y = t({4, 8, 12, 8, 1, 3}, {2, 3});
  return y;
}

// Keras's categorical fixtures (CategoricalCrossentropyTest / SparseCategoricalCrossentropyTest).
md::Tensor cce_probabilities() { return t({0.9f, 0.05f, 0.05f, 0.5f, 0.89f, 0.6f, 0.05f, 0.01f, 0.94f}, {3, 3}); }
md::Tensor cce_logit_values() { return t({8, 1, 1, 0, 9, 1, 2, 3, 5}, {3, 3}); }
md::Tensor cce_one_hot() { return t({1, 0, 0, 0, 1, 0, 0, 0, 1}, {3, 3}); }

// Keras's HuberLossTest.huber_loss, in double.
double huber_reference_sum(const std::vector<float>& y_true, const std::vector<float>& y_pred, double delta,
                           const std::vector<double>& weights = {}) {
  double sum = 0.0;
  for (size_t i = 0; i < y_true.size(); ++i) {
    const double e = std::fabs(static_cast<double>(y_pred[i]) - y_true[i]);
    const double q = std::min(e, delta);
    const double w = weights.empty() ? 1.0 : weights[i];
    sum += w * (0.5 * q * q + delta * (e - q));
  }
  return sum;
}

template <class F>
std::string error_text(F&& f) {
  try {
    f();
  } catch (const md::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace losses_test_helpers

using namespace losses_test_helpers;
using Catch::Matchers::Contains;

// ---- mean squared / absolute error ---------------------------------------------------------

TEST_CASE("losses: MeanSquaredError reproduces Keras's MeanSquaredErrorTest", "[optim][losses]") {
  const md::Tensor& y = regression_true();
  const md::Tensor& p = regression_pred();
  md::losses::MeanSquaredError mse;
  // test_all_correct_unweighted
  CHECK(scalar_of(mse(p, p)) == Approx(0.0).margin(1e-6));
  // test_unweighted: 49.5
  CHECK(scalar_of(mse(y, p)) == Approx(49.5).margin(1e-4));
  // test_scalar_weighted: sample_weight=2.3 -> 113.85
  CHECK(scalar_of(mse(y, p, md::Tensor::scalar(2.3f))) == Approx(113.85).margin(1e-3));
  // test_sample_weighted: sample_weight=[[1.2], [3.4]] -> 767.8 / 6
  CHECK(scalar_of(mse(y, p, t({1.2f, 3.4f}, {2, 1}))) == Approx(767.8 / 6).margin(1e-3));
  // test_timestep_weighted: (2, 3, 1) inputs, sample_weight (2, 3) -> 97.833336
  CHECK(scalar_of(mse(y.reshape({2, 3, 1}), p.reshape({2, 3, 1}), t({3, 6, 5, 0, 4, 2}, {2, 3}))) ==
        Approx(97.833336).margin(1e-3));
  // test_zero_weighted
  CHECK(scalar_of(mse(y, p, md::Tensor::scalar(0.0f))) == Approx(0.0).margin(1e-6));
  // test_no_reduction: reduction=None, sample_weight=2.3 -> [84.3333, 143.3666]
  require_values(md::losses::MeanSquaredError({.reduction = "none"})(y, p, md::Tensor::scalar(2.3f)),
                 {84.3333f, 143.3666f}, 1.5e-3);
  // test_sum_reduction: 227.69998
  CHECK(scalar_of(md::losses::MeanSquaredError({.reduction = "sum"})(y, p, md::Tensor::scalar(2.3f))) ==
        Approx(227.69998).margin(1e-3));
  // test_mean_with_sample_weight_reduction: (110/3 * 1.2 + 187/3 * 3.4) / (1.2 + 3.4)
  CHECK(scalar_of(md::losses::MeanSquaredError({.reduction = "mean_with_sample_weight"})(
            y, p, t({1.2f, 3.4f}, {2, 1}))) == Approx((110.0 / 3 * 1.2 + 187.0 / 3 * 3.4) / (1.2 + 3.4)).margin(1e-3));
  // "mean" is sum_over_batch_size by another name.
  CHECK(scalar_of(md::losses::MeanSquaredError({.reduction = "mean"})(y, p)) == Approx(49.5).margin(1e-4));
}

TEST_CASE("losses: mean_squared_error per sample and Keras's rank fix", "[optim][losses]") {
  // test_base_function_reduction: y_true (3,) against y_pred (3, 1) gives one loss per sample.
  const md::Tensor loss = md::losses::mean_squared_error(t({4, 8, 12}, {3}), t({3, 0, 1}, {3, 1}));
  CHECK(loss.shape() == md::Shape{3});
  require_values(loss, {1, 64, 121}, 1e-5);
  require_values(md::losses::mean_squared_error(regression_true(), regression_pred()), {110.0f / 3, 187.0f / 3}, 1e-4);
}

TEST_CASE("losses: MeanAbsoluteError reproduces Keras's MeanAbsoluteErrorTest", "[optim][losses]") {
  const md::Tensor& y = regression_true();
  const md::Tensor& p = regression_pred();
  md::losses::MeanAbsoluteError mae;
  CHECK(scalar_of(mae(p, p)) == Approx(0.0).margin(1e-6));                                // test_all_correct_unweighted
  CHECK(scalar_of(mae(y, p)) == Approx(5.5).margin(1e-5));                                // test_unweighted
  CHECK(scalar_of(mae(y, p, md::Tensor::scalar(2.3f))) == Approx(12.65).margin(1e-4));    // test_scalar_weighted
  CHECK(scalar_of(mae(y, p, t({1.2f, 3.4f}, {2, 1}))) == Approx(81.4 / 6).margin(1e-4));  // test_sample_weighted
  CHECK(scalar_of(mae(y.reshape({2, 3, 1}), p.reshape({2, 3, 1}), t({3, 6, 5, 0, 4, 2}, {2, 3}))) ==
        Approx(13.833333).margin(1e-4));                                              // test_timestep_weighted
  CHECK(scalar_of(mae(y, p, md::Tensor::scalar(0.0f))) == Approx(0.0).margin(1e-6));  // test_zero_weighted
  require_values(md::losses::MeanAbsoluteError({.reduction = "none"})(y, p, md::Tensor::scalar(2.3f)),
                 {10.7333f, 14.5666f}, 1.5e-3);  // test_no_reduction
  CHECK(scalar_of(md::losses::MeanAbsoluteError({.reduction = "sum"})(y, p, md::Tensor::scalar(2.3f))) ==
        Approx(25.29999).margin(1e-3));  // test_sum_reduction
  CHECK(
      scalar_of(
          md::losses::MeanAbsoluteError({.reduction = "mean_with_sample_weight"})(y, p, t({1.2f, 3.4f}, {2, 1}))) ==
      Approx((14.0 / 3 * 1.2 + 19.0 / 3 * 3.4) / (1.2 + 3.4)).margin(1e-4));  // test_mean_with_sample_weight_reduction
}

// ---- huber ---------------------------------------------------------------------------------

TEST_CASE("losses: Huber reproduces Keras's HuberLossTest", "[optim][losses]") {
  const std::vector<float> pred = {0.9f, 0.2f, 0.2f, 0.8f, 0.4f, 0.6f};
  const std::vector<float> truth = {1.0f, 0.0f, 1.0f, 1.0f, 0.0f, 0.0f};
  const md::Tensor y = t(truth, {2, 3}), p = t(pred, {2, 3});
  md::losses::Huber h;
  CHECK(scalar_of(h(y, y)) == Approx(0.0).margin(1e-6));                                        // test_all_correct
  CHECK(scalar_of(h(y, p)) == Approx(huber_reference_sum(truth, pred, 1.0) / 6).margin(1e-5));  // test_unweighted
  // test_scalar_weighted (twice: the same input gives the same output)
  const double scalar_expected = 2.3 * huber_reference_sum(truth, pred, 1.0) / 6;
  CHECK(scalar_of(h(y, p, md::Tensor::scalar(2.3f))) == Approx(scalar_expected).margin(1e-5));
  CHECK(scalar_of(h(y, p, md::Tensor::scalar(2.3f))) == Approx(scalar_expected).margin(1e-5));
  // test_sample_weighted: [[1.2], [3.4]]
  CHECK(scalar_of(h(y, p, t({1.2f, 3.4f}, {2, 1}))) ==
        Approx(huber_reference_sum(truth, pred, 1.0, {1.2, 1.2, 1.2, 3.4, 3.4, 3.4}) / 6).margin(1e-5));
  // test_timestep_weighted: (2, 3, 1) inputs and sample_weight (2, 3, 1)
  CHECK(scalar_of(h(y.reshape({2, 3, 1}), p.reshape({2, 3, 1}), t({3, 6, 5, 0, 4, 2}, {2, 3, 1}))) ==
        Approx(huber_reference_sum(truth, pred, 1.0, {3, 6, 5, 0, 4, 2}) / 6).margin(1e-5));
  CHECK(scalar_of(h(y, p, md::Tensor::scalar(0.0f))) == Approx(0.0).margin(1e-6));  // test_zero_weighted
  // test_non_default_delta: delta=0.8, sample_weight=2.3
  CHECK(scalar_of(md::losses::Huber({.delta = 0.8})(y, p, md::Tensor::scalar(2.3f))) ==
        Approx(2.3 * huber_reference_sum(truth, pred, 0.8) / 6).margin(1e-5));
  // Keras's docstring example: huber([[0, 1], [0, 0]], [[0.6, 0.4], [0.4, 0.6]]) -> mean 0.155
  CHECK(scalar_of(md::losses::Huber()(t({0, 1, 0, 0}, {2, 2}), t({0.6f, 0.4f, 0.4f, 0.6f}, {2, 2}))) ==
        Approx(0.155).margin(1e-5));
  // Errors beyond delta are linear: |e| = 3, delta = 1 -> 3 - 0.5.
  require_values(md::losses::huber(t({0}, {1, 1}), t({3}, {1, 1})), {2.5f}, 1e-6);
}

// ---- binary crossentropy -------------------------------------------------------------------

TEST_CASE("losses: BinaryCrossentropy reproduces Keras's BinaryCrossentropyTest", "[optim][losses]") {
  const md::Tensor eye = cce_one_hot();
  // test_all_correct_unweighted (probabilities, then logits +-10)
  CHECK(scalar_of(md::losses::BinaryCrossentropy()(eye, eye)) == Approx(0.0).margin(1.5e-3));
  const md::Tensor eye_logits = t({10, -10, -10, -10, 10, -10, -10, -10, 10}, {3, 3});
  CHECK(scalar_of(md::losses::BinaryCrossentropy({.from_logits = true})(eye, eye_logits)) ==
        Approx(0.0).margin(1.5e-3));

  // test_unweighted
  const md::Tensor p3 = t({0.9f, 0.1f, 0.2f, 0.3f, 0.8f, 0.1f, 0.1f, 0.2f, 0.7f}, {3, 3});
  CHECK(scalar_of(md::losses::BinaryCrossentropy()(eye, p3)) == Approx(0.20046903).margin(1e-6));
  const md::Tensor y22 = t({1, 0, 1, 0}, {2, 2}), p22 = t({1, 1, 1, 0}, {2, 2});
  // 3.98559 comes from float32 clipping: 1 - (1 - 1e-7f) = 1.19e-7, not 1e-7.
  CHECK(scalar_of(md::losses::BinaryCrossentropy()(y22, p22)) == Approx(3.98559).margin(1e-4));
  const md::Tensor y23 = t({1, 0, 1, 0, 1, 1}, {2, 3});
  const md::Tensor l23 = t({10, -10, 10, 10, 10, -10}, {2, 3});
  md::losses::BinaryCrossentropy bce_logits({.from_logits = true});
  CHECK(scalar_of(bce_logits(y23, l23)) == Approx(3.3333).margin(1.5e-3));

  // test_scalar_weighted
  CHECK(scalar_of(md::losses::BinaryCrossentropy()(y22, p22, md::Tensor::scalar(2.3f))) ==
        Approx(9.1668).margin(1.5e-3));
  CHECK(scalar_of(bce_logits(y23, l23, md::Tensor::scalar(2.3f))) == Approx(7.666).margin(1.5e-3));

  // test_sample_weighted
  CHECK(scalar_of(md::losses::BinaryCrossentropy()(y22, p22, t({1.2f, 3.4f}, {2, 1}))) ==
        Approx(4.7827).margin(1.5e-3));
  CHECK(scalar_of(bce_logits(y23, l23, t({4, 3}, {2}))) == Approx(10.0).margin(1.5e-3));

  // test_no_reduction
  require_values(md::losses::BinaryCrossentropy({.from_logits = true, .reduction = "none"})(y23, l23), {0.0f, 6.666f},
                 1e-3);

  // test_label_smoothing: (10 + 5 * 0.1) / 3
  CHECK(scalar_of(md::losses::BinaryCrossentropy({.from_logits = true, .label_smoothing = 0.1})(
            t({1, 0, 1}, {1, 3}), t({10, -10, -10}, {1, 3}))) == Approx((10.0 + 5.0 * 0.1) / 3.0).margin(1.5e-3));

  // Keras's docstring: y_true [0, 1, 0, 0], logits [-18.6, 0.51, 2.94, -12.8] -> 0.8654, and the
  // (2, 2) form with sample_weight [0.8, 0.2] -> 0.243, "sum" -> 1.730, "none" -> [0.235, 1.496].
  CHECK(scalar_of(bce_logits(t({0, 1, 0, 0}, {4}), t({-18.6f, 0.51f, 2.94f, -12.8f}, {4}))) ==
        Approx(0.8654).margin(1e-4));
  const md::Tensor y_doc = t({0, 1, 0, 0}, {2, 2}), l_doc = t({-18.6f, 0.51f, 2.94f, -12.8f}, {2, 2});
  CHECK(scalar_of(bce_logits(y_doc, l_doc, t({0.8f, 0.2f}, {2}))) == Approx(0.243).margin(1e-3));
  CHECK(scalar_of(md::losses::BinaryCrossentropy({.from_logits = true, .reduction = "sum"})(y_doc, l_doc)) ==
        Approx(1.730).margin(1e-3));
  require_values(md::losses::BinaryCrossentropy({.from_logits = true, .reduction = "none"})(y_doc, l_doc),
                 {0.235f, 1.496f}, 1e-3);
}

TEST_CASE("losses: binary_crossentropy on logits is stable and agrees with probabilities", "[optim][losses]") {
  const md::Tensor y = t({1, 0, 1, 0, 0.3f, 0.7f}, {2, 3});
  const md::Tensor logits = t({2.5f, -1.0f, 0.0f, 0.3f, -3.0f, 1.7f}, {2, 3});
  require_values(md::losses::binary_crossentropy(y, logits, true),
                 md::losses::binary_crossentropy(y, md::ops::sigmoid(logits), false).to_vector(), 2e-6);

  // Logits of +-100: the loss is |x| for a wrong sign and ~0 for a right one, both finite.
  const md::Tensor extreme = t({100, -100, 100, -100}, {1, 4});
  const md::Tensor labels = t({1, 1, 0, 0}, {1, 4});
  const md::Tensor per_sample = md::losses::binary_crossentropy(labels, extreme, true);
  require_values(per_sample, {(0.0f + 100.0f + 100.0f + 0.0f) / 4}, 1e-4);
  const md::Tensor g = gradient_of(
      [&](const md::Tensor& x) { return md::losses::BinaryCrossentropy({.from_logits = true})(labels, x); }, extreme);
  REQUIRE(g.defined());
  CHECK(all_finite(g));
  // d/dx mean(...) = (sigmoid(x) - z) / 4
  require_values(g, {0.0f, -0.25f, 0.25f, 0.0f}, 1e-6);

  // At x = 0 the gradient is sigmoid(0) - z = 0.5 - z (relu/abs pieces would give -z).
  const md::Tensor g0 = gradient_of(
      [&](const md::Tensor& x) {
        return md::losses::binary_crossentropy(t({1, 0}, {2}), x, true);
      },
      t({0, 0}, {2}));
  require_values(g0, {-0.25f, 0.25f}, 1e-6);

  // Probabilities of exactly 0 and 1 are clipped, so the loss stays finite.
  CHECK(all_finite(md::losses::binary_crossentropy(t({1, 0}, {2}), t({0, 1}, {2}))));
}

// ---- categorical crossentropy -------------------------------------------------------------

TEST_CASE("losses: CategoricalCrossentropy reproduces Keras's CategoricalCrossentropyTest", "[optim][losses]") {
  const md::Tensor y = cce_one_hot();
  md::losses::CategoricalCrossentropy cce;
  md::losses::CategoricalCrossentropy cce_logits({.from_logits = true});
  // test_all_correct_unweighted
  CHECK(scalar_of(cce(y, y)) == Approx(0.0).margin(1.5e-3));
  CHECK(scalar_of(cce_logits(y, t({10, 0, 0, 0, 10, 0, 0, 0, 10}, {3, 3}))) == Approx(0.0).margin(1.5e-3));
  // test_unweighted
  CHECK(scalar_of(cce(y, cce_probabilities())) == Approx(0.3239).margin(1.5e-3));
  CHECK(scalar_of(cce_logits(y, cce_logit_values())) == Approx(0.0573).margin(1.5e-3));
  // test_scalar_weighted
  CHECK(scalar_of(cce(y, cce_probabilities(), md::Tensor::scalar(2.3f))) == Approx(0.7449).margin(1.5e-3));
  CHECK(scalar_of(cce_logits(y, cce_logit_values(), md::Tensor::scalar(2.3f))) == Approx(0.1317).margin(1.5e-3));
  // test_sample_weighted: [[1.2], [3.4], [5.6]]
  const md::Tensor w = t({1.2f, 3.4f, 5.6f}, {3, 1});
  CHECK(scalar_of(cce(y, cce_probabilities(), w)) == Approx(1.0696).margin(1.5e-3));
  CHECK(scalar_of(cce_logits(y, cce_logit_values(), w)) == Approx(0.31829).margin(1.5e-3));
  // test_no_reduction
  require_values(md::losses::CategoricalCrossentropy({.from_logits = true, .reduction = "none"})(y, cce_logit_values()),
                 {0.001822f, 0.000459f, 0.169846f}, 2e-6);
  // test_label_smoothing: logits [100, -100, -100], smoothing 0.1 -> 400 * 0.1 / 3
  CHECK(scalar_of(md::losses::CategoricalCrossentropy({.from_logits = true, .label_smoothing = 0.1})(
            t({1, 0, 0}, {1, 3}), t({100, -100, -100}, {1, 3}))) == Approx(400.0 * 0.1 / 3.0).margin(1e-3));
  // Keras's docstring: [[0, 1, 0], [0, 0, 1]] vs [[0.05, 0.95, 0], [0.1, 0.8, 0.1]] -> 1.177,
  // sample_weight [0.3, 0.7] -> 0.814, "sum" -> 2.354, "none" -> [0.0513, 2.303].
  const md::Tensor y_doc = t({0, 1, 0, 0, 0, 1}, {2, 3}), p_doc = t({0.05f, 0.95f, 0, 0.1f, 0.8f, 0.1f}, {2, 3});
  CHECK(scalar_of(cce(y_doc, p_doc)) == Approx(1.177).margin(1e-3));
  CHECK(scalar_of(cce(y_doc, p_doc, t({0.3f, 0.7f}, {2}))) == Approx(0.814).margin(1e-3));
  CHECK(scalar_of(md::losses::CategoricalCrossentropy({.reduction = "sum"})(y_doc, p_doc)) ==
        Approx(2.354).margin(1e-3));
  require_values(md::losses::CategoricalCrossentropy({.reduction = "none"})(y_doc, p_doc), {0.0513f, 2.303f}, 1e-3);
}

TEST_CASE("losses: categorical_crossentropy with axis=1 smooths labels by y_true's last axis, as Keras",
          "[optim][losses]") {
  // (batch, classes, spatial) = (2, 3, 2), classes on axis 1, smoothing 0.1. Keras 3.15's
  // categorical_crossentropy takes num_classes from y_true.shape[-1] (here 2, not the 3 classes
  // on axis 1); tests/data/keras/losses.h5 (CategoricalCrossentropy.axis0_label_smoothing) shows it.
  const std::vector<float> yv = {1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 0};
  const std::vector<float> pv = {0.8f, 0.1f, 0.1f, 0.8f, 0.1f, 0.1f, 0.1f, 0.8f, 0.8f, 0.1f, 0.1f, 0.1f};
  const md::Tensor loss =
      md::losses::CategoricalCrossentropy({.label_smoothing = 0.1, .axis = 1})(t(yv, {2, 3, 2}), t(pv, {2, 3, 2}));
  // Keras's expected: -sum(smoothed * log(p), axis=1), averaged (the columns sum to 1 already).
  double expected = 0.0;
  for (int b = 0; b < 2; ++b) {
    for (int s = 0; s < 2; ++s) {
      for (int c = 0; c < 3; ++c) {
        const size_t i = static_cast<size_t>(b * 6 + c * 2 + s);
        expected -= (yv[i] * 0.9 + 0.1 / 2) * std::log(static_cast<double>(pv[i]));
      }
    }
  }
  CHECK(scalar_of(loss) == Approx(expected / 4).margin(1e-5));
}

TEST_CASE("losses: categorical_crossentropy logits vs probabilities, normalisation, stability", "[optim][losses]") {
  const md::Tensor y = t({0, 1, 0, 0.2f, 0.3f, 0.5f}, {2, 3});
  const md::Tensor logits = t({1.5f, -0.5f, 0.25f, 3.0f, 0.0f, -2.0f}, {2, 3});
  require_values(md::losses::categorical_crossentropy(y, logits, true),
                 md::losses::categorical_crossentropy(y, md::ops::softmax(logits), false).to_vector(), 2e-6);
  // Probabilities are divided by their sum first: scaling the predictions changes nothing.
  const md::Tensor p = md::ops::softmax(logits);
  require_values(md::losses::categorical_crossentropy(y, md::ops::multiply(p, 3.0f)),
                 md::losses::categorical_crossentropy(y, p).to_vector(), 2e-6);
  // Logits of +-100: finite loss and gradient.
  const md::Tensor extreme = t({100, -100, -100, -100, 100, -100}, {2, 3});
  const md::Tensor labels = t({0, 0, 1, 0, 1, 0}, {2, 3});
  const md::Tensor per_sample = md::losses::categorical_crossentropy(labels, extreme, true);
  require_values(per_sample, {200.0f, 0.0f}, 1e-3);
  const md::Tensor g = gradient_of(
      [&](const md::Tensor& x) { return md::losses::CategoricalCrossentropy({.from_logits = true})(labels, x); },
      extreme);
  CHECK(all_finite(g));
  // d/dx = (softmax(x) - y) / B
  require_values(g, {0.5f, 0.0f, -0.5f, 0.0f, 0.0f, 0.0f}, 1e-6);
}

// ---- sparse categorical crossentropy ------------------------------------------------------

TEST_CASE("losses: SparseCategoricalCrossentropy reproduces Keras's SparseCategoricalCrossentropyTest",
          "[optim][losses]") {
  md::losses::SparseCategoricalCrossentropy scce;
  md::losses::SparseCategoricalCrossentropy scce_logits({.from_logits = true});
  const md::Tensor labels = t({0, 1, 2}, {3});
  const md::Tensor labels_column = t({0, 1, 2}, {3, 1});
  // test_all_correct_unweighted: labels [[0], [1], [2]]
  CHECK(scalar_of(scce(labels_column, cce_one_hot())) == Approx(0.0).margin(1.5e-3));
  CHECK(scalar_of(scce_logits(labels_column, t({10, 0, 0, 0, 10, 0, 0, 0, 10}, {3, 3}))) == Approx(0.0).margin(1.5e-3));
  // test_unweighted: labels [0, 1, 2]
  CHECK(scalar_of(scce(labels, cce_probabilities())) == Approx(0.3239).margin(1.5e-3));
  CHECK(scalar_of(scce_logits(labels, cce_logit_values())) == Approx(0.0573).margin(1.5e-3));
  // test_scalar_weighted
  CHECK(scalar_of(scce(labels_column, cce_probabilities(), md::Tensor::scalar(2.3f))) == Approx(0.7449).margin(1.5e-3));
  CHECK(scalar_of(scce_logits(labels_column, cce_logit_values(), md::Tensor::scalar(2.3f))) ==
        Approx(0.1317).margin(1.5e-3));
  // test_sample_weighted
  const md::Tensor w = t({1.2f, 3.4f, 5.6f}, {3, 1});
  CHECK(scalar_of(scce(labels_column, cce_probabilities(), w)) == Approx(1.0696).margin(1.5e-3));
  CHECK(scalar_of(scce_logits(labels_column, cce_logit_values(), w)) == Approx(0.31829).margin(1.5e-3));
  // test_no_reduction
  require_values(md::losses::SparseCategoricalCrossentropy({.from_logits = true, .reduction = "none"})(
                     labels_column, cce_logit_values()),
                 {0.001822f, 0.000459f, 0.169846f}, 2e-6);
  // Keras's docstring: labels [1, 2] vs [[0.05, 0.95, 0], [0.1, 0.8, 0.1]] -> 1.177, "none" -> [0.0513, 2.303]
  const md::Tensor p_doc = t({0.05f, 0.95f, 0, 0.1f, 0.8f, 0.1f}, {2, 3});
  CHECK(scalar_of(scce(t({1, 2}, {2}), p_doc)) == Approx(1.177).margin(1e-3));
  CHECK(scalar_of(scce(t({1, 2}, {2}), p_doc, t({0.3f, 0.7f}, {2}))) == Approx(0.814).margin(1e-3));
  require_values(md::losses::sparse_categorical_crossentropy(t({1, 2}, {2}), p_doc), {0.0513f, 2.303f}, 1e-3);
}

TEST_CASE("losses: sparse_categorical_crossentropy equals categorical on one-hot labels", "[optim][losses]") {
  const md::Tensor logits = t({0.3f, -1.2f, 2.0f, 0.1f, 1.1f, 0.4f, -0.6f, 0.0f}, {2, 4});
  const md::Tensor labels = t({2, 1}, {2});
  const md::Tensor one_hot = md::ops::one_hot(labels, 4);
  for (bool from_logits : {true, false}) {
    const md::Tensor pred = from_logits ? logits : md::ops::softmax(logits);
    INFO("from_logits=" << from_logits);
    require_values(md::losses::sparse_categorical_crossentropy(labels, pred, from_logits),
                   md::losses::categorical_crossentropy(one_hot, pred, from_logits).to_vector(), 2e-6);
  }
  // Sequence outputs: labels (B, T) against (B, T, C).
  const md::Tensor seq =
      md::losses::sparse_categorical_crossentropy(t({2, 1}, {1, 2}), logits.reshape({1, 2, 4}), true);
  CHECK(seq.shape() == md::Shape{1, 2});
  // Logits of +-100: finite loss and gradient.
  const md::Tensor extreme = t({100, -100, -100, -100, 100, -100}, {2, 3});
  require_values(md::losses::sparse_categorical_crossentropy(t({2, 1}, {2}), extreme, true), {200.0f, 0.0f}, 1e-3);
  const md::Tensor g = gradient_of(
      [&](const md::Tensor& x) {
        return md::losses::SparseCategoricalCrossentropy({.from_logits = true})(t({2, 1}, {2}), x);
      },
      extreme);
  CHECK(all_finite(g));
  require_values(g, {0.5f, 0.0f, -0.5f, 0.0f, 0.0f, 0.0f}, 1e-6);
}

TEST_CASE("losses: sparse_categorical_crossentropy ignore_class (Keras's test_ignore_class)", "[optim][losses]") {
  const md::Tensor logits = t({0.854f, 0.698f, 0.598f, 0.088f, 0.86f, 0.018f}, {1, 2, 3});
  md::losses::SparseCategoricalCrossentropy none({.from_logits = true, .ignore_class = -1, .reduction = "none"});
  require_values(none(t({-1, 2}, {1, 2}), logits), {0.0f, 1.480129f}, 1e-5);
  require_values(none(t({-1, 2}, {1, 2, 1}), logits), {0.0f, 1.480129f}, 1e-5);
  // The mean counts only the kept entries (Keras's apply_mask): 1.480129 / 1, not / 2.
  md::losses::SparseCategoricalCrossentropy mean({.from_logits = true, .ignore_class = -1});
  CHECK(scalar_of(mean(t({-1, 2}, {1, 2}), logits)) == Approx(1.480129).margin(1e-5));
  md::losses::SparseCategoricalCrossentropy sum({.from_logits = true, .ignore_class = -1, .reduction = "sum"});
  CHECK(scalar_of(sum(t({-1, 2}, {1, 2}), logits)) == Approx(1.480129).margin(1e-5));
  // No gradient reaches the ignored entry's predictions, on both paths.
  for (bool from_logits : {true, false}) {
    const md::Tensor pred = from_logits ? logits : md::ops::softmax(logits);
    const md::Tensor g = gradient_of(
        [&](const md::Tensor& x) {
          return md::losses::SparseCategoricalCrossentropy({.from_logits = from_logits, .ignore_class = -1})(
              t({-1, 2}, {1, 2}), x);
        },
        pred);
    const std::vector<float> gv = g.to_vector();
    CHECK(all_finite(g));
    CHECK(gv[0] == 0.0f);
    CHECK(gv[1] == 0.0f);
    CHECK(gv[2] == 0.0f);
  }
}

TEST_CASE("losses: sparse labels out of range or not whole are clear errors", "[optim][losses][errors]") {
  const md::Tensor logits = t({0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, {2, 3});
  const std::string too_big = error_text([&] { md::losses::sparse_categorical_crossentropy(t({0, 3}, {2}), logits); });
  CHECK_THAT(too_big,
             Contains("label value of 3") && Contains("y_true[1]") && Contains("[0, 3)") && Contains("3 classes"));
  const std::string negative = error_text([&] {
    md::losses::sparse_categorical_crossentropy(t({-1, 0}, {2}), logits);
  });
  CHECK_THAT(negative, Contains("label value of -1") && Contains("y_true[0]") && Contains("[0, 3)"));
  const std::string fraction = error_text([&] {
    md::losses::sparse_categorical_crossentropy(t({0, 1.5f}, {2}), logits);
  });
  CHECK_THAT(fraction, Contains("1.5") && Contains("not an integer class index"));
  // Through the object too, with (B, 1) labels: the message names the position in the squeezed labels.
  const std::string through_object = error_text([&] {
    md::losses::SparseCategoricalCrossentropy({.from_logits = true})(t({10, 0}, {2, 1}), logits);
  });
  CHECK_THAT(through_object, Contains("label value of 10") && Contains("[0, 3)"));
  CHECK_THROWS_AS(md::losses::sparse_categorical_crossentropy(t({0, 3}, {2}), logits), md::ValueError);
}

// ---- shapes, reductions, masks, sample weights --------------------------------------------

TEST_CASE("losses: shape mismatches are errors with Keras's wording", "[optim][losses][errors]") {
  const md::Tensor labels = t({0, 1, 2}, {3, 1});
  const md::Tensor pred = cce_probabilities();
  // Keras's test_shape_mismatch for BinaryCrossentropy and CategoricalCrossentropy.
  CHECK_THAT(
      error_text([&] { md::losses::BinaryCrossentropy()(labels, pred); }),
      Contains("must have the same shape") && Contains("target.shape=(3, 1)") && Contains("output.shape=(3, 3)"));
  CHECK_THAT(error_text([&] { md::losses::CategoricalCrossentropy()(labels, pred); }),
             Contains("must have the same shape") && Contains("(3, 1)"));
  CHECK_THROWS_AS(md::losses::CategoricalCrossentropy()(labels, pred), md::ShapeError);
  // Sparse labels must match y_pred up to its last axis.
  CHECK_THAT(error_text([&] {
               md::losses::sparse_categorical_crossentropy(t({0, 1}, {2}), pred);
             }),
             Contains("same shape up until the last dimension") && Contains("target.shape=(2,)") &&
                 Contains("output.shape=(3, 3)"));
  // Regression losses refuse what Keras would broadcast silently.
  CHECK_THAT(error_text([&] { md::losses::mean_squared_error(labels, pred); }),
             Contains("mean_squared_error") && Contains("y_true.shape=(3, 1)") && Contains("y_pred.shape=(3, 3)"));
  CHECK_THROWS_AS(md::losses::mean_absolute_error(t({1, 2}, {2}), t({1, 2, 3}, {3})), md::ShapeError);
  // A sample weight that does not broadcast.
  CHECK_THROWS_AS(md::losses::MeanSquaredError()(regression_true(), regression_pred(), t({1, 2, 3}, {3})),
                  md::ShapeError);
}

TEST_CASE("losses: reductions, sample weights and masks", "[optim][losses]") {
  const md::Tensor y = t({1, 0, 0, 1}, {4, 1});
  const md::Tensor p = t({0.5f, 1.0f, 2.0f, 1.0f}, {4, 1});
  // Per-sample squared errors: 0.25, 1, 4, 0.
  const md::Tensor w = t({1, 2, 0, 4}, {4});
  CHECK(scalar_of(md::losses::MeanSquaredError({.reduction = "sum"})(y, p)) == Approx(5.25));
  CHECK(scalar_of(md::losses::MeanSquaredError()(y, p)) == Approx(5.25 / 4));
  CHECK(scalar_of(md::losses::MeanSquaredError()(y, p, w)) == Approx((0.25 + 2.0) / 4));
  CHECK(scalar_of(md::losses::MeanSquaredError({.reduction = "sum"})(y, p, w)) == Approx(2.25));
  CHECK(scalar_of(md::losses::MeanSquaredError({.reduction = "mean_with_sample_weight"})(y, p, w)) == Approx(2.25 / 7));
  // mean_with_sample_weight with all-zero weights is 0, not NaN (divide_no_nan).
  CHECK(scalar_of(md::losses::MeanSquaredError({.reduction = "mean_with_sample_weight"})(
            y, p, md::Tensor::zeros({4}))) == 0.0f);
  const md::Tensor none = md::losses::MeanSquaredError({.reduction = "none"})(y, p, w);
  require_values(none, {0.25f, 2.0f, 0.0f, 0.0f}, 1e-6);
  // Integer-typed weights and labels are cast.
  CHECK(scalar_of(md::losses::MeanSquaredError()(y.astype(md::DType::int32), p, w.astype(md::DType::int32))) ==
        Approx((0.25 + 2.0) / 4));

  // A keras_mask on y_pred drops samples and, for the mean, shrinks the count.
  md::Tensor masked = p.clone();
  masked.set_keras_mask(t({1, 1, 0, 1}, {4}).astype(md::DType::bool_));
  CHECK(scalar_of(md::losses::MeanSquaredError()(y, masked)) == Approx((0.25 + 1.0) / 3));
  CHECK(scalar_of(md::losses::MeanSquaredError({.reduction = "sum"})(y, masked)) == Approx(1.25));
  CHECK(scalar_of(md::losses::MeanSquaredError()(y, masked, w)) == Approx((0.25 + 2.0) / 3));

  // The generic helper.
  CHECK(scalar_of(md::losses::reduce_weighted_values(t({1, 2, 3}, {3}), t({1, 0, 1}, {3}))) == Approx(4.0 / 3));
  CHECK(md::losses::reduce_weighted_values(md::Tensor::scalar(2.5f)).item() == 2.5f);

  CHECK_THAT(error_text([] { md::losses::MeanSquaredError({.reduction = "avg"}); }),
             Contains("Invalid value for argument `reduction`") && Contains("reduction=avg"));
}

// ---- gradients ---------------------------------------------------------------------------

TEST_CASE("losses: gradcheck of every loss (tape vs finite differences)", "[optim][losses][gradcheck]") {
  // Values kept away from the kinks (|error| = 0 for MAE, |error| = delta for Huber) and from the
  // probability clip edges, where finite differences are not meaningful.
  const md::Tensor y_reg = t({0.5f, -1.0f, 2.0f, 0.0f, 1.5f, -0.5f}, {2, 3});
  const md::Tensor p_reg = t({1.2f, -0.3f, 0.4f, -2.1f, 1.9f, 0.45f}, {2, 3});
  require_gradcheck(
      "MeanSquaredError",
      [&](const std::vector<md::Tensor>& in) { return md::losses::MeanSquaredError()(y_reg, in[0]); }, p_reg);
  require_gradcheck(
      "MeanAbsoluteError",
      [&](const std::vector<md::Tensor>& in) { return md::losses::MeanAbsoluteError()(y_reg, in[0]); }, p_reg);
  require_gradcheck(
      "Huber(delta=1)", [&](const std::vector<md::Tensor>& in) { return md::losses::Huber()(y_reg, in[0]); }, p_reg);
  require_gradcheck(
      "Huber(delta=0.3)",
      [&](const std::vector<md::Tensor>& in) { return md::losses::Huber({.delta = 0.3})(y_reg, in[0]); }, p_reg);
  // Both arguments of the regression losses.
  require_gradcheck(
      "mean_squared_error wrt y_true",
      [&](const std::vector<md::Tensor>& in) { return md::losses::mean_squared_error(in[0], p_reg); }, y_reg);

  const md::Tensor y_bin = t({1, 0, 1, 0, 0.2f, 0.9f}, {2, 3});
  const md::Tensor logits = t({2.5f, -1.0f, 0.3f, 0.7f, -3.0f, 1.7f}, {2, 3});
  const md::Tensor probs = t({0.8f, 0.3f, 0.45f, 0.6f, 0.1f, 0.7f}, {2, 3});
  require_gradcheck(
      "BinaryCrossentropy(from_logits)",
      [&](const std::vector<md::Tensor>& in) {
        return md::losses::BinaryCrossentropy({.from_logits = true})(y_bin, in[0]);
      },
      logits);
  require_gradcheck(
      "BinaryCrossentropy(from_logits, label_smoothing)",
      [&](const std::vector<md::Tensor>& in) {
        return md::losses::BinaryCrossentropy({.from_logits = true, .label_smoothing = 0.2})(y_bin, in[0]);
      },
      logits);
  require_gradcheck(
      "BinaryCrossentropy(probabilities)",
      [&](const std::vector<md::Tensor>& in) { return md::losses::BinaryCrossentropy()(y_bin, in[0]); }, probs);

  const md::Tensor y_cat = t({0, 1, 0, 0.1f, 0.3f, 0.6f}, {2, 3});
  const md::Tensor cat_logits = t({1.5f, -0.5f, 0.25f, 3.0f, 0.1f, -2.0f}, {2, 3});
  const md::Tensor cat_probs = t({0.2f, 0.5f, 0.3f, 0.6f, 0.25f, 0.15f}, {2, 3});
  require_gradcheck(
      "CategoricalCrossentropy(from_logits)",
      [&](const std::vector<md::Tensor>& in) {
        return md::losses::CategoricalCrossentropy({.from_logits = true, .label_smoothing = 0.1})(y_cat, in[0]);
      },
      cat_logits);
  require_gradcheck(
      "CategoricalCrossentropy(probabilities)",
      [&](const std::vector<md::Tensor>& in) { return md::losses::CategoricalCrossentropy()(y_cat, in[0]); },
      cat_probs);
  const md::Tensor labels = t({1, 0}, {2});
  require_gradcheck(
      "SparseCategoricalCrossentropy(from_logits)",
      [&](const std::vector<md::Tensor>& in) {
        return md::losses::SparseCategoricalCrossentropy({.from_logits = true})(labels, in[0]);
      },
      cat_logits);
  require_gradcheck(
      "SparseCategoricalCrossentropy(probabilities)",
      [&](const std::vector<md::Tensor>& in) { return md::losses::SparseCategoricalCrossentropy()(labels, in[0]); },
      cat_probs);
  require_gradcheck(
      "SparseCategoricalCrossentropy weighted",
      [&](const std::vector<md::Tensor>& in) {
        return md::losses::SparseCategoricalCrossentropy({.from_logits = true})(labels, in[0], t({0.3f, 2.0f}, {2}));
      },
      cat_logits);

  // Second order through nested tapes on the logits form (e.g. for gradient penalties).
  const md::testing::GradcheckResult second = md::testing::gradgradcheck(
      [&](const std::vector<md::Tensor>& in) { return md::losses::binary_crossentropy(y_bin, in[0], true); }, {logits});
  INFO("gradgradcheck: " << second.describe());
  CHECK(second.max_relative_error < 1e-2);
}

// ---- configs and lookup --------------------------------------------------------------------

TEST_CASE("losses: configs have Keras's keys and round-trip", "[optim][losses][config]") {
  // Keras's HuberLossTest.test_config
  md::losses::Huber h({.delta = 2.0, .reduction = "sum", .name = "huber"});
  CHECK(h.name() == "huber");
  CHECK(h.reduction() == "sum");
  CHECK(h.get_config() == md::json({{"name", "huber"}, {"reduction", "sum"}, {"delta", 2.0}}));
  CHECK(md::losses::Huber::from_config(h.get_config()).get_config() == h.get_config());

  // Keras's SparseCategoricalCrossentropyTest.test_config keys (axis other than -1 is not supported).
  md::losses::SparseCategoricalCrossentropy scce({.from_logits = true, .ignore_class = 3, .name = "scce"});
  const md::json sc = scce.get_config();
  CHECK(sc.dump() ==
        R"({"name":"scce","reduction":"sum_over_batch_size","from_logits":true,"ignore_class":3,"axis":-1})");
  CHECK(md::losses::SparseCategoricalCrossentropy::from_config(sc).get_config() == sc);
  CHECK(md::losses::SparseCategoricalCrossentropy().get_config().at("ignore_class").is_null());

  CHECK(md::losses::BinaryCrossentropy({.label_smoothing = 0.1, .name = "bce"}).get_config().dump() ==
        R"({"name":"bce","reduction":"sum_over_batch_size","from_logits":false,"label_smoothing":0.1,"axis":-1})");
  CHECK(
      md::losses::CategoricalCrossentropy().get_config().dump() ==
      R"({"name":"categorical_crossentropy","reduction":"sum_over_batch_size","from_logits":false,"label_smoothing":0.0,"axis":-1})");
  CHECK(md::losses::MeanSquaredError({.name = "mymse"}).get_config().dump() ==
        R"({"name":"mymse","reduction":"sum_over_batch_size"})");
  // Keras keeps the reduction as given: "none" is written as "none", None (std::nullopt) as null;
  // both reduce nothing (tests/data/keras/losses.h5, the *.none and *.reduction_None cases).
  CHECK(md::losses::MeanAbsoluteError({.reduction = "none"}).get_config().at("reduction") == "none");
  const md::losses::MeanAbsoluteError unreduced({.reduction = std::nullopt});
  CHECK(unreduced.reduction() == "none");
  CHECK(unreduced.get_config().at("reduction").is_null());
  const auto from_null = md::losses::MeanAbsoluteError::from_config({{"name", "m"}, {"reduction", nullptr}});
  CHECK(from_null.reduction() == "none");
  CHECK(from_null.get_config().at("reduction").is_null());
  CHECK(md::losses::MeanAbsoluteError::from_config({{"name", "m"}, {"reduction", "none"}}).get_config().at(
            "reduction") == "none");
  const md::Tensor y = md::Tensor::from_vector({1, 2, 3, 4}, {2, 2}), p = md::Tensor::from_vector({0, 2, 5, 4}, {2, 2});
  CHECK(unreduced(y, p).to_vector() == md::losses::MeanAbsoluteError({.reduction = "none"})(y, p).to_vector());

  // serialize / deserialize every built-in class.
  const std::vector<std::shared_ptr<md::losses::Loss>> all = {
      std::make_shared<md::losses::MeanSquaredError>(md::losses::MeanSquaredError({.reduction = "sum"})),
      std::make_shared<md::losses::MeanAbsoluteError>(),
      std::make_shared<md::losses::Huber>(md::losses::Huber({.delta = 0.5})),
      std::make_shared<md::losses::BinaryCrossentropy>(
          md::losses::BinaryCrossentropy({.from_logits = true, .axis = 1})),
      std::make_shared<md::losses::CategoricalCrossentropy>(
          md::losses::CategoricalCrossentropy({.label_smoothing = 0.2})),
      std::make_shared<md::losses::SparseCategoricalCrossentropy>(
          md::losses::SparseCategoricalCrossentropy({.ignore_class = 0})),
  };
  for (const auto& loss : all) {
    INFO(loss->class_name());
    const md::json object = md::losses::serialize(*loss);
    CHECK(object.at("module") == "keras.losses");
    CHECK(object.at("class_name") == loss->class_name());
    CHECK(object.at("registered_name").is_null());
    const auto again = md::losses::deserialize(object);
    CHECK(again->class_name() == loss->class_name());
    CHECK(again->get_config() == loss->get_config());
    CHECK(md::losses::get(object)->get_config() == loss->get_config());
  }

  // Bad configs name the class and the key.
  CHECK_THAT(error_text([] {
               md::losses::Huber::from_config({{"delta", "big"}});
             }),
             Contains("Huber") && Contains("'delta'") && Contains("a number"));
  CHECK_THAT(error_text([] {
               md::losses::MeanSquaredError::from_config({{"fn", "x"}});
             }),
             Contains("MeanSquaredError") && Contains("unexpected key 'fn'"));
  CHECK_THAT(error_text([] {
               md::losses::deserialize({{"class_name", "Poisson"}, {"config", md::json::object()}});
             }),
             Contains("Could not locate class 'Poisson'"));
}

TEST_CASE("losses: get() takes Keras's identifiers", "[optim][losses][config]") {
  // A function name (or alias) names the object after itself, as Keras's compile does.
  const auto scce = md::losses::get("sparse_categorical_crossentropy");
  CHECK(scce->class_name() == "SparseCategoricalCrossentropy");
  CHECK(scce->name() == "sparse_categorical_crossentropy");
  const auto mse = md::losses::get("mse");
  CHECK(mse->class_name() == "MeanSquaredError");
  CHECK(mse->name() == "mse");
  CHECK(md::losses::get("MAE")->class_name() == "MeanAbsoluteError");
  CHECK(md::losses::get("bce")->class_name() == "BinaryCrossentropy");
  CHECK(md::losses::get("huber")->name() == "huber");
  // A class name keeps the class's default name.
  CHECK(md::losses::get("Huber")->name() == "huber_loss");
  CHECK(md::losses::get("CategoricalCrossentropy")->name() == "categorical_crossentropy");
  CHECK(md::losses::get(md::json("mae"))->class_name() == "MeanAbsoluteError");
  // A loss from get() computes like the class.
  CHECK(scalar_of((*mse)(regression_true(), regression_pred())) == Approx(49.5).margin(1e-4));

  const std::string unknown = error_text([] { md::losses::get("mean_sqared_error"); });
  CHECK_THAT(unknown, Contains("Could not interpret loss identifier: 'mean_sqared_error'") &&
                          Contains("mean_squared_error") && Contains("sparse_categorical_crossentropy") &&
                          Contains("mse"));
  CHECK_THAT(error_text([] { md::losses::get("crossentropy"); }), Contains("binary_crossentropy"));
}

TEST_CASE("losses: user losses from a subclass or a function", "[optim][losses]") {
  struct Cubed : md::losses::Loss {
    Cubed() : Loss("cubed") {}
    md::Tensor call(const md::Tensor& y_true, const md::Tensor& y_pred) const override {
      return md::ops::mean(md::ops::power(md::ops::abs(y_pred - y_true), 3.0f), {-1});
    }
    std::string class_name() const override { return "Cubed"; }
    std::shared_ptr<Loss> clone() const override { return std::make_shared<Cubed>(*this); }
  };
  Cubed cubed;
  CHECK(scalar_of(cubed(t({0, 0}, {2, 1}), t({1, 2}, {2, 1}))) == Approx(4.5));
  // Keras's serialize_keras_object: an unregistered class is written under its bare class name,
  // a registered one as "package>Name" ("Custom>Name" in minidl), which deserialize() resolves.
  const md::json object = md::losses::serialize(cubed);
  CHECK(object.at("module") == "minidl.custom");
  CHECK(object.at("registered_name") == "Cubed");
  CHECK_THROWS_WITH(md::losses::deserialize(object), Catch::StartsWith("Could not locate class 'Cubed'."));
  md::losses::register_loss("Cubed", [](const md::json&) { return std::make_shared<Cubed>(); });
  const md::json registered = md::losses::serialize(cubed);
  CHECK(registered.at("registered_name") == "Custom>Cubed");
  CHECK(md::losses::deserialize(registered)->class_name() == "Cubed");

  md::losses::LossFunctionWrapper wrapped(
      [](const md::Tensor& y_true, const md::Tensor& y_pred) { return md::ops::sum(y_pred - y_true, {-1}); }, "diff",
      "sum");
  CHECK(scalar_of(wrapped(t({1, 1}, {2}), t({2, 4}, {2, 1}))) == Approx(4.0));
  CHECK(wrapped.get_config() == md::json({{"name", "diff"}, {"reduction", "sum"}}));
}

TEST_CASE("losses: per-sample functions trace on symbolic tensors", "[optim][losses]") {
  // Built from md::ops, so a loss can be part of a traced graph; label checks wait for data.
  const md::Tensor logits = md::Input({10});                   // (None, 10)
  const md::Tensor labels = md::Input(md::Shape{}, "labels");  // (None,)
  const md::Tensor per_sample = md::losses::sparse_categorical_crossentropy(labels, logits, true);
  CHECK(per_sample.is_symbolic());
  CHECK(per_sample.shape() == md::Shape{md::None});
  const md::Tensor reduced = md::losses::CategoricalCrossentropy({.from_logits = true})(md::Input({10}), logits);
  CHECK(reduced.is_symbolic());
  CHECK(reduced.shape() == md::Shape{});
}
