// The fused recurrent sequence ops (LSTM, GRU, SimpleRNN over a whole sequence): forward and
// gradient rule side by side, one definition per cell below (RecurrentOp), run by one shared
// path. The ops have three or two outputs, so they record themselves on the tape as the fused
// attention op does rather than through OpDef, which has one.
#include <fmt/format.h>

#include <array>
#include <string>
#include <vector>

#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/tape.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"
#include "minidl/core/operation.h"

namespace minidl::ops {
namespace {

using compute::RecurrentCell;

// The operands in the order every recurrent op takes them (and the order of its gradients).
enum Operand { kX, kH0, kC0, kKernel, kRecurrentKernel, kBias, kOperandCount };

// One step of a cell from md::ops: the Keras cell equations, which a second derivative
// differentiates. h, c: the states before the step (c undefined except for lstm); returns {h, c}.
using StepFn = std::array<Tensor, 2> (*)(const compute::RecurrentProblem& p, const Tensor& x_t, const Tensor& h,
                                         const Tensor& c);

// The gates of a (batch, G units) pre-activation, each (batch, units).
Tensor gate(const Tensor& z, int64_t index, int64_t units) {
  return slice(z, -1, index * units, (index + 1) * units);
}

Tensor with_bias(const Tensor& z, const Tensor& bias) { return bias.defined() ? add(z, bias) : z; }

std::array<Tensor, 2> lstm_step(const compute::RecurrentProblem& p, const Tensor& x_t, const Tensor& h,
                                const Tensor& c) {
  const int64_t u = p.recurrent_kernel.dim(0);
  const Tensor z = with_bias(add(matmul(x_t, p.kernel), matmul(h, p.recurrent_kernel)), p.bias);
  const Tensor i = sigmoid(gate(z, 0, u)), f = sigmoid(gate(z, 1, u)), o = sigmoid(gate(z, 3, u));
  const Tensor c_new = add(multiply(f, c), multiply(i, tanh(gate(z, 2, u))));
  return {multiply(o, tanh(c_new)), c_new};
}

std::array<Tensor, 2> gru_step(const compute::RecurrentProblem& p, const Tensor& x_t, const Tensor& h,
                               const Tensor& /*c*/) {
  const int64_t u = p.recurrent_kernel.dim(0);
  Tensor z, r, hh;
  if (p.cell == RecurrentCell::gru_reset_after) {
    const Tensor xw = with_bias(matmul(x_t, p.kernel), p.bias.defined() ? index(p.bias, 0) : Tensor());
    const Tensor hu = with_bias(matmul(h, p.recurrent_kernel), p.bias.defined() ? index(p.bias, 1) : Tensor());
    z = sigmoid(add(gate(xw, 0, u), gate(hu, 0, u)));
    r = sigmoid(add(gate(xw, 1, u), gate(hu, 1, u)));
    hh = tanh(add(gate(xw, 2, u), multiply(r, gate(hu, 2, u))));
  } else {
    const Tensor xw = with_bias(matmul(x_t, p.kernel), p.bias);
    const Tensor zr = matmul(h, slice(p.recurrent_kernel, -1, 0, 2 * u));
    z = sigmoid(add(gate(xw, 0, u), gate(zr, 0, u)));
    r = sigmoid(add(gate(xw, 1, u), gate(zr, 1, u)));
    hh = tanh(add(gate(xw, 2, u), matmul(multiply(r, h), slice(p.recurrent_kernel, -1, 2 * u, 3 * u))));
  }
  return {add(multiply(z, h), multiply(1.0f - z, hh)), Tensor()};
}

std::array<Tensor, 2> simple_step(const compute::RecurrentProblem& p, const Tensor& x_t, const Tensor& h,
                                  const Tensor& /*c*/) {
  const Tensor pre = with_bias(add(matmul(x_t, p.kernel), matmul(h, p.recurrent_kernel)), p.bias);
  switch (p.activation) {
    case compute::EltwiseOp::relu: return {relu(pre), Tensor()};
    case compute::EltwiseOp::sigmoid: return {sigmoid(pre), Tensor()};
    default: return {tanh(pre), Tensor()};
  }
}

StepFn step_of(RecurrentCell cell) {
  switch (cell) {
    case RecurrentCell::lstm: return lstm_step;
    case RecurrentCell::gru:
    case RecurrentCell::gru_reset_after: return gru_step;
    case RecurrentCell::simple: return simple_step;
  }
  return simple_step;
}

// The whole sequence from md::ops, step by step: {sequence, last h, last c (lstm)}.
std::vector<Tensor> composed_sequence(const compute::RecurrentProblem& p) {
  const int64_t batch = p.x.dim(0), time = p.x.dim(1), units = p.recurrent_kernel.dim(0);
  const StepFn step = step_of(p.cell);
  Tensor h = p.h0.defined() ? p.h0 : Tensor::zeros({batch, units});
  Tensor c = p.cell != RecurrentCell::lstm ? Tensor() : p.c0.defined() ? p.c0 : Tensor::zeros({batch, units});
  const Tensor time_major = swapaxes(p.x, 0, 1);
  std::vector<Tensor> steps;
  for (int64_t s = 0; s < time; ++s) {
    const auto [h_next, c_next] = step(p, index(time_major, p.reverse ? time - 1 - s : s), h, c);
    h = h_next;
    c = c_next;
    steps.push_back(h);
  }
  std::vector<Tensor> out{stack(steps, 1), h};
  if (p.cell == RecurrentCell::lstm) out.push_back(c);
  return out;
}

Tensor operand(const compute::RecurrentProblem& p, int i) {
  switch (i) {
    case kX: return p.x;
    case kH0: return p.h0;
    case kC0: return p.c0;
    case kKernel: return p.kernel;
    case kRecurrentKernel: return p.recurrent_kernel;
    default: return p.bias;
  }
}

// A recurrent op's outputs' specs on symbolic inputs (inside a layer's shape inference).
std::vector<Tensor> symbolic_outputs(const char* name, const compute::RecurrentProblem& p) {
  if (!symbolic::recording_disabled()) {
    throw ValueError(fmt::format("{} has no Keras op class and cannot be traced into a graph; call it inside a "
                                 "layer (LSTM, GRU, SimpleRNN), whose own node is recorded.",
                                 name));
  }
  const int64_t batch = p.x.dim(0), time = p.x.dim(1), units = p.recurrent_kernel.dim(-2);
  std::vector<Tensor> out{Tensor::symbolic({batch, time, units}), Tensor::symbolic({batch, units})};
  if (p.cell == RecurrentCell::lstm) out.push_back(Tensor::symbolic({batch, units}));
  return out;
}

// Runs the fused op on `p` and records its gradient rule. `inputs` are the op's inputs as the
// tape sees them (c0 only for lstm).
std::vector<Tensor> run_recurrent(const char* name, const compute::RecurrentProblem& p) {
  const bool lstm = p.cell == RecurrentCell::lstm;
  std::vector<Tensor> inputs;
  for (int i = 0; i < kOperandCount; ++i) {
    if (i != kC0 || lstm) inputs.push_back(operand(p, i));
  }
  for (const Tensor& t : inputs) {
    if (t.defined() && t.is_symbolic()) return symbolic_outputs(name, p);
  }
  compute::RecurrentResult r = compute::recurrent_forward(p);
  std::vector<Tensor> outputs{r.sequence, r.last_h};
  if (lstm) outputs.push_back(r.last_c);
  if (!autograd::should_record(inputs)) return outputs;

  // The problem without its tensors: the rule gets them back from `saved`.
  compute::RecurrentProblem shape_of_problem = p;
  for (Tensor* t : {&shape_of_problem.x, &shape_of_problem.h0, &shape_of_problem.c0, &shape_of_problem.kernel,
                    &shape_of_problem.recurrent_kernel, &shape_of_problem.bias})
    *t = Tensor();
  std::vector<Tensor> saved{p.x, p.h0, p.c0, p.kernel, p.recurrent_kernel, p.bias, r.sequence, r.workspace};
  autograd::record(name, inputs, outputs, std::move(saved),
                   [shape_of_problem, lstm](const autograd::BackwardArgs& g) -> std::vector<Tensor> {
                     compute::RecurrentProblem q = shape_of_problem;
                     q.x = g.saved[kX];
                     q.h0 = g.saved[kH0];
                     q.c0 = g.saved[kC0];
                     q.kernel = g.saved[kKernel];
                     q.recurrent_kernel = g.saved[kRecurrentKernel];
                     q.bias = g.saved[kBias];
                     // Input position of each operand (c0 is absent from all but lstm's inputs).
                     const auto position = [&](int i) { return lstm || i < kC0 ? i : i - 1; };
                     const auto needs = [&](int i) {
                       return (i != kC0 || lstm) && operand(q, i).defined() && g.needs(position(i));
                     };
                     const Tensor d_c = lstm ? g.grads[2] : Tensor();
                     std::vector<Tensor> watched_grads{g.grads[0], g.grads[1], d_c};
                     std::vector<Tensor> result(g.needs_grad.size());
                     std::vector<Tensor> operands_in;
                     for (int i = 0; i < kOperandCount; ++i) operands_in.push_back(operand(q, i));
                     std::vector<Tensor> everything = operands_in;
                     everything.insert(everything.end(), watched_grads.begin(), watched_grads.end());
                     if (autograd::should_record(everything)) {
                       // A tape records this backward pass: differentiate the composed equations,
                       // whose every step is an op, so the outer tape sees the whole rule.
                       GradientTape tape;
                       std::vector<Tensor> sources;
                       std::vector<int> which;
                       for (int i = 0; i < kOperandCount; ++i) {
                         if (!needs(i)) continue;
                         tape.watch(operand(q, i));
                         sources.push_back(operand(q, i));
                         which.push_back(i);
                       }
                       const std::vector<Tensor> out = composed_sequence(q);
                       // sum(out * d_out) over the outputs a gradient reached (an unreached one's
                       // is undefined: a zero term).
                       Tensor seed;
                       for (size_t o = 0; o < out.size(); ++o) {
                         if (!watched_grads[o].defined()) continue;
                         const Tensor term = sum(multiply(out[o], watched_grads[o]));
                         seed = seed.defined() ? add(seed, term) : term;
                       }
                       const std::vector<Tensor> grads =
                           seed.defined() ? tape.gradient(seed, sources) : std::vector<Tensor>(sources.size());
                       for (size_t k = 0; k < which.size(); ++k) {
                         result[position(which[k])] =
                             grads[k].defined() ? grads[k] : Tensor::zeros(operand(q, which[k]).shape());
                       }
                       return result;
                     }
                     std::vector<bool> wanted(kOperandCount);
                     for (int i = 0; i < kOperandCount; ++i) wanted[i] = needs(i);
                     const compute::RecurrentResult forward{.sequence = g.saved[6], .workspace = g.saved[7]};
                     compute::RecurrentGrads d =
                         compute::recurrent_backward(q, forward, g.grads[0], g.grads[1], d_c, wanted);
                     const std::array<Tensor*, kOperandCount> by_operand{&d.dx,      &d.dh0, &d.dc0, &d.dkernel,
                                                                         &d.drecurrent_kernel, &d.dbias};
                     for (int i = 0; i < kOperandCount; ++i) {
                       if (needs(i)) result[position(i)] = *by_operand[i];
                     }
                     return result;
                   },
                   // The fused backward takes an undefined output gradient as zero (and the composed
                   // one above skips its term): no zeros for the sequence a layer does not return.
                   autograd::UnreachedOutputGrads::undefined);
  return outputs;
}

compute::EltwiseOp simple_activation(const std::string& name) {
  if (name == "tanh") return compute::EltwiseOp::tanh;
  if (name == "relu") return compute::EltwiseOp::relu;
  if (name == "sigmoid") return compute::EltwiseOp::sigmoid;
  throw ValueError(fmt::format("simple_rnn_sequence runs the activations 'tanh', 'relu' and 'sigmoid' (those of "
                               "oneDNN's vanilla RNN); received '{}'. SimpleRNN computes other activations with its "
                               "composed cell.",
                               name));
}

}  // namespace

std::vector<Tensor> lstm_sequence(const Tensor& x, const Tensor& h0, const Tensor& c0, const Tensor& kernel,
                                  const Tensor& recurrent_kernel, const Tensor& bias, bool go_backwards) {
  return run_recurrent("lstm_sequence", {.cell = RecurrentCell::lstm, .x = x, .h0 = h0, .c0 = c0, .kernel = kernel,
                                         .recurrent_kernel = recurrent_kernel, .bias = bias, .reverse = go_backwards});
}

std::vector<Tensor> gru_sequence(const Tensor& x, const Tensor& h0, const Tensor& kernel,
                                 const Tensor& recurrent_kernel, const Tensor& bias, bool reset_after,
                                 bool go_backwards) {
  return run_recurrent("gru_sequence",
                       {.cell = reset_after ? RecurrentCell::gru_reset_after : RecurrentCell::gru, .x = x, .h0 = h0,
                        .kernel = kernel, .recurrent_kernel = recurrent_kernel, .bias = bias, .reverse = go_backwards});
}

std::vector<Tensor> simple_rnn_sequence(const Tensor& x, const Tensor& h0, const Tensor& kernel,
                                        const Tensor& recurrent_kernel, const Tensor& bias,
                                        const std::string& activation, bool go_backwards) {
  return run_recurrent("simple_rnn_sequence",
                       {.cell = RecurrentCell::simple, .activation = simple_activation(activation), .x = x, .h0 = h0,
                        .kernel = kernel, .recurrent_kernel = recurrent_kernel, .bias = bias, .reverse = go_backwards});
}

}  // namespace minidl::ops
