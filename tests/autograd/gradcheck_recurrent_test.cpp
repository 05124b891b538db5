// lstm_sequence, gru_sequence (both reset placements) and simple_rnn_sequence: the forward and
// every gradient against the Keras cell equations composed here from md::ops (within 1e-5), over
// shapes down to batch 1, time 1 and units 1, go_backwards, with and without bias and initial
// states; finite-difference gradient checks, second order included; the errors.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "autograd_helpers.h"

namespace md = minidl;

namespace {

enum class Cell { lstm, gru, gru_reset_after, simple_tanh, simple_relu, simple_sigmoid };

const char* cell_name(Cell c) {
  switch (c) {
    case Cell::lstm: return "lstm";
    case Cell::gru: return "gru";
    case Cell::gru_reset_after: return "gru reset_after";
    case Cell::simple_tanh: return "simple tanh";
    case Cell::simple_relu: return "simple relu";
    case Cell::simple_sigmoid: return "simple sigmoid";
  }
  return "?";
}

int64_t gates(Cell c) { return c == Cell::lstm ? 4 : (c == Cell::gru || c == Cell::gru_reset_after) ? 3 : 1; }

// The operands: x, h0, c0 (lstm), kernel, recurrent_kernel, bias; undefined where absent.
struct Operands {
  md::Tensor x, h0, c0, kernel, recurrent, bias;
  std::vector<md::Tensor> defined() const {
    std::vector<md::Tensor> out;
    for (const md::Tensor& t : {x, h0, c0, kernel, recurrent, bias})
      if (t.defined()) out.push_back(t);
    return out;
  }
  // The same operands with the defined ones replaced, in order, by `values`.
  Operands with(const std::vector<md::Tensor>& values) const {
    Operands o = *this;
    size_t i = 0;
    for (md::Tensor* t : {&o.x, &o.h0, &o.c0, &o.kernel, &o.recurrent, &o.bias})
      if (t->defined()) *t = values.at(i++);
    return o;
  }
};

Operands make_operands(std::mt19937& rng, Cell cell, int64_t batch, int64_t time, int64_t in, int64_t units,
                       bool with_bias, bool with_state) {
  const int64_t g = gates(cell);
  Operands o;
  o.x = agt::uniform(rng, {batch, time, in}, -1.0f, 1.0f);
  o.kernel = agt::uniform(rng, {in, g * units}, -0.6f, 0.6f);
  o.recurrent = agt::uniform(rng, {units, g * units}, -0.6f, 0.6f);
  if (with_bias) {
    o.bias = cell == Cell::gru_reset_after ? agt::uniform(rng, {2, g * units}, -0.5f, 0.5f)
                                           : agt::uniform(rng, {g * units}, -0.5f, 0.5f);
  }
  if (with_state) {
    o.h0 = agt::uniform(rng, {batch, units}, -0.8f, 0.8f);
    if (cell == Cell::lstm) o.c0 = agt::uniform(rng, {batch, units}, -0.8f, 0.8f);
  }
  if (cell == Cell::simple_relu) {
    // Keep relu's pre-activations away from 0, where finite differences would straddle the kink:
    // positive inputs and kernels, and a bias pushing every unit up.
    o.x = agt::uniform(rng, {batch, time, in}, 0.2f, 1.0f);
    o.kernel = agt::uniform(rng, {in, units}, 0.1f, 0.6f);
    o.recurrent = agt::uniform(rng, {units, units}, 0.01f, 0.1f);  // no blow-up over the steps
    if (with_state) o.h0 = agt::uniform(rng, {batch, units}, 0.1f, 0.8f);
  }
  return o;
}

std::vector<md::Tensor> fused(Cell cell, const Operands& o, bool go_backwards) {
  switch (cell) {
    case Cell::lstm: return md::ops::lstm_sequence(o.x, o.h0, o.c0, o.kernel, o.recurrent, o.bias, go_backwards);
    case Cell::gru: return md::ops::gru_sequence(o.x, o.h0, o.kernel, o.recurrent, o.bias, false, go_backwards);
    case Cell::gru_reset_after:
      return md::ops::gru_sequence(o.x, o.h0, o.kernel, o.recurrent, o.bias, true, go_backwards);
    case Cell::simple_tanh:
      return md::ops::simple_rnn_sequence(o.x, o.h0, o.kernel, o.recurrent, o.bias, "tanh", go_backwards);
    case Cell::simple_relu:
      return md::ops::simple_rnn_sequence(o.x, o.h0, o.kernel, o.recurrent, o.bias, "relu", go_backwards);
    case Cell::simple_sigmoid:
      return md::ops::simple_rnn_sequence(o.x, o.h0, o.kernel, o.recurrent, o.bias, "sigmoid", go_backwards);
  }
  return {};
}

// ---- the reference: Keras's cells (keras/src/layers/rnn/{lstm,gru,simple_rnn}.py), one step at a
// time from md::ops, with the kernels cut into per-gate matrices as Keras's cells do.

md::Tensor columns(const md::Tensor& w, int64_t gate, int64_t units) {
  return md::ops::slice(w, -1, gate * units, (gate + 1) * units);
}

md::Tensor affine(const md::Tensor& x, const md::Tensor& w, const md::Tensor& b, int64_t gate, int64_t units) {
  md::Tensor y = md::ops::matmul(x, columns(w, gate, units));
  return b.defined() ? y + columns(b, gate, units) : y;
}

std::vector<md::Tensor> reference(Cell cell, const Operands& o, bool go_backwards) {
  using namespace md::ops;
  const int64_t batch = o.x.dim(0), time = o.x.dim(1), u = o.recurrent.dim(0);
  md::Tensor h = o.h0.defined() ? o.h0 : md::Tensor::zeros({batch, u});
  md::Tensor c = o.c0.defined() ? o.c0 : md::Tensor::zeros({batch, u});
  std::vector<md::Tensor> outputs;
  md::Tensor no_bias;
  for (int64_t step = 0; step < time; ++step) {
    // Keras reverses the input in time and keeps the outputs in processing order.
    const int64_t t = go_backwards ? time - 1 - step : step;
    const md::Tensor xt = squeeze(slice(o.x, 1, t, t + 1), 1);
    switch (cell) {
      case Cell::lstm: {
        const auto pre = [&](int64_t k) { return affine(xt, o.kernel, o.bias, k, u) + affine(h, o.recurrent, no_bias, k, u); };
        const md::Tensor i = sigmoid(pre(0)), f = sigmoid(pre(1)), cc = tanh(pre(2)), og = sigmoid(pre(3));
        c = f * c + i * cc;
        h = og * tanh(c);
        break;
      }
      case Cell::gru: {
        const md::Tensor z = sigmoid(affine(xt, o.kernel, o.bias, 0, u) + affine(h, o.recurrent, no_bias, 0, u));
        const md::Tensor r = sigmoid(affine(xt, o.kernel, o.bias, 1, u) + affine(h, o.recurrent, no_bias, 1, u));
        const md::Tensor hh = tanh(affine(xt, o.kernel, o.bias, 2, u) + affine(r * h, o.recurrent, no_bias, 2, u));
        h = z * h + (1.0f - z) * hh;
        break;
      }
      case Cell::gru_reset_after: {
        const md::Tensor bx = o.bias.defined() ? index(o.bias, 0) : no_bias;
        const md::Tensor bh = o.bias.defined() ? index(o.bias, 1) : no_bias;
        const md::Tensor z = sigmoid(affine(xt, o.kernel, bx, 0, u) + affine(h, o.recurrent, bh, 0, u));
        const md::Tensor r = sigmoid(affine(xt, o.kernel, bx, 1, u) + affine(h, o.recurrent, bh, 1, u));
        const md::Tensor hh = tanh(affine(xt, o.kernel, bx, 2, u) + r * affine(h, o.recurrent, bh, 2, u));
        h = z * h + (1.0f - z) * hh;
        break;
      }
      default: {
        const md::Tensor pre = affine(xt, o.kernel, o.bias, 0, u) + affine(h, o.recurrent, no_bias, 0, u);
        h = cell == Cell::simple_tanh ? tanh(pre) : cell == Cell::simple_relu ? relu(pre) : sigmoid(pre);
        break;
      }
    }
    outputs.push_back(expand_dims(h, 1));
  }
  std::vector<md::Tensor> out{concatenate(outputs, 1), h};
  if (cell == Cell::lstm) out.push_back(c);
  return out;
}

// Every output flattened into one vector (what gradcheck differentiates).
md::Tensor flat(const std::vector<md::Tensor>& outputs) {
  std::vector<md::Tensor> parts;
  for (const md::Tensor& t : outputs) parts.push_back(md::ops::reshape(t, {-1}));
  return md::ops::concatenate(parts, 0);
}

// Outputs and gradients of sum(outputs * weights) for every defined operand.
struct Run {
  std::vector<md::Tensor> outputs, grads;
};
Run run(Cell cell, const Operands& o, bool go_backwards, bool use_reference, const md::Tensor& weights) {
  md::GradientTape tape;
  const std::vector<md::Tensor> sources = o.defined();
  for (const md::Tensor& t : sources) tape.watch(t);
  Run r;
  r.outputs = use_reference ? reference(cell, o, go_backwards) : fused(cell, o, go_backwards);
  const md::Tensor loss = md::ops::sum(flat(r.outputs) * weights);
  r.grads = tape.gradient(loss, sources);
  return r;
}

const std::vector<Cell> kCells{Cell::lstm,        Cell::gru,         Cell::gru_reset_after,
                               Cell::simple_tanh, Cell::simple_relu, Cell::simple_sigmoid};

}  // namespace

TEST_CASE("recurrent sequence ops match Keras's cell equations, forward and every gradient", "[autograd][recurrent]") {
  std::mt19937 rng(1407);
  struct Shape {
    int64_t batch, time, in, units;
  };
  const std::vector<Shape> shapes{{3, 5, 4, 6}, {1, 4, 3, 2}, {2, 1, 3, 5}, {3, 3, 2, 1}, {1, 1, 1, 1}, {4, 7, 9, 16}};
  int64_t compared = 0;
  for (Cell cell : kCells) {
    for (const Shape& s : shapes) {
      for (bool go_backwards : {false, true}) {
        for (int variant = 0; variant < 3; ++variant) {
          const bool with_bias = variant != 1, with_state = variant != 2;
          const Operands o = make_operands(rng, cell, s.batch, s.time, s.in, s.units, with_bias, with_state);
          INFO(cell_name(cell) << " batch " << s.batch << " time " << s.time << " in " << s.in << " units " << s.units
                               << (go_backwards ? " go_backwards" : "") << (with_bias ? "" : " no bias")
                               << (with_state ? "" : " zero state"));
          const int64_t n = s.batch * s.time * s.units + s.batch * s.units * (cell == Cell::lstm ? 2 : 1);
          const md::Tensor weights = agt::uniform(rng, {n}, -1.0f, 1.0f);
          const Run mine = run(cell, o, go_backwards, false, weights);
          const Run ref = run(cell, o, go_backwards, true, weights);
          REQUIRE(mine.outputs.size() == ref.outputs.size());
          for (size_t i = 0; i < ref.outputs.size(); ++i) {
            agt::check_close(mine.outputs[i], ref.outputs[i], 1e-5, "output " + std::to_string(i), 1e-5);
          }
          REQUIRE(mine.grads.size() == ref.grads.size());
          for (size_t i = 0; i < ref.grads.size(); ++i) {
            agt::check_close(mine.grads[i], ref.grads[i], 1e-5, "gradient of operand " + std::to_string(i), 1e-5);
            ++compared;
          }
        }
      }
    }
  }
  CHECK(compared > 400);
}

TEST_CASE("recurrent sequence ops: finite-difference gradients, and second order", "[autograd][recurrent]") {
  std::mt19937 rng(1408);
  for (Cell cell : kCells) {
    for (bool go_backwards : {false, true}) {
      const Operands o = make_operands(rng, cell, 2, 3, 3, 2, true, true);
      // Second derivatives run the composed equations through nested tapes: checked on the LSTM
      // (the case) and on one GRU of each kind.
      const bool second_order = !go_backwards && (cell == Cell::lstm || cell == Cell::gru ||
                                                  cell == Cell::gru_reset_after || cell == Cell::simple_tanh);
      agt::check_gradients(std::string(cell_name(cell)) + (go_backwards ? " go_backwards" : ""),
                           [cell, o, go_backwards](const agt::Inputs& in) {
                             return flat(fused(cell, o.with(in), go_backwards));
                           },
                           o.defined(), second_order);
    }
  }
}

TEST_CASE("recurrent sequence ops: only the gradients asked for, and a state-only target", "[autograd][recurrent]") {
  std::mt19937 rng(1409);
  const Operands o = make_operands(rng, Cell::lstm, 2, 4, 3, 5, true, true);
  md::GradientTape tape;
  tape.watch(o.kernel);
  // Only the last carry state reaches the target: the sequence and h get zero gradients.
  const std::vector<md::Tensor> out = md::ops::lstm_sequence(o.x, o.h0, o.c0, o.kernel, o.recurrent, o.bias, false);
  const md::Tensor dk = tape.gradient(md::ops::sum(out[2]), {o.kernel})[0];
  md::GradientTape ref_tape;
  ref_tape.watch(o.kernel);
  const md::Tensor ref = ref_tape.gradient(md::ops::sum(reference(Cell::lstm, o, false)[2]), {o.kernel})[0];
  agt::check_close(dk, ref, 1e-5, "d last_c / d kernel", 1e-5);
}

// The outputs whose bits are set in `mask` (bit 0 the sequence, 1 the last h, 2 lstm's last c),
// flattened into one vector: the others reach no gradient (the op's rule then gets no tensor for
// them, not zeros).
md::Tensor flat_subset(const std::vector<md::Tensor>& outputs, unsigned mask) {
  std::vector<md::Tensor> used;
  for (size_t i = 0; i < outputs.size(); ++i)
    if (mask & (1u << i)) used.push_back(outputs[i]);
  return flat(used);
}

TEST_CASE("recurrent sequence ops: gradients through any subset of the outputs, first and second order",
          "[autograd][recurrent]") {
  std::mt19937 rng(1412);
  int64_t compared = 0;
  for (Cell cell : kCells) {
    const unsigned masks = cell == Cell::lstm ? 8u : 4u;
    for (bool with_state : {true, false}) {
      const Operands o = make_operands(rng, cell, 3, 4, 3, 5, true, with_state);
      for (unsigned mask = 1; mask < masks; ++mask) {
        INFO(cell_name(cell) << " outputs used: mask " << mask << (with_state ? "" : " zero state"));
        const auto gradients = [&](bool use_reference) {
          md::GradientTape tape;
          const std::vector<md::Tensor> sources = o.defined();
          for (const md::Tensor& t : sources) tape.watch(t);
          const md::Tensor used = flat_subset(use_reference ? reference(cell, o, false) : fused(cell, o, false), mask);
          std::mt19937 same_weights(mask);  // the same for the fused op and the reference
          const md::Tensor weights = agt::uniform(same_weights, {used.size()}, -1.0f, 1.0f);
          return tape.gradient(md::ops::sum(used * weights), sources);
        };
        const std::vector<md::Tensor> mine = gradients(false), ref = gradients(true);
        REQUIRE(mine.size() == ref.size());
        for (size_t i = 0; i < ref.size(); ++i) {
          agt::check_close(mine[i], ref[i], 1e-5, "gradient of operand " + std::to_string(i), 1e-5);
          ++compared;
        }
      }
    }
  }
  CHECK(compared > 100);
  // Finite differences, second order included (the composed rule under a recording tape): only
  // the last state used (the layers' default), only the sequence, and (lstm) only the carry.
  for (Cell cell : {Cell::lstm, Cell::gru_reset_after, Cell::simple_tanh}) {
    const Operands o = make_operands(rng, cell, 2, 3, 3, 2, true, true);
    for (unsigned mask : {1u, 2u, 4u}) {
      if (mask == 4u && cell != Cell::lstm) continue;
      agt::check_gradients(std::string(cell_name(cell)) + " outputs mask " + std::to_string(mask),
                           [cell, o, mask](const agt::Inputs& in) {
                             return flat_subset(fused(cell, o.with(in), false), mask);
                           },
                           o.defined(), true);
    }
  }
}

TEST_CASE("recurrent sequence ops reject bad arguments with clear errors", "[autograd][recurrent]") {
  std::mt19937 rng(1410);
  const Operands o = make_operands(rng, Cell::simple_tanh, 2, 3, 4, 5, true, true);
  CHECK_THROWS_WITH(md::ops::simple_rnn_sequence(o.x, o.h0, o.kernel, o.recurrent, o.bias, "softplus", false),
                    Catch::Contains("'tanh', 'relu' and 'sigmoid'") && Catch::Contains("received 'softplus'"));
  CHECK_THROWS_AS(md::ops::simple_rnn_sequence(o.x, o.h0, o.kernel, o.recurrent, o.bias, "linear", false),
                  md::ValueError);
  // An LSTM's weights given to a GRU: the kernel has 4 gates where 3 are expected.
  const Operands l = make_operands(rng, Cell::lstm, 2, 3, 4, 5, true, true);
  CHECK_THROWS_WITH(md::ops::gru_sequence(l.x, l.h0, l.kernel, o.recurrent, l.bias, false, false),
                    Catch::Contains("recurrent_kernel must have shape (5, 15)"));
  const Operands g = make_operands(rng, Cell::gru, 2, 3, 4, 5, true, true);
  CHECK_THROWS_WITH(md::ops::gru_sequence(g.x, g.h0, g.kernel, g.recurrent, g.bias, true, false),
                    Catch::Contains("bias must have shape (2, 15)"));
  CHECK_THROWS_WITH(md::ops::lstm_sequence(md::ops::reshape(l.x, {6, 4}), l.h0, l.c0, l.kernel, l.recurrent, l.bias,
                                           false),
                    Catch::Contains("(batch, time, features)"));
  CHECK_THROWS_WITH(md::ops::lstm_sequence(l.x, md::Tensor::zeros({3, 5}), l.c0, l.kernel, l.recurrent, l.bias, false),
                    Catch::Contains("initial state h must have shape (2, 5)"));
  CHECK_THROWS_WITH(md::ops::lstm_sequence(md::Tensor::zeros({2, 0, 4}), l.h0, l.c0, l.kernel, l.recurrent, l.bias,
                                           false),
                    Catch::Contains("at least one time step"));
  // Symbolic inputs: specs inside shape inference, an error where a graph node would be recorded.
  const md::Tensor sx = md::Tensor::symbolic({md::None, 7, 4});
  CHECK_THROWS_WITH(md::ops::lstm_sequence(sx, {}, {}, l.kernel, l.recurrent, l.bias, false),
                    Catch::Contains("cannot be traced"));
  md::symbolic::ShapeInferenceScope scope;
  const std::vector<md::Tensor> specs = md::ops::lstm_sequence(sx, {}, {}, l.kernel, l.recurrent, l.bias, false);
  REQUIRE(specs.size() == 3);
  CHECK(specs[0].shape() == md::Shape{md::None, 7, 5});
  CHECK(specs[2].shape() == md::Shape{md::None, 5});
}

TEST_CASE("recurrent sequence ops propagate NaN", "[autograd][recurrent]") {
  std::mt19937 rng(1411);
  for (Cell cell : kCells) {
    Operands o = make_operands(rng, cell, 2, 3, 2, 3, true, true);
    o.x.mutable_data()[0] = std::nanf("");  // batch 0, time 0
    const std::vector<md::Tensor> out = fused(cell, o, false);
    INFO(cell_name(cell));
    const std::vector<float> seq = out[0].to_vector();
    CHECK(std::isnan(seq[0]));                    // batch 0, every later step too
    CHECK(std::isnan(seq[2 * 3]));
    CHECK_FALSE(std::isnan(seq[3 * 3]));          // batch 1 untouched
  }
  // Without initial states, or with zero ones, the first step's product with h0 = 0 is skipped,
  // but not when the recurrent kernel holds a NaN or an infinity: 0 * U is then NaN, in every
  // gate of that column.
  for (Cell cell : kCells) {
    for (float bad : {std::nanf(""), INFINITY}) {
      Operands o = make_operands(rng, cell, 2, 1, 2, 3, true, bad != bad);  // NaN: zero states
      if (o.h0.defined()) o.h0 = md::Tensor::zeros(o.h0.shape());
      if (o.c0.defined()) o.c0 = md::Tensor::zeros(o.c0.shape());
      o.recurrent.mutable_data()[0] = bad;  // row 0, column 0: the first gate of unit 0
      const std::vector<md::Tensor> out = fused(cell, o, false);
      INFO(cell_name(cell) << " recurrent kernel holding " << bad);
      const std::vector<float> seq = out[0].to_vector();
      CHECK(std::isnan(seq[0]));  // batch 0 and 1, unit 0
      CHECK(std::isnan(seq[3]));
    }
  }
}
