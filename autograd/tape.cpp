#include "minidl/autograd/tape.h"

#include <fmt/format.h>

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "minidl/autograd/check_numerics.h"
#include "minidl/autograd/detail/autograd_meta.h"
#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/error.h"

namespace minidl {
namespace autograd::detail {

// One recorded op. Inputs and outputs are each one vector of small structs: a record is made for
// every op of every training step, and each vector is an allocation.
struct Record {
  struct Input {
    uint64_t id;
    bool differentiable;
  };
  struct Output {
    uint64_t id;
    Shape shape;  // for a zero gradient when nothing reached this output
  };
  std::string op_name;
  std::vector<Input> inputs;
  std::vector<Shape> input_shapes;
  std::vector<Output> outputs;
  std::vector<Tensor> saved;
  std::vector<uint64_t> saved_versions;
  BackwardFn backward;
};

struct TapeState {
  bool persistent = false;
  bool paused = false;
  bool used = false;  // a non-persistent tape after its gradient() call
  std::unordered_set<uint64_t> watched;
  std::vector<std::shared_ptr<const Record>> records;

  bool watches(const Tensor& t) const {
    if (!t.defined() || !is_floating(t.dtype())) return false;
    const auto& impl = *t.impl();
    return minidl::detail::is_trainable_variable(impl) || watched.count(impl.id) > 0;
  }
};

namespace {
thread_local std::vector<TapeState*> t_active_tapes;

bool recording(const TapeState* tape) { return !tape->paused && !tape->used; }
}  // namespace

bool any_tape_active() { return !t_active_tapes.empty(); }

bool is_watched_by_any_tape(const Tensor& t) {
  for (const TapeState* tape : t_active_tapes) {
    if (recording(tape) && tape->watches(t)) return true;
  }
  return false;
}

}  // namespace autograd::detail

namespace autograd {

void record(std::string_view op_name, const std::vector<Tensor>& inputs, const std::vector<Tensor>& outputs,
            std::vector<Tensor> saved, BackwardFn backward) {
  // Ops written with record() directly (several outputs, fused kernels) are checked here; ops::apply
  // checks its own outputs and calls the span overload.
  if (debug::check_numerics_enabled()) [[unlikely]] detail::check_op_outputs(op_name, inputs, outputs);
  record(op_name, std::span<const Tensor>(inputs), std::span<const Tensor>(outputs), std::move(saved),
         std::move(backward));
}

void record(std::string_view op_name, std::span<const Tensor> inputs, std::span<const Tensor> outputs,
            std::vector<Tensor> saved, BackwardFn backward) {
  std::shared_ptr<detail::Record> rec;
  for (detail::TapeState* tape : detail::t_active_tapes) {
    if (!detail::recording(tape)) continue;
    if (std::none_of(inputs.begin(), inputs.end(), [&](const Tensor& t) { return tape->watches(t); })) continue;
    if (!rec) {
      rec = std::make_shared<detail::Record>();
      rec->op_name = std::string(op_name);
      rec->inputs.reserve(inputs.size());
      rec->input_shapes.reserve(inputs.size());
      for (const Tensor& t : inputs) {
        rec->inputs.push_back({t.defined() ? t.id() : 0, t.defined() && is_floating(t.dtype())});
        rec->input_shapes.push_back(t.defined() ? t.shape() : Shape{});
      }
      rec->outputs.reserve(outputs.size());
      for (const Tensor& t : outputs) rec->outputs.push_back({t.id(), t.shape()});
      rec->saved_versions.reserve(saved.size());
      for (const Tensor& t : saved) rec->saved_versions.push_back(t.defined() ? t.storage_version() : 0);
      rec->saved = std::move(saved);
      rec->backward = std::move(backward);
    }
    tape->records.push_back(rec);
    for (const Tensor& t : outputs) {
      if (is_floating(t.dtype())) tape->watched.insert(t.id());
    }
  }
}

}  // namespace autograd

GradientTape::GradientTape(bool persistent) : state_(std::make_unique<autograd::detail::TapeState>()) {
  state_->persistent = persistent;
  // A training step records a few dozen ops: room for them up front, instead of the five or six
  // regrowths of each container that every step's fresh tape would otherwise pay.
  state_->records.reserve(64);
  state_->watched.reserve(64);
  autograd::detail::t_active_tapes.push_back(state_.get());
}

GradientTape::~GradientTape() {
  auto& tapes = autograd::detail::t_active_tapes;
  tapes.erase(std::remove(tapes.begin(), tapes.end(), state_.get()), tapes.end());
}

void GradientTape::watch(const Tensor& tensor) {
  if (tensor.defined() && is_floating(tensor.dtype())) state_->watched.insert(tensor.id());
}

void GradientTape::watch(const Variable& variable) { watch(variable.value()); }

bool GradientTape::persistent() const { return state_->persistent; }
size_t GradientTape::num_records() const { return state_->records.size(); }

GradientTape::Pause::Pause(autograd::detail::TapeState* state) : state_(state), was_paused_(state->paused) {
  state_->paused = true;
}
GradientTape::Pause::~Pause() { state_->paused = was_paused_; }

GradientTape::Pause GradientTape::stop_recording() { return Pause(state_.get()); }

std::vector<Tensor> GradientTape::gradient(const Tensor& target, std::initializer_list<GradSource> sources,
                                           const std::vector<Tensor>& output_gradients) {
  return gradient(target, std::vector<GradSource>(sources), output_gradients);
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<Variable>& sources,
                                           const std::vector<Tensor>& output_gradients) {
  return gradient(target, std::vector<GradSource>(sources.begin(), sources.end()), output_gradients);
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<Tensor>& sources,
                                           const std::vector<Tensor>& output_gradients) {
  return gradient(target, std::vector<GradSource>(sources.begin(), sources.end()), output_gradients);
}

std::vector<Tensor> GradientTape::gradient(const Tensor& target, const std::vector<GradSource>& sources,
                                           const std::vector<Tensor>& output_gradients) {
  using autograd::detail::Record;
  auto& state = *state_;
  if (state.used) {
    throw Error(
        "A non-persistent GradientTape can only be used to compute one set of gradients. "
        "Create the tape with GradientTape(/*persistent=*/true) to call gradient() several times.");
  }
  if (!target.defined()) throw ValueError("gradient(): the target is an undefined tensor.");
  if (!is_floating(target.dtype())) {
    throw TypeError("gradient(): the target must be a float tensor; received dtype " + dtype_name(target.dtype()) +
                    ". Gradients of integer or boolean tensors are not defined.");
  }
  if (output_gradients.size() > 1) {
    throw ValueError(fmt::format("gradient(): one target takes at most one output gradient; received {}.",
                                 output_gradients.size()));
  }
  Pause pause(&state);  // the backward pass is not recorded on this tape (outer tapes may)

  // Forward sweep: which tensors depend on a source, so that only those records run.
  // Only watched sources count: an unwatched one gets no gradient even when a recorded op used it
  // (TensorFlow's None), e.g. a non-trainable variable multiplied by a trainable one.
  std::unordered_set<uint64_t> reachable;
  reachable.reserve(2 * state.records.size() + sources.size());
  for (const GradSource& s : sources) {
    if (state.watches(s.tensor())) reachable.insert(s.tensor().id());
  }
  std::vector<bool> relevant(state.records.size(), false);
  for (size_t r = 0; r < state.records.size(); ++r) {
    const Record& rec = *state.records[r];
    for (const Record::Input& input : rec.inputs) {
      if (input.differentiable && reachable.count(input.id)) {
        relevant[r] = true;
        break;
      }
    }
    if (relevant[r]) {
      for (const Record::Output& output : rec.outputs) reachable.insert(output.id);
    }
  }

  std::unordered_map<uint64_t, Tensor> grads;
  grads.reserve(2 * state.records.size() + 1);
  Tensor seed;
  if (!output_gradients.empty() && output_gradients[0].defined()) {
    seed = output_gradients[0];
    if (seed.shape() != target.shape()) {
      throw ShapeError("gradient(): the output gradient has shape " + shape_to_string(seed.shape()) +
                       " but the target has shape " + shape_to_string(target.shape()) + ".");
    }
  } else {
    seed = Tensor::ones(target.shape());
  }
  grads[target.id()] = seed;

  // Reused by every record (a rule returns before the next one runs): two allocations per
  // gradient() instead of two per record.
  std::vector<bool> needs;
  std::vector<Tensor> output_grads;
  for (size_t r = state.records.size(); r-- > 0;) {
    if (!relevant[r]) continue;
    const Record& rec = *state.records[r];
    bool any_output_grad = false;
    for (const Record::Output& output : rec.outputs) any_output_grad = any_output_grad || grads.count(output.id) > 0;
    if (!any_output_grad) continue;

    needs.assign(rec.inputs.size(), false);
    for (size_t i = 0; i < needs.size(); ++i) {
      needs[i] = rec.inputs[i].differentiable && reachable.count(rec.inputs[i].id) > 0;
    }
    for (size_t s = 0; s < rec.saved.size(); ++s) {
      if (rec.saved[s].defined() && rec.saved[s].storage_version() != rec.saved_versions[s]) {
        throw Error(fmt::format(
            "One of the tensors saved by op '{}' for its gradient was modified in place (version {}, expected {}): "
            "take the gradient before assigning to the variables it used.",
            rec.op_name, rec.saved[s].storage_version(), rec.saved_versions[s]));
      }
    }
    output_grads.clear();
    for (const Record::Output& output : rec.outputs) {
      auto it = grads.find(output.id);
      output_grads.push_back(it != grads.end() ? it->second : Tensor::zeros(output.shape));
    }
    std::vector<Tensor> input_grads;
    try {
      input_grads = rec.backward({rec.saved, output_grads, needs, rec.input_shapes});
      if (debug::check_numerics_enabled()) [[unlikely]] autograd::detail::check_op_gradients(rec.op_name, input_grads);
    } catch (const FloatingPointError& e) {
      throw FloatingPointError(fmt::format("in the gradient of op '{}': {}", rec.op_name, e.what()));
    }
    for (size_t i = 0; i < rec.inputs.size() && i < input_grads.size(); ++i) {
      if (!needs[i] || !input_grads[i].defined()) continue;
      auto [it, inserted] = grads.try_emplace(rec.inputs[i].id, input_grads[i]);
      if (!inserted) it->second = ops::add(it->second, input_grads[i]);
    }
  }

  std::vector<Tensor> result;
  result.reserve(sources.size());
  for (const GradSource& s : sources) {
    auto it = s.tensor().defined() ? grads.find(s.tensor().id()) : grads.end();
    result.push_back(it != grads.end() ? it->second : Tensor());
  }
  if (!state.persistent) {
    state.records.clear();
    state.watched.clear();
    state.used = true;
  }
  return result;
}

namespace {

// Keras's StopGradient: the same values under a new identity that no tape has seen, so no
// gradient rule is recorded for it.
constexpr ops::OpDef<> kStopGradient{
    .name = "StopGradient",
    .module = "keras.src.ops.core",
    .spec = ops::same_spec<>,
    .forward = [](ops::OpInputs x, const ops::NoAttrs&, ops::OpSaved&) { return x[0].reshape(x[0].shape()); }};

}  // namespace

MINIDL_DEFINE_OP(kStopGradient);

Tensor stop_gradient(const Tensor& x) { return ops::apply(kStopGradient, {x}); }

}  // namespace minidl
