#pragma once
// Seeded random tensors. The numbers come from a counter-based generator (Philox-4x32-10):
// element i depends only on (seed, i), so a seed gives the same tensor on every machine, at
// every thread count, however the work is split.
//   md::Tensor r = md::random::normal({2, 3}, /*mean=*/0.0f, /*stddev=*/1.0f, /*seed=*/42);
//   md::Tensor u = md::random::uniform({2, 3}, /*minval=*/-1.0f, /*maxval=*/1.0f, /*seed=*/7);
#include <cstdint>
#include <optional>

#include "minidl/core/tensor.h"

namespace minidl::random {

// Normal(mean, stddev) samples (Box-Muller on Philox uniforms).
Tensor normal(const Shape& shape, float mean, float stddev, uint64_t seed);

// Uniform samples in [minval, maxval).
Tensor uniform(const Shape& shape, float minval, float maxval, uint64_t seed);

// Normal samples redrawn until they lie within two standard deviations of the mean, as
// Keras's TruncatedNormal initializer does.
Tensor truncated_normal(const Shape& shape, float mean, float stddev, uint64_t seed);

// Inverted-dropout multipliers: each entry is 0 with probability `rate`, else 1 / (1 - rate).
Tensor dropout_mask(const Shape& shape, float rate, uint64_t seed);

// Data-parallel training (md::distribution) runs each process on rows [row_begin, row_begin +
// rows) of a global batch. While a BatchShard is alive on this thread, a dropout mask whose first
// axis has `rows` entries is drawn as those rows of the whole batch's mask, so the processes
// together drop exactly what one process would have dropped.
//   { md::random::BatchShard shard(/*row_begin=*/8, /*rows=*/8); model(x_rows_8_to_16); }
class BatchShard {
 public:
  BatchShard(int64_t row_begin, int64_t rows);
  ~BatchShard();
  BatchShard(const BatchShard&) = delete;
  BatchShard& operator=(const BatchShard&) = delete;

 private:
  int64_t previous_begin_, previous_rows_;
};

// fit() runs each training batch inside a TrainingStep naming it (epoch * steps per epoch + step).
// While one is alive on this thread, SeedGenerator::next() draws from (its seed, that step, its
// draws so far in that step) instead of its running counter: the Dropout masks of a batch then
// depend on the batch alone, not on how many batches this process ran before, so a run resumed
// at epoch k (BackupAndRestore, a `.keras` checkpoint) draws the masks the uninterrupted run drew.
//   { md::random::TrainingStep step(epoch * steps + s); model.train_on_batch(x, y); }
class TrainingStep {
 public:
  explicit TrainingStep(uint64_t step);
  ~TrainingStep();
  TrainingStep(const TrainingStep&) = delete;
  TrainingStep& operator=(const TrainingStep&) = delete;

 private:
  bool previous_active_;
  uint64_t previous_step_;
};

// Seeds every later unseeded SeedGenerator (Keras's keras.utils.set_random_seed).
void set_global_seed(uint64_t seed);

// A stream of seeds, as Keras's SeedGenerator: each next() gives a new seed, and the whole
// sequence is fixed by the starting seed. Without a seed it starts from the global one (see
// set_global_seed), or from the system's entropy source if none was set.
//   md::random::SeedGenerator gen(1337);
//   auto mask = md::random::uniform(shape, 0, 1, gen.next());
class SeedGenerator {
 public:
  explicit SeedGenerator(std::optional<uint64_t> seed = std::nullopt);
  uint64_t next();
  uint64_t initial_seed() const { return seed_; }
  uint64_t counter() const { return counter_; }
  void set_counter(uint64_t counter) { counter_ = counter; }

 private:
  uint64_t seed_;
  uint64_t counter_ = 0;
  // Inside a TrainingStep: the step last drawn in and the draws made in it.
  std::optional<uint64_t> step_{};
  uint64_t draws_in_step_ = 0;
};

// The raw generator: 32 random bits for (seed, counter, stream). Exposed for kernels (dropout)
// that draw their own masks in parallel.
uint32_t philox_bits(uint64_t seed, uint64_t counter, uint32_t stream = 0);

}  // namespace minidl::random
