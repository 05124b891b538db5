#include "minidl/core/random.h"

#include <mutex>
#include <random>

#include "minidl/core/backend/backend.h"

namespace minidl::random {
namespace {

std::mutex g_global_seed_mutex;
std::optional<uint64_t> g_global_seed;
uint64_t g_global_seed_draws = 0;

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

uint32_t philox_bits(uint64_t seed, uint64_t counter, uint32_t stream) {
  return backend::philox_bits(seed, counter, stream);
}

Tensor normal(const Shape& shape, float mean, float stddev, uint64_t seed) {
  Tensor out = Tensor::empty(shape);
  backend::fill_normal(out.mutable_data(), out.size(), mean, stddev, seed);
  return out;
}

Tensor uniform(const Shape& shape, float minval, float maxval, uint64_t seed) {
  Tensor out = Tensor::empty(shape);
  backend::fill_uniform(out.mutable_data(), out.size(), minval, maxval, seed);
  return out;
}

Tensor truncated_normal(const Shape& shape, float mean, float stddev, uint64_t seed) {
  Tensor out = Tensor::empty(shape);
  backend::fill_truncated_normal(out.mutable_data(), out.size(), mean, stddev, seed);
  return out;
}

namespace {
// The active BatchShard of this thread (rows 0: none).
thread_local int64_t t_shard_begin = 0;
thread_local int64_t t_shard_rows = 0;
}  // namespace

BatchShard::BatchShard(int64_t row_begin, int64_t rows) : previous_begin_(t_shard_begin), previous_rows_(t_shard_rows) {
  t_shard_begin = row_begin;
  t_shard_rows = rows;
}

BatchShard::~BatchShard() {
  t_shard_begin = previous_begin_;
  t_shard_rows = previous_rows_;
}

Tensor dropout_mask(const Shape& shape, float rate, uint64_t seed) {
  Tensor out = Tensor::empty(shape);
  uint64_t first_counter = 0;
  if (t_shard_rows > 0 && !shape.empty() && shape[0] == t_shard_rows) {
    first_counter = static_cast<uint64_t>(t_shard_begin * (out.size() / t_shard_rows));
  }
  backend::fill_dropout_mask(out.mutable_data(), out.size(), rate, seed, first_counter);
  return out;
}

void set_global_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(g_global_seed_mutex);
  g_global_seed = seed;
  g_global_seed_draws = 0;
}

SeedGenerator::SeedGenerator(std::optional<uint64_t> seed) {
  if (seed) {
    seed_ = *seed;
    return;
  }
  std::lock_guard<std::mutex> lock(g_global_seed_mutex);
  if (g_global_seed) {
    seed_ = splitmix64(*g_global_seed + g_global_seed_draws++);
  } else {
    std::random_device device;
    seed_ = (static_cast<uint64_t>(device()) << 32) ^ device();
  }
}

namespace {
// The TrainingStep of this thread, if any.
thread_local bool t_step_active = false;
thread_local uint64_t t_step = 0;
}  // namespace

TrainingStep::TrainingStep(uint64_t step) : previous_active_(t_step_active), previous_step_(t_step) {
  t_step_active = true;
  t_step = step;
}

TrainingStep::~TrainingStep() {
  t_step_active = previous_active_;
  t_step = previous_step_;
}

uint64_t SeedGenerator::next() {
  if (!t_step_active) return splitmix64(seed_ ^ splitmix64(counter_++));
  if (step_ != t_step) {
    step_ = t_step;
    draws_in_step_ = 0;
  }
  // A separate domain from the running counter's (the odd constant), so that step s's draws are
  // not the counter stream's draws shifted by s.
  return splitmix64(seed_ ^ splitmix64(splitmix64(t_step ^ 0x5851F42D4C957F2Dull) + draws_in_step_++));
}

}  // namespace minidl::random
