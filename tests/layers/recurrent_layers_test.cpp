// Recurrent layers: the harness on SimpleRNN/LSTM/GRU/Masking, then shapes for every option,
// states, stateful calls, masks, go_backwards, Bidirectional, TimeDistributed, user cells,
// gradients (first and second order) and Keras's error texts.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "layer_test_harness.h"

namespace md = minidl;
namespace ml = md::layers;

namespace {

md::Tensor rnn_input(const md::Shape& shape, uint64_t seed = 7) { return md::random::uniform(shape, -1.0f, 1.0f, seed); }

// A user-written cell in a few lines: h' = tanh(x @ W + h @ U), as Keras's MinimalRNNCell.
class MinimalCell : public md::LayerOf<MinimalCell, ml::RNNCell> {
 public:
  explicit MinimalCell(int64_t units, std::string name = {}) : LayerOf("MinimalCell", std::move(name)), units_(units) {}
  std::vector<int64_t> state_size() const override { return {units_}; }
  std::vector<md::Tensor> step(const md::Tensor& x, const std::vector<md::Tensor>& states, bool) override {
    const md::Tensor h = md::ops::tanh(md::ops::matmul(x, state_->w.value()) + md::ops::matmul(states[0], state_->u.value()));
    return {h, h};
  }

 protected:
  void build_weights(const md::ShapeSpec& input_shape) override {
    state_->w = add_weight("kernel", {step_input_shape(input_shape).back(), units_}, "glorot_uniform");
    state_->u = add_weight("recurrent_kernel", {units_, units_}, "orthogonal");
  }

 private:
  int64_t units_;
  struct State {
    md::Variable w, u;
  };
  md::Shared<State> state_;
};

}  // namespace

TEST_CASE("SimpleRNN, LSTM and GRU pass run_layer_test", "[layers][recurrent]") {
  SECTION("SimpleRNN, last output") {
    lt::run_layer_test<ml::SimpleRNN>({.units = 3},
                                      {.input_shape = {2, 4, 5},
                                       .expected_output_shape = {2, 3},
                                       .expected_trainable_weights = 3,
                                       .supports_masking = true,
                                       // The fused op's tanh is a rational approximation (to
                                       // 5e-7): finite differences of 1e-2 see its error on the
                                       // smallest gradients (1e-3) as about 1%.
                                       .gradcheck_tolerance = 2e-2});
  }
  SECTION("LSTM, sequences, masked") {
    const md::Tensor mask = lt::bools({1, 1, 1, 0, 1, 1, 0, 0}, {2, 4});
    lt::run_layer_test<ml::LSTM>({.units = 3, .return_sequences = true},
                                 {.input_shape = {2, 4, 5},
                                  .input_masks = {mask},
                                  .expected_output_shape = {2, 4, 3},
                                  .expected_trainable_weights = 3,
                                  .supports_masking = true,
                                  .expected_output_mask = mask});
  }
  SECTION("LSTM without bias, backwards") {
    lt::run_layer_test<ml::LSTM>({.units = 2, .use_bias = false, .go_backwards = true},
                                 {.input_shape = {3, 4, 2},
                                  .expected_output_shape = {3, 2},
                                  .expected_trainable_weights = 2,
                                  .supports_masking = true});
  }
  SECTION("GRU reset_after true and false") {
    // As for SimpleRNN: the fused GRU's tanh is the rational approximation, and its 1e-2 finite
    // differences read up to 1.3% on the smallest gradients (once in about 27 runs while the
    // harness drew the weights from entropy; with the spec's seed now, 0.48%).
    lt::run_layer_test<ml::GRU>({.units = 3, .return_sequences = true},
                                {.input_shape = {2, 3, 4},
                                 .expected_output_shape = {2, 3, 3},
                                 .expected_trainable_weights = 3,
                                 .supports_masking = true,
                                 .gradcheck_tolerance = 2e-2});
    lt::run_layer_test<ml::GRU>({.units = 3, .reset_after = false},
                                {.input_shape = {2, 3, 4},
                                 .expected_output_shape = {2, 3},
                                 .expected_trainable_weights = 3,
                                 .supports_masking = true,
                                 .gradcheck_tolerance = 2e-2});
  }
  SECTION("Masking") {
    md::Tensor x = rnn_input({2, 3, 2});
    float* p = x.mutable_data();
    p[2] = p[3] = 0.0f;  // batch 0, step 1 all zeros
    lt::run_layer_test<ml::Masking>({},
                                    {.input_data = {x},
                                     .expected_output_shape = {2, 3, 2},
                                     .supports_masking = true,
                                     .built_after_construction = true,
                                     .expected_output_mask = lt::bools({1, 0, 1, 1, 1, 1}, {2, 3}),
                                     .gradcheck = false});
  }
}

TEST_CASE("Recurrent layers: Keras's weight layouts and paths", "[layers][recurrent]") {
  ml::LSTM lstm({.units = 4, .name = "lstm"});
  lstm.build(md::ShapeSpec({2, 3, 5}));
  const auto w = lstm.weights();
  REQUIRE(w.size() == 3);
  CHECK(w[0].path() == "lstm/lstm_cell/kernel");
  CHECK(w[0].shape() == md::Shape{5, 16});
  CHECK(w[1].shape() == md::Shape{4, 16});
  CHECK(w[2].shape() == md::Shape{16});
  // unit_forget_bias: zeros, ones, zeros, zeros.
  const auto b = w[2].value().to_vector();
  for (int i = 0; i < 16; ++i) CHECK(b[i] == ((i >= 4 && i < 8) ? 1.0f : 0.0f));
  // The recurrent kernel is orthogonal: U U^T = I for a (4, 16) matrix's rows.
  const md::Tensor u = w[1].value();
  const auto uut = md::ops::matmul(u, u, false, true).to_vector();
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) CHECK(uut[i * 4 + j] == Approx(i == j ? 1.0 : 0.0).margin(1e-5));
  }
  ml::GRU gru({.units = 2, .name = "gru"});
  gru.build(md::ShapeSpec({1, 3, 4}));
  CHECK(gru.weights()[2].shape() == md::Shape{2, 6});
  CHECK(gru.weights()[0].path() == "gru/gru_cell/kernel");
  ml::GRU gru2({.units = 2, .reset_after = false});
  gru2.build(md::ShapeSpec({1, 3, 4}));
  CHECK(gru2.weights()[2].shape() == md::Shape{6});
  CHECK(lstm.count_params() == 5 * 16 + 4 * 16 + 16);
}

TEST_CASE("Recurrent layers: return_state, initial_state, go_backwards", "[layers][recurrent]") {
  const md::Tensor x = rnn_input({2, 5, 3});
  ml::LSTM lstm({.units = 4, .return_sequences = true, .return_state = true});
  const auto out = lstm.call_all(x);
  REQUIRE(out.size() == 3);
  CHECK(out[0].shape() == md::Shape{2, 5, 4});
  CHECK(out[1].shape() == md::Shape{2, 4});
  CHECK(out[2].shape() == md::Shape{2, 4});
  // The last sequence step is the final h.
  lt::check_values(md::ops::index(md::ops::swapaxes(out[0], 0, 1), 4), out[1].to_vector(), 0.0, "last step == h");

  // initial_state: zeros give the default; other states change the output.
  const md::Tensor zeros = md::Tensor::zeros({2, 4});
  const auto same = lstm.call_with_state(x, {zeros, zeros});
  lt::check_values(same[0], out[0].to_vector(), 0.0, "zero initial state");
  const auto other = lstm.call_with_state(x, {md::Tensor::ones({2, 4}), zeros});
  CHECK(other[0].to_vector() != out[0].to_vector());
  CHECK_THROWS_WITH(lstm.call_with_state(x, {zeros}),
                    Catch::Contains("expects 2 initial state tensor(s)"));

  // go_backwards equals running forwards on the reversed sequence (outputs in processing order).
  ml::GRU fwd({.units = 3, .return_sequences = true});
  ml::GRU bwd({.units = 3, .return_sequences = true, .go_backwards = true});
  bwd.build(md::ShapeSpec(x.shape()));
  fwd.build(md::ShapeSpec(x.shape()));
  bwd.set_weights(fwd.get_weights());
  const md::Tensor reversed = md::ops::take(x, md::Tensor::from_vector(std::vector<int32_t>{4, 3, 2, 1, 0}, {5}), 1);
  lt::check_values(bwd(x), fwd(reversed).to_vector(), 1e-6, "go_backwards");

  // Symbolic calls give every output's shape.
  const md::Tensor in = md::Input({5, 3});
  const auto sym = ml::LSTM({.units = 4, .return_state = true}).call_all(in);
  REQUIRE(sym.size() == 3);
  CHECK(sym[0].shape() == md::Shape{md::None, 4});
}

TEST_CASE("Recurrent layers: stateful calls carry the states, reset_states clears them", "[layers][recurrent]") {
  const md::Tensor x = rnn_input({2, 3, 2});
  ml::SimpleRNN rnn({.units = 3, .stateful = true});
  const md::Tensor y1 = rnn(x);
  REQUIRE(rnn.states().size() == 1);
  lt::check_values(rnn.states()[0], y1.to_vector(), 0.0, "state after the first call");
  const md::Tensor y2 = rnn(x);
  CHECK(y2.to_vector() != y1.to_vector());
  rnn.reset_states();
  lt::check_values(rnn(x), y1.to_vector(), 0.0, "after reset_states");
  CHECK_THROWS_WITH(rnn(rnn_input({3, 3, 2})),
                    "If an RNN is stateful, the batch size of the input sequences must be the same as the batch size "
                    "of the initial state. \n- Expected batch size: 2\n- Received batch size: 3");
  ml::SimpleRNN dynamic({.units = 3, .stateful = true});
  CHECK_THROWS_WITH(dynamic(md::Input({3, 2})),
                    "When using `stateful=True` in a RNN, the batch size must be static. Found dynamic batch size: "
                    "sequence.shape=(None, 3, 2)");
}

TEST_CASE("Recurrent layers: masked steps keep the state; Embedding and Masking masks propagate",
          "[layers][recurrent]") {
  // A mask that drops the last two steps gives the same final state as the shorter sequence.
  const md::Tensor x = rnn_input({1, 4, 3});
  ml::LSTM lstm({.units = 2, .return_sequences = true, .return_state = true});
  const auto masked = lstm.call_all(x, {.mask = {lt::bools({1, 1, 0, 0}, {1, 4})}});
  const auto shorter = lstm.call_all(md::ops::slice(x, 1, 0, 2));
  lt::check_values(masked[1], shorter[1].to_vector(), 1e-6, "h after masked steps");
  lt::check_values(masked[2], shorter[2].to_vector(), 1e-6, "c after masked steps");
  // Masked steps repeat the previous output (zero_output_for_mask false).
  const auto seq = masked[0].to_vector();
  CHECK(seq[4] == seq[2]);
  CHECK(seq[6] == seq[2]);
  ml::LSTM zeroing({.units = 2, .return_sequences = true, .zero_output_for_mask = true});
  zeroing.build(md::ShapeSpec(x.shape()));
  zeroing.set_weights(lstm.get_weights());
  const auto z = zeroing(x, {.mask = {lt::bools({1, 1, 0, 0}, {1, 4})}}).to_vector();
  CHECK(z[4] == 0.0f);
  CHECK(z[7] == 0.0f);

  // Embedding(mask_zero) -> LSTM: padding changes nothing.
  ml::Embedding embedding({.input_dim = 10, .output_dim = 4, .mask_zero = true});
  ml::LSTM after_embedding({.units = 3});
  const md::Tensor ids = md::Tensor::from_vector(std::vector<int32_t>{5, 2, 7, 0, 0}, {1, 5});
  const md::Tensor ids_short = md::Tensor::from_vector(std::vector<int32_t>{5, 2, 7}, {1, 3});
  lt::check_values(after_embedding(embedding(ids)), after_embedding(embedding(ids_short)).to_vector(), 1e-6,
                   "Embedding mask");
  // Masking -> GRU.
  md::Tensor padded = md::Tensor::zeros({1, 4, 2});
  float* p = padded.mutable_data();
  p[0] = 0.5f;
  p[1] = -0.2f;
  p[2] = 0.1f;
  p[3] = 0.3f;
  ml::Masking masking;
  ml::GRU gru({.units = 2});
  const md::Tensor m = masking(padded);
  CHECK(m.keras_mask().to_vector() == std::vector<float>{1, 1, 0, 0});
  lt::check_values(gru(m), gru(md::ops::slice(padded, 1, 0, 2)).to_vector(), 1e-6, "Masking mask");
}

TEST_CASE("Recurrent layers: configs as Keras writes them, and errors", "[layers][recurrent]") {
  const md::json lstm = ml::LSTM({.units = 3}).get_config();
  std::vector<std::string> keys;
  for (const auto& [k, v] : lstm.items()) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"name", "trainable", "dtype", "return_sequences", "return_state",
                                         "go_backwards", "stateful", "unroll", "zero_output_for_mask", "units",
                                         "activation", "recurrent_activation", "use_bias", "kernel_initializer",
                                         "recurrent_initializer", "bias_initializer", "unit_forget_bias",
                                         "kernel_regularizer", "recurrent_regularizer", "bias_regularizer",
                                         "activity_regularizer", "kernel_constraint", "recurrent_constraint",
                                         "bias_constraint", "dropout", "recurrent_dropout", "seed"});
  CHECK(lstm["recurrent_initializer"]["class_name"] == "Orthogonal");
  CHECK_FALSE(ml::SimpleRNN({.units = 3}).get_config().contains("seed"));
  CHECK(ml::GRU({.units = 3}).get_config()["reset_after"] == true);
  CHECK_THROWS_WITH(ml::LSTM({.units = 0}),
                    "Received an invalid value for argument `units`, expected a positive integer, got 0.");
  CHECK_THROWS_WITH(ml::GRUCell({.units = -1}),
                    "Received an invalid value for argument `units`, expected a positive integer, got -1.");
  // Regularizers and constraints reach the weights.
  ml::LSTM reg({.units = 2, .kernel_regularizer = "l2", .recurrent_constraint = "non_neg"});
  reg.build(md::ShapeSpec({1, 2, 3}));
  CHECK(reg.losses().size() == 1);
  CHECK(ml::LSTM::from_config(reg.get_config()).get_config() == reg.get_config());
  // dropout clipped as Keras does.
  CHECK(ml::SimpleRNN({.units = 2, .dropout = 1.5}).get_config()["dropout"] == 1.0);
  // Keras's InputSpec: LSTM wants rank 3.
  CHECK_THROWS_WITH(ml::LSTM({.units = 2})(rnn_input({2, 3})), Catch::Contains("expected ndim=3, found ndim=2"));
}

TEST_CASE("Recurrent cells: one step, configs, RNN over built-in and user cells", "[layers][recurrent]") {
  md::random::set_global_seed(255);  // the weights of the finite-difference checks below
  const md::Tensor x = rnn_input({2, 3});
  ml::LSTMCell cell({.units = 4});
  const auto out = cell.call_all({x, md::Tensor::zeros({2, 4}), md::Tensor::zeros({2, 4})});
  REQUIRE(out.size() == 3);
  CHECK(out[0].shape() == md::Shape{2, 4});
  CHECK(out[2].shape() == md::Shape{2, 4});
  CHECK(ml::LSTMCell::from_config(cell.get_config()).get_config() == cell.get_config());
  CHECK(ml::GRUCell::from_config(ml::GRUCell({.units = 2}).get_config()).get_config()["reset_after"] == true);

  // RNN(LSTMCell) computes what LSTM computes with the same weights.
  const md::Tensor seq = rnn_input({2, 5, 3});
  ml::RNN rnn(ml::LSTMCell({.units = 4}), {.return_sequences = true});
  ml::LSTM lstm({.units = 4, .return_sequences = true});
  const md::Tensor y = rnn(seq);
  lstm.build(md::ShapeSpec(seq.shape()));
  lstm.set_weights(rnn.get_weights());
  // RNN runs the cell step by step; LSTM takes the fused op: the same equations, rounded apart.
  lt::check_values(lstm(seq), y.to_vector(), 1e-5, "RNN(LSTMCell) == LSTM");
  const md::json config = rnn.get_config();
  CHECK(config["cell"]["class_name"] == "LSTMCell");
  CHECK(ml::RNN::from_config(config).get_config() == config);

  // A user-written cell.
  ml::RNN minimal(MinimalCell(3), {.return_state = true});
  const auto mo = minimal.call_all(seq);
  CHECK_FALSE(minimal.last_call_fused());  // a user-written cell has no fused op: RNN steps it
  REQUIRE(mo.size() == 2);
  CHECK(mo[0].shape() == md::Shape{2, 3});
  CHECK(minimal.weights().size() == 2);
  const auto fn = [&](const std::vector<md::Tensor>& in) { return minimal.call_all(in[0])[0]; };
  const auto r = md::testing::gradcheck(fn, {seq});
  INFO(r.describe());
  CHECK(r.max_relative_error < 1e-2);
}

TEST_CASE("Recurrent layers: gradients, first and second order", "[layers][recurrent][gradcheck]") {
  md::random::set_global_seed(291);  // the weights of the finite-difference checks below
  const md::Tensor x = rnn_input({2, 3, 2}, 11);
  const md::Tensor h0 = rnn_input({2, 3}, 12), c0 = rnn_input({2, 3}, 13);
  ml::LSTM lstm({.units = 3, .return_sequences = true});
  const auto lstm_fn = [&](const std::vector<md::Tensor>& in) { return lstm.call_with_state(in[0], {in[1], in[2]})[0]; };
  auto r = md::testing::gradcheck(lstm_fn, {x, h0, c0});
  INFO("LSTM: " << r.describe());
  CHECK(r.max_relative_error < 1e-2);
  r = md::testing::gradgradcheck(lstm_fn, {x, h0, c0});
  INFO("LSTM second order: " << r.describe());
  CHECK(r.checked_elements > 0);
  CHECK(r.max_relative_error < 2e-2);

  for (bool reset_after : {true, false}) {
    ml::GRU gru({.units = 3, .reset_after = reset_after});
    const auto gru_fn = [&](const std::vector<md::Tensor>& in) { return gru.call_with_state(in[0], {in[1]})[0]; };
    r = md::testing::gradcheck(gru_fn, {x, h0});
    INFO("GRU reset_after=" << reset_after << ": " << r.describe());
    CHECK(r.max_relative_error < 1e-2);
  }
  ml::SimpleRNNCell cell({.units = 3});
  const auto cell_fn = [&](const std::vector<md::Tensor>& in) { return cell.call_all({in[0], in[1]})[0]; };
  r = md::testing::gradcheck(cell_fn, {rnn_input({2, 2}, 14), h0});
  INFO("SimpleRNNCell: " << r.describe());
  CHECK(r.max_relative_error < 1e-2);
}

TEST_CASE("Recurrent layers: dropout uses one mask per sequence", "[layers][recurrent]") {
  // With input dropout only and a zero recurrent kernel, a step's output depends on its input
  // through the same dropped columns at every step: a constant sequence gives a constant output.
  const md::Tensor x = md::Tensor::ones({64, 4, 8});
  ml::SimpleRNN rnn({.units = 2, .recurrent_initializer = "zeros", .dropout = 0.5, .return_sequences = true});
  rnn.build(md::ShapeSpec(x.shape()));
  const auto y = rnn(x, {.training = true}).to_vector();
  for (int b = 0; b < 64; ++b) {
    for (int t = 1; t < 4; ++t) CHECK(y[(b * 4 + t) * 2] == y[b * 4 * 2]);
  }
  // Inference ignores dropout.
  const md::Tensor inference = rnn(x);
  CHECK(inference.to_vector() != std::vector<float>(y.begin(), y.end()));
  // Statistics: with rate 0.5 about half of the input columns survive (scaled by 2).
  ml::SimpleRNN probe({.units = 1, .activation = "linear", .use_bias = false, .kernel_initializer = "ones",
                       .recurrent_initializer = "zeros", .dropout = 0.5});
  const auto s = probe(md::Tensor::ones({2000, 1, 1}), {.training = true}).to_vector();
  double kept = 0;
  for (float v : s) kept += v > 0.0f ? 1.0 : 0.0;
  CHECK(kept / 2000.0 == Approx(0.5).margin(0.05));
}

TEST_CASE("Bidirectional: merge modes, states, masks, configs", "[layers][recurrent]") {
  md::random::set_global_seed(340);  // the weights of the finite-difference checks below
  const md::Tensor x = rnn_input({2, 4, 3});
  ml::LSTM base({.units = 2, .return_sequences = true, .name = "lstm_bi"});
  ml::Bidirectional bi(base);
  const md::Tensor y = bi(x);
  CHECK(y.shape() == md::Shape{2, 4, 4});
  CHECK(bi.forward_layer().name() == "forward_lstm_bi");
  CHECK(bi.backward_layer().name() == "backward_lstm_bi");
  CHECK(bi.backward_layer().rnn_options().go_backwards);
  CHECK(bi.weights().size() == 6);
  CHECK(bi.weights()[0].path() == bi.name() + "/forward_lstm_bi/lstm_cell/kernel");
  // The halves are the forward layer and the time-flipped backward layer.
  const auto forward = bi.forward_layer()(x).to_vector();
  const auto yv = y.to_vector();
  for (int i = 0; i < 2 * 4; ++i) {
    CHECK(yv[i * 4] == forward[i * 2]);
    CHECK(yv[i * 4 + 1] == forward[i * 2 + 1]);
  }
  for (const char* mode : {"sum", "mul", "ave"}) {
    ml::Bidirectional m(base, {.merge_mode = mode});
    CHECK(m(x).shape() == md::Shape{2, 4, 2});
  }
  ml::Bidirectional none(base, {.merge_mode = std::nullopt});
  CHECK(none.call_all(x).size() == 2);
  ml::Bidirectional states(ml::GRU({.units = 2, .return_state = true}));
  const auto s = states.call_all(x);
  REQUIRE(s.size() == 3);
  CHECK(s[0].shape() == md::Shape{2, 4});
  const auto s2 = states.call_with_state(x, {md::Tensor::zeros({2, 2}), md::Tensor::zeros({2, 2})});
  lt::check_values(s2[0], s[0].to_vector(), 0.0, "zero initial states");
  // Masks reach both directions, and the output mask is the input mask.
  const md::Tensor mask = lt::bools({1, 1, 1, 0, 1, 1, 0, 0}, {2, 4});
  const md::Tensor masked = bi(x, {.mask = {mask}});
  CHECK(masked.keras_mask().defined());
  CHECK(masked.to_vector()[3 * 4] == 0.0f);  // zero_output_for_mask is forced for sequences
  // Config: Keras's keys, the forward and backward layers, and a round trip.
  const md::json config = bi.get_config();
  CHECK(config["merge_mode"] == "concat");
  CHECK(config["layer"]["config"]["name"] == "forward_lstm_bi");
  CHECK(config["layer"]["config"]["zero_output_for_mask"] == true);
  CHECK(config["backward_layer"]["config"]["go_backwards"] == true);
  const ml::Bidirectional again = ml::Bidirectional::from_config(config);
  CHECK(again.get_config() == config);
  const std::shared_ptr<md::Layer> restored = md::deserialize(md::serialize(bi));
  CHECK(restored->weights().size() == 6);
  CHECK(restored->weights()[0].path() == bi.weights()[0].path());
  // A given backward layer, and Keras's errors.
  ml::GRU fwd({.units = 2});
  ml::GRU back({.units = 2, .go_backwards = true, .name = "my_back"});
  CHECK(ml::Bidirectional(fwd, {}, &back).backward_layer().name() == "my_back");
  CHECK_THROWS_WITH(ml::Bidirectional(fwd, {}, &fwd),
                    "Forward layer and backward layer should have different `go_backwards` value. Received: "
                    "forward_layer.go_backwards False, backward_layer.go_backwards=False");
  ml::GRU seq_back({.units = 2, .return_sequences = true, .go_backwards = true});
  CHECK_THROWS_WITH(ml::Bidirectional(fwd, {}, &seq_back),
                    "Forward layer and backward layer are expected to have the same value for attribute "
                    "\"return_sequences\", got \"False\" for forward layer and \"True\" for backward layer");
  CHECK_THROWS_WITH(ml::Bidirectional(fwd, {.merge_mode = "max"}),
                    "Invalid merge mode. Received: max. Merge mode should be one of {\"sum\", \"mul\", \"ave\", "
                    "\"concat\", None}");
  // Symbolic.
  CHECK(bi(md::Input({4, 3})).shape() == md::Shape{md::None, 4, 4});
  // Gradients through both directions.
  const auto fn = [&](const std::vector<md::Tensor>& in) { return bi(in[0]); };
  const auto r = md::testing::gradcheck(fn, {x}, {.max_elements = 12});
  INFO(r.describe());
  CHECK(r.max_relative_error < 1e-2);
}

TEST_CASE("TimeDistributed(Dense)", "[layers][recurrent]") {
  const md::Tensor x = rnn_input({2, 3, 4});
  ml::Dense dense({.units = 5});
  ml::TimeDistributed td(dense);
  const md::Tensor y = td(x);
  CHECK(y.shape() == md::Shape{2, 3, 5});
  lt::check_values(md::ops::index(md::ops::swapaxes(y, 0, 1), 1),
                   dense(md::ops::index(md::ops::swapaxes(x, 0, 1), 1)).to_vector(), 1e-6, "step 1");
  CHECK(td.weights()[0].path() == td.name() + "/" + dense.name() + "/kernel");
  CHECK(td(md::Input({7, 4})).shape() == md::Shape{md::None, 7, 5});
  const md::json config = td.get_config();
  CHECK(config["layer"]["class_name"] == "Dense");
  CHECK(md::serialize(*md::deserialize(md::serialize(td))) == md::serialize(td));
  CHECK(md::deserialize(md::serialize(td))->weights()[0].path() == td.weights()[0].path());
  CHECK_THROWS_WITH(ml::TimeDistributed(ml::Dense({.units = 2}))(rnn_input({2, 3})),
                    "`TimeDistributed` Layer should be passed an `input_shape` with at least 3 dimensions, received: "
                    "(2, 3)");
}
