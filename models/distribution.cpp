// md::distribution (models/distribution.h) and the data-parallel pieces fit() uses
// (models/detail/data_parallel.h), on the MPI collectives of core/compute.h.
#include "minidl/models/distribution.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <numeric>

#include "minidl/core/compute.h"
#include "minidl/core/error.h"
#include "minidl/models/detail/data_parallel.h"

namespace minidl::distribution {
namespace {

namespace mpi = compute::collectives;

struct State {
  bool initialize_called = false;
  int rank = 0;
  int size = 1;
  std::optional<DataParallel> distribution;
};

State& state() {
  static State s;
  return s;
}

// FNV-1a: a hash that is the same in every process (std::hash need not be).
uint64_t fnv1a(const std::string& text) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

DataParallel::DataParallel(DataParallelOptions options) : options_(options) {
  if (options_.bucket_bytes < static_cast<int64_t>(sizeof(float))) {
    throw ValueError(fmt::format("DataParallel: bucket_bytes must be at least {} (one float); received {}.",
                                 sizeof(float), options_.bucket_bytes));
  }
}

void initialize() {
  State& s = state();
  if (s.initialize_called) {
    throw Error("md::distribution::initialize() was already called in this process; call it once, at the start of "
                "main().");
  }
  if (mpi::initialized()) {
    throw Error("md::distribution::initialize(): MPI was already initialized by other code (MPI_Init). Let "
                "minidl initialize it: call md::distribution::initialize() instead of MPI_Init, before any other "
                "MPI use.");
  }
  s.initialize_called = true;
  if (!mpi::launched()) return;  // a process of its own: nothing to join
  mpi::init();
  s.rank = mpi::rank();
  s.size = mpi::size();
}

int process_id() { return state().rank; }
int num_processes() { return state().size; }

void set_distribution(std::optional<DataParallel> distribution) { state().distribution = distribution; }
std::optional<DataParallel> distribution() { return state().distribution; }

namespace detail {

const DataParallelOptions* active() {
  const State& s = state();
  return s.size > 1 && s.distribution ? &s.distribution->options() : nullptr;
}

bool is_chief() { return state().rank == 0; }

std::vector<int64_t> shard_sizes(int64_t rows) {
  const int64_t p = num_processes();
  std::vector<int64_t> sizes(static_cast<size_t>(p), rows);
  if (rows < p) return sizes;
  for (int64_t r = 0; r < p; ++r) sizes[static_cast<size_t>(r)] = (r + 1) * rows / p - r * rows / p;
  return sizes;
}

Rows shard(int64_t rows) {
  const int64_t p = num_processes(), r = process_id();
  if (rows < p) return {0, rows};
  return {r * rows / p, (r + 1) * rows / p};
}

void check_batch_size(int64_t batch_size, const std::string& where) {
  const int p = num_processes();
  if (batch_size % p == 0) return;
  const int64_t lower = batch_size / p * p, upper = lower + p;
  const std::string multiples = lower > 0 ? fmt::format("{} or {}", lower, upper) : fmt::format("{}", upper);
  throw ValueError(fmt::format("{}: the global batch_size {} does not divide by the {} processes of the job "
                               "(batch_size is the global batch, split evenly across the processes). Use a multiple "
                               "of {} such as {}, or a number of processes that divides {}.",
                               where, batch_size, p, p, multiples, batch_size));
}

void check_same_setup(const std::string& model_description, int64_t samples, const std::string& where) {
  const uint64_t mine[2] = {fnv1a(model_description), static_cast<uint64_t>(samples)};
  const std::vector<uint64_t> all = mpi::allgather(std::span<const uint64_t>(mine, 2));
  std::vector<int> model_differs, data_differs;
  for (int r = 1; r < num_processes(); ++r) {
    if (all[2 * r] != all[0]) model_differs.push_back(r);
    if (all[2 * r + 1] != all[1]) data_differs.push_back(r);
  }
  if (!model_differs.empty()) {
    throw ValueError(fmt::format("{}: the processes disagree on the model: process(es) {} built a model whose "
                                 "config or weight shapes differ from process 0's (config hash {:016x} on process "
                                 "0, {:016x} on process {}). Every process must build the same model.",
                                 where, fmt::join(model_differs, ", "), all[0], all[2 * model_differs[0]],
                                 model_differs[0]));
  }
  if (!data_differs.empty()) {
    std::vector<std::string> counts;
    for (int r = 0; r < num_processes(); ++r) counts.push_back(fmt::format("process {}: {}", r, all[2 * r + 1]));
    throw ValueError(fmt::format("{}: the processes disagree on the data: every process must pass the same "
                                 "training samples (each takes its own shard of every batch); sample counts: {}.",
                                 where, fmt::join(counts, ", ")));
  }
}

void broadcast_variables(const std::vector<Variable>& variables) {
  int64_t total = 0;
  for (const Variable& v : variables) total += v.value().size();
  std::vector<float> flat(static_cast<size_t>(total));
  int64_t at = 0;
  for (const Variable& v : variables) {
    std::memcpy(flat.data() + at, v.value().data(), sizeof(float) * v.value().size());
    at += v.value().size();
  }
  mpi::broadcast(flat, 0);
  if (process_id() == 0) return;
  at = 0;
  for (const Variable& v : variables) {
    Tensor value = Tensor::empty(v.shape(), v.dtype());
    std::memcpy(value.mutable_data(), flat.data() + at, sizeof(float) * value.size());
    v.assign(value);
    at += value.size();
  }
}

uint64_t value_of_process_zero(uint64_t value) { return mpi::allgather(std::span<const uint64_t>(&value, 1))[0]; }

double sum_over_processes(double local) {
  const std::vector<double> all = mpi::allgather(std::span<const double>(&local, 1));
  double sum = 0.0;
  for (double v : all) sum += v;
  return sum;
}

namespace {

// In place: bucket = the sum over processes of every process's bucket.
void sum_bucket(std::vector<float>& bucket, bool deterministic) {
  if (!deterministic) {
    mpi::allreduce_sum(bucket);
    return;
  }
  // Rank order, whatever MPI's reduction algorithm: ((b0 + b1) + b2) + ...
  const std::vector<float> all = mpi::allgather(std::span<const float>(bucket));
  const size_t n = bucket.size();
  std::copy(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(n), bucket.begin());
  for (int r = 1; r < num_processes(); ++r) {
    const float* part = all.data() + static_cast<size_t>(r) * n;
    for (size_t i = 0; i < n; ++i) bucket[i] += part[i];
  }
}

// sum over processes of weight * tensors[i], bucket by bucket, the last tensor first.
std::vector<Tensor> sum_tensors(const std::vector<Tensor>& tensors, float weight, const DataParallelOptions& options) {
  std::vector<Tensor> out(tensors.size());
  const auto cap = std::max<int64_t>(1, options.bucket_bytes / static_cast<int64_t>(sizeof(float)));
  std::vector<float> bucket;
  std::vector<size_t> members;  // indices of the tensors in the bucket, in packing order
  const auto flush = [&] {
    if (members.empty()) return;
    sum_bucket(bucket, options.deterministic);
    size_t at = 0;
    for (size_t i : members) {
      Tensor summed = Tensor::empty(tensors[i].shape(), tensors[i].dtype());
      std::memcpy(summed.mutable_data(), bucket.data() + at, sizeof(float) * summed.size());
      at += static_cast<size_t>(summed.size());
      out[i] = summed;
    }
    bucket.clear();
    members.clear();
  };
  for (size_t k = tensors.size(); k-- > 0;) {
    const Tensor& t = tensors[k];
    if (!t.defined()) continue;
    if (!members.empty() && static_cast<int64_t>(bucket.size()) + t.size() > cap) flush();
    const float* src = t.data();
    for (int64_t i = 0; i < t.size(); ++i) bucket.push_back(weight * src[i]);
    members.push_back(k);
  }
  flush();
  return out;
}

}  // namespace

std::vector<Tensor> sum_gradients(const std::vector<Tensor>& grads, float weight, const DataParallelOptions& options) {
  return sum_tensors(grads, weight, options);
}

void average_variables(const std::vector<Variable>& variables, float weight, const DataParallelOptions& options) {
  std::vector<Tensor> values;
  for (const Variable& v : variables) values.push_back(v.value());
  const std::vector<Tensor> summed = sum_tensors(values, weight, options);
  for (size_t i = 0; i < variables.size(); ++i) variables[i].assign(summed[i]);
}

Tensor gather_rows(const Tensor& local, int64_t global_rows) {
  const int64_t local_rows = local.dim(0);
  const int64_t row = local_rows == 0 ? 0 : local.size() / local_rows;
  std::vector<int64_t> counts = shard_sizes(global_rows);
  for (int64_t& c : counts) c *= row;
  const std::vector<float> all = mpi::allgatherv(std::span<const float>(local.data(), local.size()), counts);
  Shape shape = local.shape();
  shape[0] = global_rows;
  Tensor out = Tensor::empty(shape, local.dtype());
  std::memcpy(out.mutable_data(), all.data(), sizeof(float) * all.size());
  return out;
}

void run_on_every_process(const std::function<void()>& step, const std::string& where) {
  if (active() == nullptr) {  // one process: nobody to tell
    step();
    return;
  }
  std::string error;
  std::exception_ptr exception;
  try {
    step();
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "an exception without a message";
    exception = std::current_exception();
  }
  // Each process's message, as one float per character, gathered in rank order.
  const std::vector<float> mine(error.begin(), error.end());
  const uint64_t length = mine.size();
  const std::vector<uint64_t> lengths = mpi::allgather(std::span<const uint64_t>(&length, 1));
  if (std::all_of(lengths.begin(), lengths.end(), [](uint64_t n) { return n == 0; })) return;  // the usual case
  const std::vector<int64_t> counts(lengths.begin(), lengths.end());
  const std::vector<float> all = mpi::allgatherv(mine, counts);
  std::vector<int> failed;
  std::string first;
  size_t at = 0;
  for (int r = 0; r < num_processes(); ++r) {
    if (lengths[r] > 0) {
      failed.push_back(r);
      if (first.empty()) {
        for (size_t i = 0; i < lengths[r]; ++i) first.push_back(static_cast<char>(all[at + i]));
      }
    }
    at += lengths[r];
  }
  if (failed.empty()) return;
  // The same failure everywhere (bad arguments every process passed): each process's own
  // exception, as one process would have thrown it.
  if (failed.size() == static_cast<size_t>(num_processes())) std::rethrow_exception(exception);
  throw Error(fmt::format("{} failed on process(es) {} of {}; process {}: {}", where, fmt::join(failed, ", "),
                          num_processes(), failed[0], first));
}


}  // namespace detail
}  // namespace minidl::distribution
