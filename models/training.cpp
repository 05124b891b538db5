// The training part of a model: Model::compile / fit / evaluate / predict and the batch steps,
// Keras 3's training loop (keras/src/trainers/trainer.py and the TensorFlow trainer's epoch
// iterator), eagerly, one batch at a time; Logs and History.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>
#include <optional>

#include "minidl/autograd/ops.h"
#include "minidl/autograd/tape.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"
#include "minidl/core/random.h"
#include "minidl/core/threading.h"
#include "minidl/layers/serialization.h"
#include "minidl/models/callbacks.h"
#include "minidl/models/detail/data_parallel.h"
#include "minidl/models/detail/training_state.h"
#include "minidl/models/model.h"
#include "minidl/models/progbar.h"
#include "minidl/optim/registry.h"

namespace minidl {

// ---- argument forms ----------------------------------------------------------------------------

OptimizerArg::OptimizerArg(const char* name) : optimizer(optim::get(std::string(name))) {}
OptimizerArg::OptimizerArg(const std::string& name) : optimizer(optim::get(name)) {}
OptimizerArg::OptimizerArg(std::shared_ptr<optim::Optimizer> opt) : optimizer(std::move(opt)) {
  if (!optimizer) throw ValueError("compile() got a null optimizer.");
}
OptimizerArg::OptimizerArg(const optim::Optimizer& opt) : optimizer(opt.clone()) {}

LossArg::LossArg(const char* name) : LossArg(std::string(name)) {}
LossArg::LossArg(const std::string& name) : loss(losses::get(name)), identifier(name) {}
LossArg::LossArg(std::shared_ptr<losses::Loss> l) : loss(std::move(l)) {
  if (!loss) throw ValueError("compile() got a null loss.");
  identifier = loss->class_name();
}
LossArg::LossArg(const losses::Loss& l) : loss(l.clone()), identifier(l.class_name()) {}

MetricArg::MetricArg(const char* n) : name(n) {}
MetricArg::MetricArg(const std::string& n) : name(n) {}
MetricArg::MetricArg(std::shared_ptr<metrics::Metric> m) : metric(std::move(m)) {
  if (!metric) throw ValueError("compile() got a null metric.");
  name = metric->name();
}
MetricArg::MetricArg(const metrics::Metric& m) : name(m.name()), metric(m.clone()) {}

// ---- Logs and History --------------------------------------------------------------------------

void Logs::set(const std::string& name, double value) {
  for (auto& [key, v] : items_) {
    if (key == name) {
      v = value;
      return;
    }
  }
  items_.emplace_back(name, value);
}

std::optional<double> Logs::find(const std::string& name) const {
  for (const auto& [key, v] : items_) {
    if (key == name) return v;
  }
  return std::nullopt;
}

double Logs::at(const std::string& name) const {
  if (auto v = find(name)) return *v;
  std::vector<std::string> keys;
  for (const auto& item : items_) keys.push_back(item.first);
  throw ValueError(fmt::format("No log named '{}'. Available: [{}].", name, fmt::join(keys, ", ")));
}

json Logs::to_json() const {
  json out = json::object();
  for (const auto& [key, v] : items_) out[key] = v;
  return out;
}

const std::vector<double>& History::operator[](const std::string& name) const {
  for (const auto& [key, values] : history) {
    if (key == name) return values;
  }
  throw ValueError(fmt::format("History has no '{}'. Available: [{}].", name, fmt::join(keys(), ", ")));
}

std::vector<std::string> History::keys() const {
  std::vector<std::string> out;
  for (const auto& item : history) out.push_back(item.first);
  return out;
}

void History::append(int epoch_index, const Logs& logs) {
  epoch.push_back(epoch_index);
  for (const auto& [key, value] : logs.items()) {
    // (The name through a reference: clang 14, the fuzz preset's compiler, cannot capture a
    // structured binding.)
    const auto& name = key;
    auto it = std::find_if(history.begin(), history.end(), [&](const auto& h) { return h.first == name; });
    if (it == history.end()) {
      history.emplace_back(key, std::vector<double>{});
      it = history.end() - 1;
    }
    it->second.push_back(value);
  }
}

// ---- compile state -----------------------------------------------------------------------------

void Model::compile(const CompileOptions& options) {
  if (!options.loss.loss) {
    throw ValueError("compile() needs a loss, e.g. model.compile({.optimizer = \"adam\", .loss = \"mse\"}).");
  }
  // Names are checked now, so that a typo fails at compile and not at the first batch.
  for (const MetricArg& m : options.metrics) {
    if (!m.metric && m.name != "accuracy" && m.name != "acc") metrics::get(m.name);
  }
  Training& t = *training_;
  t.optimizer = options.optimizer.optimizer;
  t.loss = options.loss;
  t.metric_args = options.metrics;
  t.metrics.clear();
  t.metrics_resolved = false;
  t.loss_tracker.reset_state();
  t.compiled = true;
}

bool Model::compiled() const { return training_->compiled; }
std::shared_ptr<optim::Optimizer> Model::optimizer() const { return training_->optimizer; }
std::shared_ptr<losses::Loss> Model::loss() const { return training_->loss.loss; }
std::vector<std::shared_ptr<metrics::Metric>> Model::metrics() const { return training_->metrics; }
void Model::set_stop_training(bool stop) { training_->stop = stop; }
void Model::set_initial_epoch(int epoch) { training_->initial_epoch = epoch; }
bool Model::stop_training() const { return training_->stop; }

void Model::check_compiled(const std::string& method) const {
  if (!training_->compiled) {
    throw ValueError(fmt::format("You must call `compile()` before using the model: {}() needs an optimizer and a "
                                 "loss.",
                                 method));
  }
}

json Model::get_compile_config() const {
  const Training& t = *training_;
  if (!t.compiled) return nullptr;
  json metrics_config = json::array();
  for (const MetricArg& m : t.metric_args) metrics_config.push_back(m.metric ? metrics::serialize(*m.metric) : json(m.name));
  const bool loss_by_name = t.loss.identifier != t.loss.loss->class_name();
  return json{{"optimizer", optim::serialize(*t.optimizer)},
              {"loss", loss_by_name ? json(t.loss.identifier) : losses::serialize(*t.loss.loss)},
              {"loss_weights", nullptr},
              {"metrics", metrics_config.empty() ? json(nullptr) : metrics_config},
              {"weighted_metrics", nullptr},
              {"run_eagerly", false},
              {"steps_per_execution", 1},
              {"jit_compile", false}};
}

void Model::compile_from_config(const json& config) {
  if (!config.is_object()) {
    throw ValueError(fmt::format("compile_from_config expects a JSON object (get_compile_config()); received {}",
                                 config.dump()));
  }
  for (const char* unsupported : {"loss_weights", "weighted_metrics"}) {
    if (auto it = config.find(unsupported); it != config.end() && !it->is_null()) {
      throw ValueError(fmt::format("The compile config sets '{}' ({}), which minidl's compile() does not support.",
                                   unsupported, it->dump()));
    }
  }
  const auto field = [&](const char* key) -> const json& {
    static const json null_value;
    auto it = config.find(key);
    return it == config.end() ? null_value : *it;
  };
  CompileOptions options;
  if (const json& opt = field("optimizer"); !opt.is_null()) options.optimizer = OptimizerArg(optim::get(opt));
  const json& loss = field("loss");
  if (loss.is_string()) {
    options.loss = LossArg(loss.get<std::string>());
  } else if (loss.is_object()) {
    options.loss = LossArg(losses::deserialize(loss));
  } else {
    throw ValueError(fmt::format("The compile config's 'loss' must be a name or a serialized loss; received {}.",
                                 loss.dump()));
  }
  if (const json& metric_list = field("metrics"); !metric_list.is_null()) {
    if (!metric_list.is_array()) {
      throw ValueError(fmt::format("The compile config's 'metrics' must be a list; received {}.", metric_list.dump()));
    }
    for (const json& m : metric_list) {
      if (m.is_string()) {
        options.metrics.emplace_back(m.get<std::string>());
      } else if (m.is_object()) {
        options.metrics.emplace_back(metrics::deserialize(m));
      } else {
        throw ValueError(fmt::format("The compile config's metric {} is neither a name nor a serialized metric "
                                     "(minidl models have one output, so per-output lists do not apply).",
                                     m.dump()));
      }
    }
  }
  compile(options);
  // Keras's compile_from_config builds the optimizer when the model is built, so that the
  // optimizer variables of a saved file have slots to load into.
  if (built()) training_->optimizer->build(trainable_variables());
}

// ---- batching ----------------------------------------------------------------------------------

namespace {

int64_t row_count(const Tensor& t) { return t.ndim() == 0 ? 1 : t.dim(0); }

int64_t sample_count(const std::vector<Tensor>& x, const Tensor& y, const std::string& where) {
  if (x.empty()) throw ValueError(fmt::format("{}: x holds no tensors.", where));
  std::vector<int64_t> x_sizes;
  for (const Tensor& t : x) {
    if (!t.is_concrete()) throw ValueError(fmt::format("{}: x must be concrete tensors, not symbolic ones.", where));
    if (t.ndim() == 0) throw ValueError(fmt::format("{}: x must have a batch axis; received a scalar.", where));
    x_sizes.push_back(t.dim(0));
  }
  const bool x_agree = std::all_of(x_sizes.begin(), x_sizes.end(), [&](int64_t n) { return n == x_sizes[0]; });
  if (!x_agree || (y.defined() && row_count(y) != x_sizes[0])) {
    // Keras's data_adapter_utils.check_data_cardinality message (with the space Keras's string
    // lacks before the sizes).
    std::string msg = "Data cardinality is ambiguous. Make sure all arrays contain the same number of samples. ";
    msg += fmt::format("'x' sizes: {}\n", fmt::join(x_sizes, ", "));
    if (y.defined()) msg += fmt::format("'y' sizes: {}\n", row_count(y));
    throw ValueError(msg);
  }
  if (x_sizes[0] == 0) {
    // Keras's data adapter: "Expected input data to be non-empty."
    throw ValueError(fmt::format("{}: `x` holds 0 samples (shape {}). Expected input data to be non-empty.", where,
                                 shape_to_string(x[0].shape())));
  }
  return x_sizes[0];
}

// A batch at least this large (in elements) is gathered by compute::gather, whose rows are
// split across the threads: a shuffled Fashion-MNIST batch (64 rows of 784 floats from a
// 170 MB array) waits on memory row by row, and two threads halve that wait. Smaller batches
// (labels, say) are copied on the calling thread, below the cost of a parallel region.
constexpr int64_t kThreadedGatherElements = int64_t{1} << 14;
// compute::gather takes float32 row indices, exact up to 2^24.
constexpr int64_t kFloatExactRows = int64_t{1} << 24;

// Rows `order[begin:end)` of t, copied into a new tensor.
Tensor gather_rows(const Tensor& t, const std::vector<int64_t>& order, int64_t begin, int64_t end) {
  const int64_t row = t.dim(0) == 0 ? 0 : t.size() / t.dim(0);
  if ((end - begin) * row >= kThreadedGatherElements && t.dim(0) <= kFloatExactRows) {
    std::vector<float> rows;
    rows.reserve(static_cast<size_t>(end - begin));
    for (int64_t i = begin; i < end; ++i) rows.push_back(static_cast<float>(order[static_cast<size_t>(i)]));
    return compute::gather(t, 0, Tensor::from_vector(rows, {end - begin}));
  }
  Shape shape = t.shape();
  shape[0] = end - begin;
  Tensor out = Tensor::empty(shape, t.dtype());
  const float* src = t.data();
  float* dst = out.mutable_data();
  for (int64_t i = begin; i < end; ++i) {
    std::memcpy(dst + (i - begin) * row, src + order[static_cast<size_t>(i)] * row, sizeof(float) * row);
  }
  return out;
}

Tensor slice_rows(const Tensor& t, int64_t begin, int64_t end) {
  std::vector<int64_t> order(static_cast<size_t>(end));
  std::iota(order.begin(), order.end(), 0);
  return gather_rows(t, order, begin, end);
}

std::vector<Tensor> gather_all(const std::vector<Tensor>& xs, const std::vector<int64_t>& order, int64_t begin,
                               int64_t end) {
  std::vector<Tensor> out;
  for (const Tensor& x : xs) out.push_back(gather_rows(x, order, begin, end));
  return out;
}

// A permutation of [0, n) fixed by `seed` (argsort of seeded uniforms: the same on every machine).
std::vector<int64_t> permutation(int64_t n, uint64_t seed) {
  const std::vector<float> keys = random::uniform({n}, 0.0f, 1.0f, seed).to_vector();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  return order;
}

std::vector<int64_t> identity_order(int64_t n) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

// verbose "auto" is 1; 1 renders as 2 (one line per epoch) when stdout is not a terminal.
int effective_verbose(int verbose) {
  if (verbose < 0) verbose = 1;
  if (verbose == 1 && !stdout_is_terminal()) verbose = 2;
  return verbose;
}

int64_t steps_for(int64_t n, int64_t batch_size) { return (n + batch_size - 1) / batch_size; }

void check_batch_size(int64_t batch_size, const std::string& where) {
  if (batch_size <= 0) throw ValueError(fmt::format("{}: batch_size must be positive; received {}.", where, batch_size));
}

ValueError nonfinite_loss_error(double value, const std::string& where) {
  return ValueError(fmt::format("The loss became {} at {}: training stopped. Check the inputs for NaN or infinite "
                                "values, or lower the learning rate.",
                                std::isnan(value) ? "NaN" : "infinite", where));
}

}  // namespace

// ---- one batch ---------------------------------------------------------------------------------

double Model::run_batch(const std::vector<Tensor>& x_global, const Tensor& y_global, bool training,
                        const std::string& where, bool callbacks_decide) {
  const DenormalsFlushed flushed;  // FTZ/DAZ for this step, on this thread and its OpenMP team
  Training& t = *training_;
  const CallOptions call_options{.training = training};
  // Data-parallel: this process runs its shard of the global batch, and the loss, gradients and
  // outputs are combined across processes below (models/distribution.h). One process: `x` is
  // the batch and nothing below calls MPI.
  const distribution::DataParallelOptions* parallel = distribution::detail::active();
  const int64_t global_rows = row_count(x_global[0]);
  const distribution::detail::Rows rows = parallel ? distribution::detail::shard(global_rows)
                                                   : distribution::detail::Rows{0, global_rows};
  const bool sharded = rows.count() < global_rows;
  std::vector<Tensor> x_shard;
  Tensor y_shard;
  std::optional<random::BatchShard> dropout_rows;
  if (sharded) {
    for (const Tensor& xi : x_global) x_shard.push_back(slice_rows(xi, rows.begin, rows.end));
    y_shard = slice_rows(y_global, rows.begin, rows.end);
    dropout_rows.emplace(rows.begin, rows.count());
  }
  const std::vector<Tensor>& x = sharded ? x_shard : x_global;
  const Tensor& y = sharded ? y_shard : y_global;
  // The share of this process's mean loss in the global batch's mean loss.
  const float weight = static_cast<float>(static_cast<double>(rows.count()) / static_cast<double>(global_rows));

  std::vector<Tensor> outputs;
  Tensor loss_value;
  std::vector<Tensor> grads;
  double value = 0.0;
  const std::vector<Variable> variables = training ? trainable_variables() : std::vector<Variable>{};
  {
    // Only a training step records: evaluation must not pay for (or hold) a tape.
    std::optional<GradientTape> tape;
    if (training) tape.emplace();
    outputs = x.size() == 1 ? call_all(x[0], call_options) : call_all(x, call_options);
    if (outputs.size() != 1) {
      throw ValueError(fmt::format("compile() takes one loss, but model '{}' has {} outputs; train a model with "
                                   "one output.",
                                   name(), outputs.size()));
    }
    loss_value = (*t.loss.loss)(y, outputs[0]);
    // Keras's compute_loss: the compiled loss plus every loss of model.losses (activity
    // penalties of this call, weight penalties from the current weights), in training and in
    // evaluation alike.
    for (const Tensor& extra : losses()) loss_value = ops::add(loss_value, extra);
    value = loss_value.item();
    // Every process checks the same global value, so all of them stop together.
    if (sharded) value = distribution::detail::sum_over_processes(static_cast<double>(weight) * value);
    if (!std::isfinite(value) && !callbacks_decide) throw nonfinite_loss_error(value, where);
    if (training && !variables.empty() && std::isfinite(value)) grads = tape->gradient(loss_value, variables);
  }
  if (training && !variables.empty() && std::isfinite(value)) {
    if (sharded) grads = distribution::detail::sum_gradients(grads, weight, *parallel);
    t.optimizer->apply(grads, variables);
  }
  if (training && sharded) {
    // Moving statistics (BatchNormalization) moved with this process's rows: average them.
    const std::vector<Variable> state = non_trainable_weights();
    if (!state.empty()) distribution::detail::average_variables(state, weight, *parallel);
  }
  // Metrics see the whole global batch, in order, as one process would.
  const Tensor output = sharded ? distribution::detail::gather_rows(outputs[0], global_rows) : outputs[0];

  if (!t.metrics_resolved) {
    for (const MetricArg& m : t.metric_args) {
      if (m.metric) {
        t.metrics.push_back(m.metric);
      } else if (m.name == "accuracy" || m.name == "acc") {
        t.metrics.push_back(metrics::resolve_metric(m.name, y_global.shape(), output.shape()));
      } else {
        auto metric = metrics::get(m.name);
        metric->set_name(m.name);
        t.metrics.push_back(metric);
      }
    }
    t.metrics_resolved = true;
  }
  t.loss_tracker.update_state(value, static_cast<double>(global_rows));
  for (const auto& metric : t.metrics) metric->update_state(y_global, output);
  return value;
}

namespace {

Logs current_logs(const metrics::Mean& loss_tracker, const std::vector<std::shared_ptr<metrics::Metric>>& ms,
                  const std::string& prefix = "") {
  Logs logs;
  logs.set(prefix + "loss", loss_tracker.result());
  for (const auto& m : ms) logs.set(prefix + m->name(), m->result());
  return logs;
}

}  // namespace

// ---- data-parallel set-up -------------------------------------------------------------------------

void Model::start_data_parallel(const std::vector<Tensor>& x, int64_t batch_size, int64_t samples) {
  distribution::detail::check_batch_size(batch_size, "fit");
  // A model built on its first call (Sequential without an input shape) gets its weights now,
  // from one sample in inference mode, so that process 0's weights can be sent before step 1.
  if (!built()) {
    const std::vector<Tensor> first = gather_all(x, identity_order(1), 0, 1);
    if (first.size() == 1) {
      call_all(first[0], {.training = false});
    } else {
      call_all(first, {.training = false});
    }
  }
  std::string description = serialize(*this).dump();
  for (const Variable& v : weights()) description += shape_to_string(v.shape());
  distribution::detail::check_same_setup(description, samples, "fit");
  // The optimizer is built now rather than at the first step, so that a resumed optimizer state
  // (BackupAndRestore, a loaded .keras file) on process 0 has somewhere to go on the others.
  Training& t = *training_;
  t.optimizer->build(trainable_variables());
  std::vector<Variable> state = weights();
  for (const Variable& v : t.optimizer->variables()) state.push_back(v);
  distribution::detail::broadcast_variables(state);
}

// ---- fit ---------------------------------------------------------------------------------------

History Model::fit(const ModelInputs& x_in, const Tensor& y_in, const FitOptions& options) {
  const distribution::DataParallelOptions* parallel = distribution::detail::active();
  std::vector<Tensor> x;
  Tensor y;
  std::optional<std::pair<std::vector<Tensor>, Tensor>> validation;
  int64_t train_rows = 0;  // the training samples: rows [0, train_rows) of x and y
  const auto check_arguments = [&] {
    check_compiled("fit");
    check_batch_size(options.batch_size, "fit");
    if (!(options.validation_split >= 0.0 && options.validation_split < 1.0)) {
      throw ValueError(fmt::format("`validation_split` must be in [0, 1); received {}.", options.validation_split));
    }
    if (options.epochs < 0) throw ValueError(fmt::format("`epochs` must be >= 0; received {}.", options.epochs));
    const int64_t n = sample_count(x_in.tensors, y_in, "fit");

    // validation_split takes the last samples, before any shuffling (Keras).
    x = x_in.tensors;
    y = y_in;
    train_rows = n;
    if (options.validation_data) {
      const auto& [vx, vy] = *options.validation_data;
      sample_count(vx.tensors, vy, "fit (validation_data)");
      validation.emplace(vx.tensors, vy);
    } else if (options.validation_split > 0.0) {
      const auto split = static_cast<int64_t>(std::floor(double(n) * (1.0 - options.validation_split)));
      if (split <= 0 || split >= n) {
        throw ValueError(fmt::format("validation_split={} leaves no samples for {} ({} samples in all).",
                                     options.validation_split, split <= 0 ? "training" : "validation", n));
      }
      std::vector<Tensor> vx;
      for (const Tensor& t : x) vx.push_back(slice_rows(t, split, n));
      validation.emplace(vx, slice_rows(y, split, n));
      // The training samples stay where they are: the batches are gathered from rows [0, split)
      // of the caller's tensors, instead of from a copy of them made first (the whole training
      // set: 170 MB and a tenth of a second for Fashion-MNIST, on every fit() call).
      train_rows = split;
    }
  };
  // Data-parallel: a process whose data do not fit (x and y of different lengths, say) fails
  // fit() on every process, naming itself, rather than leaving the others in a collective.
  distribution::detail::run_on_every_process(check_arguments, "fit");
  const int64_t n_train = train_rows;
  const int64_t steps = steps_for(n_train, options.batch_size);
  const int verbose = distribution::detail::is_chief() ? effective_verbose(options.verbose) : 0;
  random::SeedGenerator shuffle_seeds(options.seed);

  Training& t = *training_;
  t.stop = false;
  t.initial_epoch = options.initial_epoch;
  for (const auto& cb : options.callbacks) cb->set_model(this);
  // Data-parallel: the epoch-level hooks run through run_on_every_process, so that a callback
  // failing on one process (a backup it cannot read, a checkpoint process 0 cannot write) fails
  // fit() on all of them instead of leaving them in a collective; it also keeps them in step
  // while process 0 writes.
  const auto every_process = [&](const std::function<void()>& hooks, const char* where) {
    if (!options.callbacks.empty()) distribution::detail::run_on_every_process(hooks, where);
  };
  every_process([&] {
    for (const auto& cb : options.callbacks) cb->on_train_begin({});
  }, "fit (on_train_begin)");
  if (parallel) {
    start_data_parallel(x, options.batch_size, n_train);
    // The same batches, in the same order, from the same epoch, on every process: process 0's.
    shuffle_seeds = random::SeedGenerator(distribution::detail::value_of_process_zero(shuffle_seeds.initial_seed()));
    t.initial_epoch = static_cast<int>(distribution::detail::value_of_process_zero(static_cast<uint64_t>(t.initial_epoch)));
  }
  // Epoch k shuffles with the k-th seed of the stream, so that a run resumed at epoch k
  // (BackupAndRestore) sees the batches the uninterrupted run saw.
  shuffle_seeds.set_counter(static_cast<uint64_t>(t.initial_epoch));

  History history;
  for (int epoch = t.initial_epoch; epoch < options.epochs; ++epoch) {
    t.loss_tracker.reset_state();
    for (const auto& m : t.metrics) m->reset_state();
    every_process([&] {
      for (const auto& cb : options.callbacks) cb->on_epoch_begin(epoch, {});
    }, "fit (on_epoch_begin)");
    if (verbose && options.epochs > 1) fmt::print("Epoch {}/{}\n", epoch + 1, options.epochs);
    Progbar bar(steps, {.verbose = verbose});
    const uint64_t epoch_seed = shuffle_seeds.next();
    const std::vector<int64_t> order = options.shuffle ? permutation(n_train, epoch_seed) : identity_order(n_train);
    for (int64_t step = 0; step < steps; ++step) {
      double loss = 0.0;
      std::string where;
      const int64_t begin = step * options.batch_size;
      const int64_t end = std::min(n_train, begin + options.batch_size);
      for (const auto& cb : options.callbacks) cb->on_train_batch_begin(step, {});
      {
        // Dropout's seeds follow the batch's place in the whole run, not this process's count of
        // batches, so a resumed run (initial_epoch > 0) draws the masks the full run drew.
        const random::TrainingStep seeds(static_cast<uint64_t>(epoch) * static_cast<uint64_t>(steps) +
                                         static_cast<uint64_t>(step));
        where = fmt::format("epoch {}/{}, step {}/{}", epoch + 1, options.epochs, step + 1, steps);
        try {
          loss = run_batch(gather_all(x, order, begin, end), gather_rows(y, order, begin, end), /*training=*/true,
                           where, /*callbacks_decide=*/!options.callbacks.empty());
        } catch (const FloatingPointError& e) {
          throw FloatingPointError(where + ": " + e.what());  // md::debug::check_numerics: which step
        }
      }
      const Logs logs = current_logs(t.loss_tracker, t.metrics);
      for (const auto& cb : options.callbacks) cb->on_train_batch_end(step, logs);
      // A batch hook that stops training (TerminateOnNaN) ends the epoch here, as in Keras;
      // data-parallel, every process learns of it, or the others would wait in the next step.
      if (parallel && !options.callbacks.empty()) {
        t.stop = distribution::detail::sum_over_processes(t.stop ? 1.0 : 0.0) > 0.0;
      }
      // No weight moved on a NaN loss; unless a hook stopped training, it is the error run_batch
      // raises without callbacks.
      if (!std::isfinite(loss) && !t.stop) throw nonfinite_loss_error(loss, where);
      if (t.stop) break;
      if (step + 1 < steps) bar.update(step + 1, logs.items(), /*finalize=*/false);
    }
    Logs epoch_logs = current_logs(t.loss_tracker, t.metrics);
    if (validation) {
      const Logs val = evaluate(validation->first, validation->second,
                                {.batch_size = options.batch_size, .verbose = 0});
      for (const auto& [key, value] : val.items()) epoch_logs.set("val_" + key, value);
    }
    bar.update(steps, epoch_logs.items(), /*finalize=*/true);
    // Process 0 writes the checkpoints and logs (callbacks.cpp); the others wait for it, and
    // learn if it failed.
    every_process([&] {
      for (const auto& cb : options.callbacks) cb->on_epoch_end(epoch, epoch_logs);
    }, "fit (on_epoch_end)");
    history.append(epoch, epoch_logs);
    // Data-parallel: a callback that stops training on one process (a time limit, a file it
    // watches) stops it on all of them, or the others would wait in the next epoch's collectives.
    if (parallel && !options.callbacks.empty()) {
      t.stop = distribution::detail::sum_over_processes(t.stop ? 1.0 : 0.0) > 0.0;
    }
    if (t.stop) break;
  }
  Logs last;
  if (!history.epoch.empty()) {
    for (const auto& [key, values] : history.history) last.set(key, values.back());
  }
  every_process([&] {
    for (const auto& cb : options.callbacks) cb->on_train_end(last);
  }, "fit (on_train_end)");
  return history;
}

// ---- evaluate / predict / single batches ----------------------------------------------------------

Logs Model::evaluate(const ModelInputs& x, const Tensor& y, const EvaluateOptions& options) {
  check_compiled("evaluate");
  check_batch_size(options.batch_size, "evaluate");
  const int64_t n = sample_count(x.tensors, y, "evaluate");
  const int64_t steps = steps_for(n, options.batch_size);
  const int verbose = distribution::detail::is_chief() ? effective_verbose(options.verbose) : 0;
  Training& t = *training_;
  // Validation inside fit() must not disturb the training metrics' running state.
  const metrics::Mean saved_tracker = t.loss_tracker;
  std::vector<std::shared_ptr<metrics::Metric>> saved_metrics;
  for (const auto& m : t.metrics) saved_metrics.push_back(m->clone());

  for (const auto& cb : options.callbacks) cb->set_model(this);
  for (const auto& cb : options.callbacks) cb->on_test_begin({});
  t.loss_tracker.reset_state();
  for (const auto& m : t.metrics) m->reset_state();
  Progbar bar(steps, {.verbose = verbose});
  const std::vector<int64_t> order = identity_order(n);
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t begin = step * options.batch_size;
    const int64_t end = std::min(n, begin + options.batch_size);
    run_batch(gather_all(x.tensors, order, begin, end), gather_rows(y, order, begin, end), /*training=*/false,
              fmt::format("evaluation step {}/{}", step + 1, steps));
    const Logs logs = current_logs(t.loss_tracker, t.metrics);
    for (const auto& cb : options.callbacks) cb->on_test_batch_end(step, logs);
    if (step + 1 < steps) bar.update(step + 1, logs.items(), /*finalize=*/false);
  }
  const Logs logs = current_logs(t.loss_tracker, t.metrics);
  bar.update(steps, logs.items(), /*finalize=*/true);
  for (const auto& cb : options.callbacks) cb->on_test_end(logs);

  // Metrics resolved during this call (a first batch) stay resolved; restore the states.
  t.loss_tracker = saved_tracker;
  for (size_t i = 0; i < saved_metrics.size(); ++i) t.metrics[i] = saved_metrics[i];
  return logs;
}

Tensor Model::predict(const ModelInputs& x, const PredictOptions& options) {
  check_batch_size(options.batch_size, "predict");
  const int64_t n = sample_count(x.tensors, Tensor(), "predict");
  const int64_t steps = steps_for(n, options.batch_size);
  Progbar bar(steps, {.verbose = distribution::detail::is_chief() ? effective_verbose(options.verbose) : 0});
  const std::vector<int64_t> order = identity_order(n);
  const bool parallel = distribution::detail::active() != nullptr;
  Tensor result;
  for (int64_t step = 0; step < steps; ++step) {
    const int64_t begin = step * options.batch_size;
    const int64_t end = std::min(n, begin + options.batch_size);
    // Data-parallel: each process predicts its shard of the batch, then all gather the batch.
    const distribution::detail::Rows rows = parallel ? distribution::detail::shard(end - begin)
                                                     : distribution::detail::Rows{0, end - begin};
    const bool sharded = rows.count() < end - begin;
    const std::vector<Tensor> xb = gather_all(x.tensors, order, begin + rows.begin, begin + rows.end);
    const DenormalsFlushed flushed;
    Tensor out = (xb.size() == 1 ? call_all(xb[0], {.training = false}) : call_all(xb, {.training = false})).at(0);
    if (sharded) out = distribution::detail::gather_rows(out, end - begin);
    if (!result.defined()) {
      Shape shape = out.shape();
      shape[0] = n;
      result = Tensor::empty(shape);
    }
    const int64_t row = out.size() / (end - begin);
    std::memcpy(result.mutable_data() + begin * row, out.data(), sizeof(float) * out.size());
    bar.update(step + 1, {}, step + 1 == steps);
  }
  return result;
}

Logs Model::train_on_batch(const ModelInputs& x, const Tensor& y) {
  check_compiled("train_on_batch");
  sample_count(x.tensors, y, "train_on_batch");
  Training& t = *training_;
  t.loss_tracker.reset_state();
  for (const auto& m : t.metrics) m->reset_state();
  run_batch(x.tensors, y, /*training=*/true, "train_on_batch");
  return current_logs(t.loss_tracker, t.metrics);
}

Logs Model::test_on_batch(const ModelInputs& x, const Tensor& y) {
  check_compiled("test_on_batch");
  sample_count(x.tensors, y, "test_on_batch");
  Training& t = *training_;
  t.loss_tracker.reset_state();
  for (const auto& m : t.metrics) m->reset_state();
  run_batch(x.tensors, y, /*training=*/false, "test_on_batch");
  return current_logs(t.loss_tracker, t.metrics);
}

}  // namespace minidl
