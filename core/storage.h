#pragma once
// The buffer behind one or more tensors: 64-byte aligned float32 elements, shared by every
// tensor handle (and reshape view) that points at it. Its version counter is bumped by
// in-place writes (Variable::assign) so that a gradient rule can tell its saved input changed.
// Live buffers are counted process-wide; see memory_stats().
//   auto s = std::make_shared<md::Storage>(6);   // 6 uninitialised floats
#include <atomic>
#include <cstdint>

namespace minidl {

class Storage {
 public:
  explicit Storage(int64_t num_elements);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  float* data() { return data_; }
  const float* data() const { return data_; }
  int64_t size() const { return size_; }

  uint64_t version() const { return version_.load(std::memory_order_relaxed); }
  void bump_version() { version_.fetch_add(1, std::memory_order_relaxed); }

 private:
  float* data_ = nullptr;
  int64_t size_ = 0;
  std::atomic<uint64_t> version_{0};
};

// Process-wide counts of tensor buffers, for leak checks and memory reports.
struct MemoryStats {
  int64_t live_buffers = 0;       // Storage objects alive now
  int64_t live_bytes = 0;         // bytes they hold
  int64_t peak_bytes = 0;         // the most live_bytes has been (since reset_peak_memory)
  int64_t total_allocations = 0;  // Storage objects ever created
};

MemoryStats memory_stats();
void reset_peak_memory();

}  // namespace minidl
