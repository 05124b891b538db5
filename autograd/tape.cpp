#include "minidl/autograd/tape.h"

#include <fmt/format.h>

#include <algorithm>

#include "minidl/autograd/check_numerics.h"
#include "minidl/autograd/detail/autograd_meta.h"
#include "minidl/autograd/detail/tape_id_table.h"
#include "minidl/autograd/detail/tape_record.h"
#include "minidl/autograd/op_def.h"
#include "minidl/autograd/ops.h"
#include "minidl/autograd/record.h"
#include "minidl/autograd/trace.h"
#include "minidl/core/error.h"

namespace minidl {
namespace autograd::detail {

struct TapeState {
  bool persistent = false;
  bool paused = false;
  bool used = false;  // a non-persistent tape after its gradient() call
  TensorIdTable::Lease watched;  // the ids this tape watches (marked); trainable variables need no entry
  std::vector<RecordRef> records;

  bool watches(const Tensor& t) const {
    if (!t.defined() || !is_floating(t.dtype())) return false;
    const auto& impl = *t.impl();
    return minidl::detail::is_trainable_variable(impl) || watched->marked(impl.id);
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
            std::vector<Tensor> saved, BackwardFn backward, UnreachedOutputGrads unreached) {
  // Ops written with record() directly (several outputs, fused kernels) are checked here; ops::apply
  // checks its own outputs and calls the span overload.
  if (debug::check_numerics_enabled()) [[unlikely]] detail::check_op_outputs(op_name, inputs, outputs);
  record(op_name, std::span<const Tensor>(inputs), std::span<const Tensor>(outputs), std::move(saved),
         std::move(backward), unreached);
}

namespace {

// `rec` describes the op: its inputs (ids, shapes), outputs and gradient rule (and what the rule
// gets for an unreached output). The saved tensors are the caller's to fill. Element by element,
// so that a recycled record's shapes keep their capacity (a resize only adds or drops the tail).
void describe_op(detail::Record& rec, std::string_view op_name, std::span<const Tensor> inputs,
                 std::span<const Tensor> outputs, BackwardFn&& backward,
                 UnreachedOutputGrads unreached = UnreachedOutputGrads::zeros) {
  rec.op_name.assign(op_name);
  rec.inputs.resize(inputs.size());
  rec.input_shapes.resize(inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& t = inputs[i];
    rec.inputs[i] = {t.defined() ? t.id() : 0, t.defined() && is_floating(t.dtype())};
    if (t.defined()) {
      rec.input_shapes[i] = t.shape();
    } else {
      rec.input_shapes[i].clear();
    }
  }
  rec.outputs.resize(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    rec.outputs[i].id = outputs[i].id();
    rec.outputs[i].shape = outputs[i].shape();
  }
  rec.backward = std::move(backward);
  rec.unreached_output_grads = unreached;  // every time: a recycled record keeps its last op's value
}

void note_saved_versions(detail::Record& rec) {
  rec.saved_versions.resize(rec.saved.size());
  for (size_t s = 0; s < rec.saved.size(); ++s) {
    rec.saved_versions[s] = rec.saved[s].defined() ? rec.saved[s].storage_version() : 0;
  }
}

// Appends one record, made on first need by `make`, to every recording tape that watches an
// input, and marks the float outputs watched there.
template <class MakeRecord>
void record_on_watching_tapes(std::span<const Tensor> inputs, std::span<const Tensor> outputs, MakeRecord&& make) {
  detail::RecordRef rec;
  for (detail::TapeState* tape : detail::t_active_tapes) {
    if (!detail::recording(tape)) continue;
    if (std::none_of(inputs.begin(), inputs.end(), [&](const Tensor& t) { return tape->watches(t); })) continue;
    if (!rec) rec = make();
    tape->records.push_back(rec);
    for (const Tensor& t : outputs) {
      if (is_floating(t.dtype())) tape->watched->mark(t.id());
    }
  }
}

}  // namespace

void record(std::string_view op_name, std::span<const Tensor> inputs, std::span<const Tensor> outputs,
            std::vector<Tensor> saved, BackwardFn backward, UnreachedOutputGrads unreached) {
  record_on_watching_tapes(inputs, outputs, [&] {
    detail::RecordRef rec(detail::acquire_record());
    describe_op(rec.edit(), op_name, inputs, outputs, std::move(backward), unreached);
    rec.edit().saved = std::move(saved);
    note_saved_versions(rec.edit());
    return rec;
  });
}

namespace detail {

void record_saved_view(std::string_view op_name, std::span<const Tensor> inputs, std::span<const Tensor> outputs,
                       std::span<const Tensor> saved, BackwardFn backward) {
  record_on_watching_tapes(inputs, outputs, [&] {
    RecordRef rec(acquire_record());
    describe_op(rec.edit(), op_name, inputs, outputs, std::move(backward));
    rec.edit().saved.assign(saved.begin(), saved.end());
    note_saved_versions(rec.edit());
    return rec;
  });
}

}  // namespace detail

}  // namespace autograd

GradientTape::GradientTape(bool persistent) : state_(std::make_unique<autograd::detail::TapeState>()) {
  state_->persistent = persistent;
  // A training step records a few dozen ops: room for them up front, instead of the five or six
  // regrowths of each container that every step's fresh tape would otherwise pay.
  state_->records.reserve(64);
  state_->watched->prepare(64);
  autograd::detail::t_active_tapes.push_back(state_.get());
}

GradientTape::~GradientTape() {
  auto& tapes = autograd::detail::t_active_tapes;
  tapes.erase(std::remove(tapes.begin(), tapes.end(), state_.get()), tapes.end());
}

void GradientTape::watch(const Tensor& tensor) {
  if (tensor.defined() && is_floating(tensor.dtype())) state_->watched->mark(tensor.id());
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
  autograd::detail::TensorIdTable::Lease ids;  // marked: depends on a source; tensor: its gradient
  ids->prepare(2 * state.records.size() + sources.size() + 1);
  for (const GradSource& s : sources) {
    if (state.watches(s.tensor())) ids->mark(s.tensor().id());
  }
  std::vector<bool> relevant(state.records.size(), false);
  for (size_t r = 0; r < state.records.size(); ++r) {
    const Record& rec = *state.records[r];
    for (const Record::Input& input : rec.inputs) {
      if (input.differentiable && ids->marked(input.id)) {
        relevant[r] = true;
        break;
      }
    }
    if (relevant[r]) {
      for (const Record::Output& output : rec.outputs) ids->mark(output.id);
    }
  }

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
  ids->tensor_slot(target.id()) = seed;

  // Reused by every record (a rule returns before the next one runs): two allocations per
  // gradient() instead of two per record.
  std::vector<bool> needs;
  std::vector<Tensor> output_grads;
  for (size_t r = state.records.size(); r-- > 0;) {
    if (!relevant[r]) continue;
    const Record& rec = *state.records[r];
    bool any_output_grad = false;
    for (const Record::Output& output : rec.outputs) any_output_grad = any_output_grad || ids->tensor(output.id);
    if (!any_output_grad) continue;

    needs.assign(rec.inputs.size(), false);
    for (size_t i = 0; i < needs.size(); ++i) {
      needs[i] = rec.inputs[i].differentiable && ids->marked(rec.inputs[i].id);
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
    const bool zeros_for_unreached = rec.unreached_output_grads == autograd::UnreachedOutputGrads::zeros;
    for (const Record::Output& output : rec.outputs) {
      const Tensor* grad = ids->tensor(output.id);
      output_grads.push_back(grad != nullptr ? *grad : zeros_for_unreached ? Tensor::zeros(output.shape) : Tensor());
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
      Tensor& sum = ids->tensor_slot(rec.inputs[i].id);
      sum = sum.defined() ? ops::add(sum, input_grads[i]) : input_grads[i];
    }
  }

  std::vector<Tensor> result;
  result.reserve(sources.size());
  for (const GradSource& s : sources) {
    const Tensor* grad = s.tensor().defined() ? ids->tensor(s.tensor().id()) : nullptr;
    result.push_back(grad != nullptr ? *grad : Tensor());
  }
  if (!state.persistent) {
    state.records.clear();
    state.watched->reset();
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
