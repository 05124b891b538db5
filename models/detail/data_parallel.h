#pragma once
// What fit(), evaluate() and predict() (models/training.cpp) use of md::distribution: the
// shards of a global batch and the collectives between the gradient and the optimizer step.
// Private to models/; implemented in models/distribution.cpp.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "minidl/autograd/variable.h"
#include "minidl/core/tensor.h"
#include "minidl/models/distribution.h"

namespace minidl::distribution::detail {

// The options while training must be split across processes (a DataParallel is set and the
// job has more than one process); null otherwise, and then nothing here is called.
const DataParallelOptions* active();
// Process 0, or a single process: the one that prints, logs and writes files.
bool is_chief();

// This process's rows [begin, end) of a global batch of `rows`: contiguous, in rank order, the
// sizes differing by at most one. A batch with fewer rows than processes is not split: every
// process runs all of it (the same computation, so nothing needs exchanging).
struct Rows {
  int64_t begin = 0, end = 0;
  int64_t count() const { return end - begin; }
};
Rows shard(int64_t rows);
// Every process's row count for a global batch of `rows` (after shard's rule).
std::vector<int64_t> shard_sizes(int64_t rows);

// ValueError unless the global batch size divides by the number of processes.
void check_batch_size(int64_t batch_size, const std::string& where);
// Compares the model's config and weight shapes, and the sample count, across processes;
// ValueError (on every process, so none waits) naming the processes that differ from process 0.
void check_same_setup(const std::string& model_description, int64_t samples, const std::string& where);
// Process 0's values of `variables`, everywhere (one flat broadcast).
void broadcast_variables(const std::vector<Variable>& variables);
// Process 0's `value`, everywhere.
uint64_t value_of_process_zero(uint64_t value);

// The weighted sum over processes of `local` (each process's weight already applied), summed in
// rank order so that every process gets the same bits.
double sum_over_processes(double local);
// sum over processes of weight * grads, in flat buckets (options.bucket_bytes), the last
// gradient first; undefined gradients stay undefined. New tensors: `grads` is not written.
std::vector<Tensor> sum_gradients(const std::vector<Tensor>& grads, float weight, const DataParallelOptions& options);
// Assigns each variable the sum over processes of weight * its value (keeps non-trainable
// state such as BatchNormalization's moving statistics equal everywhere).
void average_variables(const std::vector<Variable>& variables, float weight, const DataParallelOptions& options);
// The global batch's rows of `local` (this process's shard), gathered in rank order.
Tensor gather_rows(const Tensor& local, int64_t global_rows);
// Runs `step` on every process; when it throws on some, every process throws an md::Error that
// names the processes that failed and the first one's message (so that no process waits in a
// collective for one that gave up); when it throws on all, each rethrows its own exception.
// Without data parallelism it just runs `step`.
void run_on_every_process(const std::function<void()>& step, const std::string& where);

}  // namespace minidl::distribution::detail
