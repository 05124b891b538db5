// SimpleRNN, LSTM and GRU on their two paths: the fused sequence op (md::ops::lstm_sequence and
// friends) where the call fits, the composed cell loop otherwise. Both paths give the same
// outputs, states and gradients for every option the fused path takes (initial states,
// go_backwards, stateful, no bias, input dropout with the same seed); the layer picks the path
// Keras's configuration allows; dropout draws Keras 3's masks (DropoutRNNCell: once per call, one
// shared input mask, or one mask per gate for x and h with recurrent_dropout); and second
// derivatives through an LSTM match finite differences of its first derivative.
#include <minidl/core/backend/attention_kernels.h>  // KernelPath
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <optional>

#include "layer_test_harness.h"

namespace md = minidl;
namespace ml = md::layers;

namespace {

md::Tensor uniform(const md::Shape& shape, uint64_t seed) { return md::random::uniform(shape, -1.0f, 1.0f, seed); }

// The outputs of one call, and the gradients of sum(outputs * cotangents) with respect to x, the
// initial states and every trainable weight.
struct Run {
  std::vector<md::Tensor> outputs, grads;
  bool fused = false;
};

Run run(ml::RNN& layer, const md::Tensor& x, const std::vector<md::Tensor>& states, bool training) {
  md::GradientTape tape;
  tape.watch(x);
  for (const md::Tensor& s : states) tape.watch(s);
  Run r;
  r.outputs = layer.call_with_state(x, states, {.training = training});
  r.fused = layer.last_call_fused();
  md::Tensor total = md::Tensor::scalar(0.0f);
  uint64_t seed = 100;
  for (const md::Tensor& o : r.outputs) total = total + md::ops::sum(o * uniform(o.shape(), seed++));
  std::vector<md::GradSource> sources{x};
  for (const md::Tensor& s : states) sources.emplace_back(s);
  for (const md::Variable& w : layer.trainable_weights()) sources.emplace_back(w);
  r.grads = tape.gradient(total, sources);
  return r;
}

void check_same(const Run& fused, const Run& composed, const std::string& what) {
  INFO(what);
  CHECK(fused.fused);
  CHECK_FALSE(composed.fused);
  REQUIRE(fused.outputs.size() == composed.outputs.size());
  for (size_t i = 0; i < fused.outputs.size(); ++i) {
    lt::check_values(fused.outputs[i], composed.outputs[i].to_vector(), 1e-5, what + ": output " + std::to_string(i));
  }
  REQUIRE(fused.grads.size() == composed.grads.size());
  for (size_t i = 0; i < fused.grads.size(); ++i) {
    REQUIRE(fused.grads[i].defined() == composed.grads[i].defined());
    if (fused.grads[i].defined()) {
      lt::check_values(fused.grads[i], composed.grads[i].to_vector(), 1e-5, what + ": gradient " + std::to_string(i));
    }
  }
}

// Builds both layers for x and gives them the same weights, far from the initializers' small
// values so that every gate matters, drawn from `seed` on.
template <class L>
void same_weights(L& a, L& b, const md::Tensor& x, uint64_t seed) {
  a.build(md::ShapeSpec(x.shape()));
  b.build(md::ShapeSpec(x.shape()));
  std::vector<md::Tensor> weights;
  for (const md::Tensor& w : a.get_weights()) weights.push_back(uniform(w.shape(), seed++) * 0.7f);
  a.set_weights(weights);
  b.set_weights(weights);
}

// Two layers made by `make` with the same weights (and, through the options, the same seed): one
// runs as it chooses, the other under ComposedRecurrenceGuard.
template <class L>
void compare_paths(const std::function<L()>& make, const md::Tensor& x, const std::vector<md::Tensor>& states,
                   bool training, const std::string& what) {
  L fused_layer = make();
  L composed_layer = make();
  same_weights(fused_layer, composed_layer, x, 40);
  const Run a = run(fused_layer, x, states, training);
  Run b;
  {
    const ml::ComposedRecurrenceGuard composed;
    b = run(composed_layer, x, states, training);
  }
  check_same(a, b, what);
}

// The gradients of sum(outputs * cotangents) with respect to the trainable weights alone (x is
// not watched, so the fused backward keeps no gate gradients for dx), on both paths.
template <class L>
void compare_weight_gradients(const std::function<L()>& make, const md::Tensor& x, const std::string& what) {
  INFO(what);
  L fused_layer = make();
  L composed_layer = make();
  same_weights(fused_layer, composed_layer, x, 60);
  auto grads = [&](L& layer) {
    md::GradientTape tape;
    const md::Tensor out = layer(x, {.training = true});
    const md::Tensor total = md::ops::sum(out * uniform(out.shape(), 99));
    std::vector<md::GradSource> sources;
    for (const md::Variable& w : layer.trainable_weights()) sources.emplace_back(w);
    return tape.gradient(total, sources);
  };
  const std::vector<md::Tensor> a = grads(fused_layer);
  CHECK(fused_layer.last_call_fused());
  std::vector<md::Tensor> b;
  {
    const ml::ComposedRecurrenceGuard composed;
    b = grads(composed_layer);
  }
  REQUIRE(a.size() == b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    lt::check_values(a[i], b[i].to_vector(), 1e-5, what + ": weight gradient " + std::to_string(i));
  }
}

// body(tag) once on each kernel path this CPU runs (tag names it), then back to the automatic one.
void on_every_kernel_path(const std::function<void(const std::string&)>& body) {
  namespace mb = md::backend;
  for (const mb::KernelPath path : mb::supported_kernel_paths()) {
    mb::set_kernel_path(path);
    body(std::string(" on the ") + mb::kernel_path_name(path) + " path");
  }
  mb::set_kernel_path(mb::KernelPath::automatic);
}

}  // namespace

TEST_CASE("Recurrent layers: the fused path computes what the composed cell loop computes",
          "[layers][recurrent][fused]") {
  const md::Tensor x = uniform({3, 5, 4}, 1);
  const md::Tensor h0 = uniform({3, 6}, 2), c0 = uniform({3, 6}, 3);
  for (bool go_backwards : {false, true}) {
    for (bool sequences : {false, true}) {
      const std::string tag = std::string(go_backwards ? " backwards" : "") + (sequences ? " sequences" : " last");
      compare_paths<ml::LSTM>(
          [&] {
            return ml::LSTM({.units = 6, .return_sequences = sequences, .return_state = true,
                             .go_backwards = go_backwards});
          },
          x, {h0, c0}, true, "LSTM" + tag);
      for (bool reset_after : {true, false}) {
        compare_paths<ml::GRU>(
            [&] {
              return ml::GRU({.units = 6, .reset_after = reset_after, .return_sequences = sequences,
                              .return_state = true, .go_backwards = go_backwards});
            },
            x, {h0}, true, "GRU reset_after=" + std::to_string(reset_after) + tag);
      }
      for (const char* activation : {"tanh", "relu", "sigmoid"}) {
        compare_paths<ml::SimpleRNN>(
            [&] {
              return ml::SimpleRNN({.units = 6, .activation = activation, .return_sequences = sequences,
                                    .return_state = true, .go_backwards = go_backwards});
            },
            x, {h0}, true, std::string("SimpleRNN ") + activation + tag);
      }
    }
  }
  // A batch the backend splits across threads (uneven slices of rows, each running every step).
  const md::Tensor wide = uniform({37, 6, 5}, 4);
  const md::Tensor wide_h = uniform({37, 6}, 5), wide_c = uniform({37, 6}, 6);
  compare_paths<ml::LSTM>([] { return ml::LSTM({.units = 6, .return_sequences = true, .return_state = true}); }, wide,
                          {wide_h, wide_c}, true, "LSTM, batch 37");
  for (bool reset_after : {true, false}) {
    compare_paths<ml::GRU>(
        [&] { return ml::GRU({.units = 6, .reset_after = reset_after, .return_sequences = true, .go_backwards = true}); },
        wide, {wide_h}, true, "GRU, batch 37, reset_after=" + std::to_string(reset_after));
  }
  compare_paths<ml::SimpleRNN>([] { return ml::SimpleRNN({.units = 6, .return_state = true}); }, wide, {wide_h}, true,
                               "SimpleRNN, batch 37");
  // Default (zero) initial states, no bias, inference.
  compare_paths<ml::LSTM>([] { return ml::LSTM({.units = 5, .use_bias = false, .return_sequences = true}); }, x, {},
                          false, "LSTM without bias");
  compare_paths<ml::GRU>([] { return ml::GRU({.units = 5, .use_bias = false, .reset_after = false}); }, x, {}, false,
                         "GRU reset_after=false without bias");
  compare_paths<ml::GRU>([] { return ml::GRU({.units = 5, .use_bias = false}); }, x, {}, false, "GRU without bias");
  // Input dropout in training: the same seed draws the same mask on both paths, and recurrent
  // dropout in inference is off (the fused path takes it).
  compare_paths<ml::LSTM>(
      [] { return ml::LSTM({.units = 5, .dropout = 0.4, .seed = 9, .return_sequences = true}); }, x, {}, true,
      "LSTM with input dropout");
  compare_paths<ml::GRU>([] { return ml::GRU({.units = 5, .dropout = 0.4, .seed = 9}); }, x, {}, true,
                         "GRU with input dropout");
  compare_paths<ml::SimpleRNN>([] { return ml::SimpleRNN({.units = 5, .dropout = 0.4, .seed = 9}); }, x, {}, true,
                               "SimpleRNN with input dropout");
  compare_paths<ml::LSTM>([] { return ml::LSTM({.units = 5, .dropout = 0.4, .recurrent_dropout = 0.3}); }, x, {},
                          false, "LSTM with dropout, inference");
}

TEST_CASE("Recurrent layers: the packed per-step product is right on every kernel path",
          "[layers][recurrent][fused]") {
  // Units 21: every gate count leaves a partial 16-column panel (84, 63, 42, 21 columns) and the
  // backward's products a k that is no multiple of anything; batch 19: row tiles of 6 (AVX2) and
  // 4 (portable) with remainders, split unevenly between threads where there are two.
  const md::Tensor x = uniform({19, 4, 5}, 7);
  const md::Tensor h0 = uniform({19, 21}, 8), c0 = uniform({19, 21}, 9);
  on_every_kernel_path([&](const std::string& tag) {
    for (bool go_backwards : {false, true}) {
      compare_paths<ml::LSTM>(
          [&] {
            return ml::LSTM({.units = 21, .return_sequences = true, .return_state = true, .go_backwards = go_backwards});
          },
          x, {h0, c0}, true, "LSTM" + tag);
      for (bool reset_after : {true, false}) {
        compare_paths<ml::GRU>(
            [&] {
              return ml::GRU({.units = 21, .reset_after = reset_after, .return_sequences = true, .return_state = true,
                              .go_backwards = go_backwards});
            },
            x, {h0}, true, "GRU reset_after=" + std::to_string(reset_after) + tag);
      }
      compare_paths<ml::SimpleRNN>(
          [&] { return ml::SimpleRNN({.units = 21, .return_sequences = true, .go_backwards = go_backwards}); }, x,
          {h0}, true, "SimpleRNN" + tag);
    }
  });
}

TEST_CASE("Recurrent layers: the weight gradients are right over several depth blocks on every kernel path",
          "[layers][recurrent][fused]") {
  // The weight gradients sum over batch * time rows in blocks of 256 (recurrent.cpp,
  // kDepthBlock): batch 40 x time 15 = 600 rows are two whole blocks and a part, and units 21
  // leave partial panels in every gate block (GRU: the recurrent kernel's z, r | h split at 42).
  // Many rows, few steps: longer sequences amplify the rational tanh's 5e-7 towards 1e-5.
  const md::Tensor x = uniform({40, 15, 5}, 11);
  const md::Tensor h0 = uniform({40, 21}, 12), c0 = uniform({40, 21}, 13);
  on_every_kernel_path([&](const std::string& tag) {
    compare_paths<ml::LSTM>([] { return ml::LSTM({.units = 21, .return_sequences = true, .go_backwards = true}); }, x,
                            {h0, c0}, true, "LSTM" + tag);
    // 70 units: the backward's per-step product is 280 deep, past the tile's 256-deep slices
    // (over 5 steps: these larger sums amplify the rational tanh's error faster).
    compare_paths<ml::LSTM>([] { return ml::LSTM({.units = 70}); }, uniform({40, 5, 5}, 14), {}, true,
                            "LSTM with 70 units" + tag);
    for (bool reset_after : {true, false}) {
      compare_paths<ml::GRU>([&] { return ml::GRU({.units = 21, .reset_after = reset_after}); }, x, {h0}, true,
                             "GRU reset_after=" + std::to_string(reset_after) + tag);
    }
    // Weights only: the loop keeps just each step's gate gradients (GRU: 24 units put the h
    // columns of the recurrent kernel on a panel boundary, 21 do not and repack them from the
    // gradient panels block by block).
    compare_weight_gradients<ml::LSTM>([] { return ml::LSTM({.units = 21}); }, x, "LSTM, weights only" + tag);
    for (int64_t units : {21, 24}) {
      for (bool reset_after : {true, false}) {
        compare_weight_gradients<ml::GRU>(
            [&] { return ml::GRU({.units = units, .reset_after = reset_after}); }, x,
            "GRU " + std::to_string(units) + " units reset_after=" + std::to_string(reset_after) +
                ", weights only" + tag);
      }
    }
    compare_weight_gradients<ml::SimpleRNN>([] { return ml::SimpleRNN({.units = 21, .activation = "sigmoid"}); }, x,
                                            "SimpleRNN, weights only" + tag);
    // Sigmoid: tanh with these weights amplifies the rational tanh's 5e-7 in the gradient
    // reaching x towards 1e-5 (past it over 30 steps); sigmoid's slope (at most 1/4) damps it.
    compare_paths<ml::SimpleRNN>(
        [] { return ml::SimpleRNN({.units = 21, .activation = "sigmoid", .return_sequences = true}); }, x, {}, true,
        "SimpleRNN" + tag);
  });
}

TEST_CASE("Recurrent layers: every thread's partial weight gradients are added, at any thread count",
          "[layers][recurrent][fused]") {
  // Each thread sums the weight gradients over its own batch rows, the first into the outputs,
  // the others into partial sums added afterwards in thread order: 1 to 5 threads (batch 40 gives
  // each of 5 threads its 8 rows), slices of uneven sizes, each thread's k = rows * 15 crossing a
  // 256-row depth block at 1 and 2 threads. Weights only (the loop keeps one step of gate
  // gradients) and with x and the states watched (every row kept for dx).
  const md::Tensor x = uniform({40, 15, 5}, 21);
  const md::Tensor h0 = uniform({40, 21}, 22), c0 = uniform({40, 21}, 23);
  const int threads_before = md::get_num_threads();
  for (int threads : {1, 2, 3, 5}) {
    md::set_num_threads(threads);
    const std::string tag = ", " + std::to_string(threads) + " thread(s)";
    compare_paths<ml::LSTM>([] { return ml::LSTM({.units = 21, .return_sequences = true}); }, x, {h0, c0}, true,
                            "LSTM" + tag);
    compare_weight_gradients<ml::LSTM>([] { return ml::LSTM({.units = 21}); }, x, "LSTM, weights only" + tag);
    for (bool reset_after : {true, false}) {
      compare_weight_gradients<ml::GRU>([&] { return ml::GRU({.units = 21, .reset_after = reset_after}); }, x,
                                        "GRU reset_after=" + std::to_string(reset_after) + ", weights only" + tag);
    }
    compare_weight_gradients<ml::SimpleRNN>([] { return ml::SimpleRNN({.units = 21, .activation = "sigmoid"}); }, x,
                                            "SimpleRNN, weights only" + tag);
  }
  md::set_num_threads(threads_before);
}

TEST_CASE("Recurrent layers: stateful calls carry the same states on both paths", "[layers][recurrent][fused]") {
  const md::Tensor x = uniform({2, 4, 3}, 5);
  ml::LSTM fused({.units = 4, .stateful = true});
  ml::LSTM composed({.units = 4, .stateful = true});
  fused.build(md::ShapeSpec(x.shape()));
  composed.build(md::ShapeSpec(x.shape()));
  composed.set_weights(fused.get_weights());
  for (int call = 0; call < 3; ++call) {
    const md::Tensor a = fused(x);
    CHECK(fused.last_call_fused());
    md::Tensor b;
    {
      const ml::ComposedRecurrenceGuard guard;
      b = composed(x);
    }
    lt::check_values(a, b.to_vector(), 1e-5, "stateful call " + std::to_string(call));
    REQUIRE(fused.states().size() == 2);
    for (size_t i = 0; i < 2; ++i) {
      lt::check_values(fused.states()[i], composed.states()[i].to_vector(), 1e-5, "state " + std::to_string(i));
    }
  }
}

TEST_CASE("Recurrent layers: the fused path is taken where Keras's configuration allows it",
          "[layers][recurrent][fused]") {
  const md::Tensor x = uniform({2, 4, 3}, 6);
  const md::Tensor mask = lt::bools({1, 1, 0, 0, 1, 1, 1, 1}, {2, 4});
  ml::LSTM lstm({.units = 3});
  lstm(x);
  CHECK(lstm.last_call_fused());
  lstm(x, {.mask = {mask}});
  CHECK_FALSE(lstm.last_call_fused());  // masks run the composed loop
  CHECK_FALSE(lstm.fused_sequence_allowed(mask, false));
  ml::LSTM relu({.units = 3, .activation = "relu"});
  relu(x);
  CHECK_FALSE(relu.last_call_fused());
  ml::LSTM hard({.units = 3, .recurrent_activation = "hard_sigmoid"});
  hard(x);
  CHECK_FALSE(hard.last_call_fused());
  ml::GRU recurrent_dropout({.units = 3, .recurrent_dropout = 0.2});
  recurrent_dropout(x, {.training = true});
  CHECK_FALSE(recurrent_dropout.last_call_fused());  // one mask per gate and per step's h
  recurrent_dropout(x, {.training = false});
  CHECK(recurrent_dropout.last_call_fused());
  ml::SimpleRNN elu({.units = 3, .activation = "elu"});
  elu(x);
  CHECK_FALSE(elu.last_call_fused());
  ml::SimpleRNN sigmoid({.units = 3, .activation = "sigmoid"});
  sigmoid(x);
  CHECK(sigmoid.last_call_fused());
  // Bidirectional's two layers take it too.
  ml::Bidirectional bidirectional(ml::GRU({.units = 2, .return_sequences = true}));
  bidirectional(x);
  CHECK(bidirectional.forward_layer().last_call_fused());
  CHECK(bidirectional.backward_layer().last_call_fused());
  {
    const ml::ComposedRecurrenceGuard composed;
    lstm(x);
    CHECK_FALSE(lstm.last_call_fused());
  }
  lstm(x);
  CHECK(lstm.last_call_fused());
}

TEST_CASE("Recurrent layers: RNN over a built-in cell takes its fused op and equals the layer",
          "[layers][recurrent][fused]") {
  const md::Tensor x = uniform({2, 5, 3}, 7);
  ml::LSTM lstm({.units = 4, .return_sequences = true});
  lstm.build(md::ShapeSpec(x.shape()));
  ml::RNN rnn(lstm.lstm_cell(), {.return_sequences = true, .return_state = true});
  const std::vector<md::Tensor> out = rnn.call_with_state(x, {});
  CHECK(rnn.last_call_fused());
  REQUIRE(out.size() == 3);  // {sequence, h, c}
  lt::check_values(out[0], lstm(x).to_vector(), 1e-6, "RNN(LSTMCell) sequence vs LSTM");
  CHECK(rnn.fused_sequence_allowed(md::Tensor(), true));
}

TEST_CASE("Recurrent dropout: Keras 3's masks, once per call, shared or one per gate", "[layers][recurrent][dropout]") {
  const md::Tensor x = uniform({400, 1, 6}, 7);
  const std::vector<md::Tensor> states{md::Tensor::zeros({400, 5}), md::Tensor::zeros({400, 5})};

  SECTION("without recurrent_dropout: one input mask for every gate (Keras's implementation 2)") {
    ml::LSTMCell cell({.units = 5, .dropout = 0.25, .seed = 3});
    cell.build(md::ShapeSpec(md::Shape{400, 6}));
    CHECK(cell.dropout_mask_count() == 1);
    cell.begin_sequence(md::ops::index(md::ops::swapaxes(x, 0, 1), 0), states, true);
    REQUIRE(cell.dropout_masks().size() == 1);
    CHECK(cell.recurrent_dropout_masks().empty());
    CHECK(cell.dropout_masks()[0].shape() == md::Shape{400, 6});
    cell.end_sequence();
    CHECK(cell.dropout_masks().empty());
    // Inference draws nothing.
    cell.begin_sequence(md::ops::index(md::ops::swapaxes(x, 0, 1), 0), states, false);
    CHECK(cell.dropout_masks().empty());
  }

  SECTION("with recurrent_dropout: one input and one recurrent mask per gate (implementation 1)") {
    ml::LSTMCell cell({.units = 5, .dropout = 0.25, .recurrent_dropout = 0.4, .seed = 3});
    cell.build(md::ShapeSpec(md::Shape{400, 6}));
    CHECK(cell.dropout_mask_count() == 4);
    const md::Tensor x0 = md::ops::index(md::ops::swapaxes(x, 0, 1), 0);
    const md::Tensor h = uniform({400, 5}, 8), c = uniform({400, 5}, 9);
    cell.begin_sequence(x0, {h, c}, true);
    const std::vector<md::Tensor> dp = cell.dropout_masks(), rdp = cell.recurrent_dropout_masks();
    REQUIRE(dp.size() == 4);
    REQUIRE(rdp.size() == 4);
    // Each mask: 0 or 1 / (1 - rate), about `rate` zeros; the masks are independent draws.
    for (size_t g = 0; g < 4; ++g) {
      CHECK(dp[g].shape() == md::Shape{400, 6});
      CHECK(rdp[g].shape() == md::Shape{400, 5});
      double zeros = 0, rzeros = 0;
      for (float v : dp[g].to_vector()) {
        CHECK((v == 0.0f || std::abs(v - 1.0f / 0.75f) < 1e-6f));
        zeros += v == 0.0f;
      }
      for (float v : rdp[g].to_vector()) {
        CHECK((v == 0.0f || std::abs(v - 1.0f / 0.6f) < 1e-6f));
        rzeros += v == 0.0f;
      }
      CHECK(zeros / 2400.0 == Approx(0.25).margin(0.03));
      CHECK(rzeros / 2000.0 == Approx(0.4).margin(0.03));
      if (g > 0) {
        double both = 0;
        const auto a = dp[0].to_vector(), b = dp[g].to_vector();
        for (size_t k = 0; k < a.size(); ++k) both += a[k] == 0.0f && b[k] == 0.0f;
        CHECK(both / 2400.0 == Approx(0.25 * 0.25).margin(0.02));  // independent, not one mask
      }
    }
    // The step applies gate g's masks to x and h before gate g's products, as Keras's
    // LSTMCell(implementation=1): recompute it from the masks.
    const std::vector<md::Tensor> out = cell.step(x0, {h, c}, true);
    const md::Tensor k = cell.kernel().value(), u = cell.recurrent_kernel().value(), b = cell.bias().value();
    std::vector<md::Tensor> z;
    for (int64_t g = 0; g < 4; ++g) {
      z.push_back(md::ops::matmul(x0 * dp[g], md::ops::slice(k, 1, g * 5, (g + 1) * 5)) +
                  md::ops::matmul(h * rdp[g], md::ops::slice(u, 1, g * 5, (g + 1) * 5)) +
                  md::ops::slice(b, 0, g * 5, (g + 1) * 5));
    }
    const md::Tensor c_new = md::ops::sigmoid(z[1]) * c + md::ops::sigmoid(z[0]) * md::ops::tanh(z[2]);
    const md::Tensor h_new = md::ops::sigmoid(z[3]) * md::ops::tanh(c_new);
    lt::check_values(out[0], h_new.to_vector(), 1e-6, "h with per-gate masks");
    lt::check_values(out[2], c_new.to_vector(), 1e-6, "c with per-gate masks");
    cell.end_sequence();
  }

  SECTION("GRU with recurrent_dropout: three masks each; reset_after=false drops h_h inside r * h") {
    for (bool reset_after : {true, false}) {
      ml::GRUCell cell({.units = 5, .dropout = 0.3, .recurrent_dropout = 0.3, .reset_after = reset_after, .seed = 4});
      cell.build(md::ShapeSpec(md::Shape{400, 6}));
      const md::Tensor x0 = md::ops::index(md::ops::swapaxes(x, 0, 1), 0), h = uniform({400, 5}, 10);
      cell.begin_sequence(x0, {h}, true);
      const std::vector<md::Tensor> dp = cell.dropout_masks(), rdp = cell.recurrent_dropout_masks();
      REQUIRE(dp.size() == 3);
      REQUIRE(rdp.size() == 3);
      const md::Tensor out = cell.step(x0, {h}, true)[0];
      const md::Tensor k = cell.kernel().value(), u = cell.recurrent_kernel().value(), b = cell.bias().value();
      auto cols = [](const md::Tensor& t, int64_t g) { return md::ops::slice(t, -1, g * 5, (g + 1) * 5); };
      const md::Tensor bx = reset_after ? md::ops::index(b, 0) : b;
      std::vector<md::Tensor> xg;
      for (int64_t g = 0; g < 3; ++g) xg.push_back(md::ops::matmul(x0 * dp[g], cols(k, g)) + cols(bx, g));
      md::Tensor zr[2];
      for (int64_t g = 0; g < 2; ++g) {
        md::Tensor rec = md::ops::matmul(h * rdp[g], cols(u, g));
        if (reset_after) rec = rec + cols(md::ops::index(b, 1), g);
        zr[g] = md::ops::sigmoid(xg[g] + rec);
      }
      md::Tensor hh;
      if (reset_after) {
        hh = md::ops::tanh(xg[2] + zr[1] * (md::ops::matmul(h * rdp[2], cols(u, 2)) + cols(md::ops::index(b, 1), 2)));
      } else {
        hh = md::ops::tanh(xg[2] + md::ops::matmul(zr[1] * (h * rdp[2]), cols(u, 2)));
      }
      const md::Tensor expected = zr[0] * h + (1.0f - zr[0]) * hh;
      lt::check_values(out, expected.to_vector(), 1e-6, "GRU reset_after=" + std::to_string(reset_after));
      cell.end_sequence();
    }
  }

  SECTION("masks are drawn once per call: constant steps stay constant, calls differ") {
    // A zero recurrent kernel, a closed memory (LSTM's forget gate, GRU's update gate at bias
    // -100) and the same input at every step: each step's output depends only on the dropped
    // input, so equal steps mean one mask for the whole call. LSTM with recurrent_dropout too
    // (the per-gate masks of the composed path); the others on the fused path.
    const md::Tensor ones = md::Tensor::ones({8, 5, 6});
    auto check_call = [&](ml::RNN& layer, int64_t closed_gate, int64_t gates, const std::string& what) {
      INFO(what);
      layer.build(md::ShapeSpec(ones.shape()));
      std::vector<md::Tensor> w = layer.get_weights();
      std::vector<float> bias = w[2].to_vector();
      for (int64_t j = 0; j < 4; ++j) bias[static_cast<size_t>(closed_gate * 4 + j)] = -100.0f;
      w[2] = md::Tensor::from_vector(bias, w[2].shape());
      w[0] = uniform(w[0].shape(), 13);
      layer.set_weights(w);
      CHECK(w[1].shape() == md::Shape{4, gates * 4});
      const auto first = layer(ones, {.training = true}).to_vector();
      const auto second = layer(ones, {.training = true}).to_vector();
      CHECK(first != second);  // a new mask each call
      for (const auto& y : {first, second}) {
        for (size_t b = 0; b < 8; ++b) {
          for (size_t t = 1; t < 5; ++t) {
            for (size_t j = 0; j < 4; ++j) CHECK(y[(b * 5 + t) * 4 + j] == Approx(y[b * 5 * 4 + j]).margin(1e-6));
          }
        }
      }
    };
    ml::LSTM lstm({.units = 4, .recurrent_initializer = "zeros", .dropout = 0.5, .seed = 11, .return_sequences = true});
    check_call(lstm, 1, 4, "LSTM, input dropout");
    ml::LSTM lstm1({.units = 4, .recurrent_initializer = "zeros", .dropout = 0.5, .recurrent_dropout = 0.5,
                    .seed = 11, .return_sequences = true});
    check_call(lstm1, 1, 4, "LSTM, input and recurrent dropout");
    CHECK_FALSE(lstm1.last_call_fused());
    ml::GRU gru({.units = 4, .recurrent_initializer = "zeros", .dropout = 0.5, .reset_after = false, .seed = 12,
                 .return_sequences = true});
    check_call(gru, 0, 3, "GRU, input dropout");
    CHECK(gru.last_call_fused());
  }

  SECTION("statistics through a layer: about `rate` of the inputs are dropped, kept ones scaled") {
    ml::GRU gru({.units = 1, .activation = "linear", .recurrent_activation = "linear", .use_bias = false,
                 .kernel_initializer = "ones", .recurrent_initializer = "zeros", .dropout = 0.3});
    // With z = x W_z (linear, no recurrence) and h0 = 0: h = (1 - z) hh = (1 - x m) (x m).
    const md::Tensor input = md::Tensor::full({4000, 1, 1}, 0.5f);
    const auto h = gru(input, {.training = true}).to_vector();
    double dropped = 0;
    const float kept = 0.5f / 0.7f;
    for (float v : h) {
      if (v == 0.0f) {
        ++dropped;
      } else {
        CHECK(v == Approx((1.0f - kept) * kept).epsilon(1e-5));
      }
    }
    CHECK(dropped / 4000.0 == Approx(0.3).margin(0.03));
  }
}

TEST_CASE("Recurrent layers: second derivatives through an LSTM match finite differences of the first",
          "[layers][recurrent][second_order]") {
  // g(x) = d/dx sum(LSTM(x) * R); the tape's gradient of <g(x), V> against central differences of
  // <g(x), V> itself, on both paths (the fused op's backward records the composed equations when
  // a tape watches it).
  const md::Tensor x0 = uniform({2, 3, 2}, 21);
  const md::Tensor r = uniform({2, 3, 3}, 22), v = uniform({2, 3, 2}, 23);
  for (bool composed_path : {false, true}) {
    ml::LSTM lstm({.units = 3, .return_sequences = true});
    lstm.build(md::ShapeSpec(x0.shape()));
    std::vector<md::Tensor> weights;
    uint64_t seed = 30;
    for (const md::Tensor& w : lstm.get_weights()) weights.push_back(uniform(w.shape(), seed++) * 0.8f);
    lstm.set_weights(weights);
    std::optional<ml::ComposedRecurrenceGuard> guard;
    if (composed_path) guard.emplace();
    // h(x) = <g(x), V>, and optionally its gradient through a second tape.
    const auto h_of = [&](const md::Tensor& x, md::Tensor* second) {
      md::GradientTape outer;
      outer.watch(x);
      md::Tensor g;
      {
        md::GradientTape inner;
        inner.watch(x);
        const md::Tensor y = lstm(x);
        g = inner.gradient(md::ops::sum(y * r), {x})[0];
      }
      const md::Tensor h = md::ops::sum(g * v);
      if (second) *second = outer.gradient(h, {x})[0];
      CHECK(lstm.last_call_fused() == !composed_path);
      return static_cast<double>(h.item());
    };
    md::Tensor analytic;
    h_of(x0, &analytic);
    REQUIRE(analytic.defined());
    const auto a = analytic.to_vector();
    const auto base = x0.to_vector();
    const double eps = 1e-2;
    double worst = 0;
    for (size_t i = 0; i < base.size(); ++i) {
      std::vector<float> plus = base, minus = base;
      plus[i] += static_cast<float>(eps);
      minus[i] -= static_cast<float>(eps);
      const double numeric = (h_of(md::Tensor::from_vector(plus, x0.shape()), nullptr) -
                              h_of(md::Tensor::from_vector(minus, x0.shape()), nullptr)) /
                             (2 * eps);
      worst = std::max(worst, std::abs(numeric - a[i]) / std::max({std::abs(numeric), std::abs(double(a[i])), 1e-2}));
    }
    INFO((composed_path ? "composed" : "fused") << " path: worst relative error " << worst);
    CHECK(worst < 2e-2);
    CHECK(std::abs(a[0]) + std::abs(a[5]) > 1e-4);  // not trivially zero
  }
}
