#include "minidl/core/storage.h"

#include <fmt/format.h>

#include <malloc.h>

#include "minidl/core/detail/buffer_cache.h"
#include "minidl/core/error.h"
#include "minidl/core/read_limits.h"

namespace minidl {
namespace {

// Live buffers are counted as made minus freed: one atomic add per buffer and one per free
// (a locked add each, and a buffer is made for every op's output).
std::atomic<int64_t> g_live_bytes{0};
std::atomic<int64_t> g_peak_bytes{0};
std::atomic<int64_t> g_total_allocations{0};
std::atomic<int64_t> g_total_releases{0};

void raise_peak(int64_t live) {
  int64_t peak = g_peak_bytes.load(std::memory_order_relaxed);
  while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live, std::memory_order_relaxed)) {
  }
}

// The read allocation scope of this thread, and the process's cap (core/read_limits.h).
struct ReadBudget {
  uint64_t used = 0;
  std::string what;
};
thread_local ReadBudget t_read_budget;
// How many read scopes this thread is in: apart from the budget, which has a string and so a
// lazily constructed thread_local (a guard check and a call per access), because every buffer
// made asks it (Storage's constructor) and almost always finds no scope. Initial-exec: a plain
// thread-pointer load, not a __tls_get_addr call (four bytes of static TLS: fine for a dlopen too).
[[gnu::tls_model("initial-exec")]] constinit thread_local int t_read_scope_depth = 0;
std::atomic<int64_t> g_read_cap{kDefaultReadAllocationCap};

// glibc serves blocks above 128 KiB with a fresh mmap and unmaps them on free, so a training
// loop that allocates the same activations every step page-faults on all of them again (15% of
// a profiled Fashion-MNIST epoch, and the slow tail of bench/autograd_bench). Keeping blocks of
// up to 32 MiB on the heap lets freed buffers be reused, as a caching allocator would.
bool keep_large_blocks_on_the_heap() {
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
  return true;
}

}  // namespace

Storage::Storage(int64_t num_elements) : size_(num_elements) {
  static const bool heap_tuned = keep_large_blocks_on_the_heap();
  (void)heap_tuned;
  if (num_elements < 0) throw ValueError(fmt::format("Cannot allocate {} elements.", num_elements));
  detail::charge_read_allocation(static_cast<uint64_t>(num_elements), sizeof(float));
  const size_t bytes = static_cast<size_t>(num_elements) * sizeof(float);
  if (bytes > 0) {
    // 2^62 elements and up overflow the byte count; the system refuses far less than that.
    data_ = num_elements < (int64_t{1} << 60) ? static_cast<float*>(detail::acquire_buffer(bytes)) : nullptr;
    if (data_ == nullptr) {
      throw MemoryError(fmt::format("Cannot allocate a tensor of {} elements ({:.1f} GiB): out of memory.",
                                    num_elements, static_cast<double>(num_elements) * sizeof(float) / (1 << 30)));
    }
  }
  raise_peak(g_live_bytes.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed) +
             static_cast<int64_t>(bytes));
  g_total_allocations.fetch_add(1, std::memory_order_relaxed);
}

Storage::~Storage() {
  detail::release_buffer(data_, static_cast<size_t>(size_) * sizeof(float));
  g_total_releases.fetch_add(1, std::memory_order_relaxed);
  g_live_bytes.fetch_sub(size_ * static_cast<int64_t>(sizeof(float)), std::memory_order_relaxed);
}

MemoryStats memory_stats() {
  // Releases first: a buffer made between the two loads is counted live, never one freed twice.
  const int64_t releases = g_total_releases.load();
  const int64_t allocations = g_total_allocations.load();
  return {allocations - releases, g_live_bytes.load(), g_peak_bytes.load(), allocations};
}

void reset_peak_memory() { g_peak_bytes.store(g_live_bytes.load()); }

void set_read_allocation_cap(int64_t bytes) {
  if (bytes <= 0) throw ValueError(fmt::format("The read allocation cap must be positive; received {}.", bytes));
  g_read_cap.store(bytes);
}

int64_t read_allocation_cap() { return g_read_cap.load(); }

namespace detail {

ReadAllocationScope::ReadAllocationScope(const std::string& what) {
  if (t_read_scope_depth++ == 0) {
    t_read_budget.used = 0;
    t_read_budget.what = what;
  }
}

ReadAllocationScope::~ReadAllocationScope() { --t_read_scope_depth; }

void charge_read_allocation(uint64_t count, uint64_t element_bytes) {
  if (t_read_scope_depth == 0) return;
  ReadBudget& budget = t_read_budget;
  uint64_t bytes = 0;
  if (__builtin_mul_overflow(count, element_bytes, &bytes)) bytes = UINT64_MAX;
  const auto cap = static_cast<uint64_t>(g_read_cap.load());
  if (bytes > cap || budget.used > cap - bytes) {
    throw MemoryError(fmt::format(
        "Reading {} would allocate more than the read allocation cap of {} bytes ({:.1f} GiB): {} bytes more after "
        "{} already; a damaged file, or a model larger than the cap (md::set_read_allocation_cap raises it).",
        budget.what, cap, static_cast<double>(cap) / (1 << 30), bytes, budget.used));
  }
  budget.used += bytes;
}

}  // namespace detail

}  // namespace minidl
