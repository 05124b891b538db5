#pragma once
// Private to core/backend: the process's oneDNN engine and stream, and the primitive cache.
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "minidl/core/backend/backend.h"

namespace minidl::backend::detail {

// Up to this many elements an elementwise, softmax or reduction primitive runs on one thread:
// a 2-thread OpenMP region costs about 3.5 us on the 2-vCPU VM (bench/RESULTS.md), more than
// the whole op below this size, and a small training step runs ~30 of them (32-32-1 MLP step:
// 0.12 ms at 2 threads against 0.05 ms at 1).
inline constexpr int64_t kSingleThreadElements = 1 << 14;

// Lowers the calling thread's OpenMP thread count to one for a scope, when asked.
class OneThreadScope {
 public:
  explicit OneThreadScope(bool active) : saved_(active ? omp_get_max_threads() : 0) {
    if (saved_ > 1) omp_set_num_threads(1);
  }
  ~OneThreadScope() {
    if (saved_ > 1) omp_set_num_threads(saved_);
  }
  OneThreadScope(const OneThreadScope&) = delete;
  OneThreadScope& operator=(const OneThreadScope&) = delete;

 private:
  int saved_;
};

// Pins OpenBLAS to one thread on first use; called by every public entry point.
void ensure_initialized();

dnnl::engine& engine();
dnnl::stream& stream();

// A dense row-major f32 descriptor; a rank-0 shape becomes {1}.
dnnl::memory::desc dense_desc(const Dims& dims);
// A f32 descriptor with explicit strides (elements).
dnnl::memory::desc strided_desc(const Dims& dims, const Dims& strides);

dnnl::memory make_memory(const dnnl::memory::desc& desc, const float* data);

struct CachedPrimitive {
  dnnl::primitive primitive;
  std::string impl;
  bool is_reference() const { return impl.rfind("ref", 0) == 0; }
};

// The entry stored under `key` (counted as a hit), or nullptr (counted as a miss).
const CachedPrimitive* find_primitive(const std::string& key);
// Creates the primitive for `pd` and stores it under `key` with its implementation name.
const CachedPrimitive& insert_primitive(const std::string& key, const dnnl::primitive_desc_base& pd);

// Returns the primitive stored under `key`, creating it from make() (a primitive_desc) on a miss.
template <class MakeDesc>
const CachedPrimitive& cached_primitive(const std::string& key, MakeDesc&& make) {
  if (const CachedPrimitive* hit = find_primitive(key)) return *hit;
  return insert_primitive(key, make());
}

// Marks a cached entry as not used (a ref:* primitive that our own loop replaces).
void mark_unused(const std::string& key);

// One argument of a primitive: its DNNL_ARG_* id and its memory descriptor.
struct ArgumentDesc {
  int id;
  dnnl::memory::desc desc;
};

// A cached primitive as one thread runs it: the shared primitive plus one dnnl::memory per
// argument, made once and re-pointed at each call's buffers. Making the memories (descriptor,
// dnnl_memory_create, an unordered_map of arguments) on every call cost more than a small op
// itself (callgrind, 32-32-1 MLP step of bench/autograd_bench).
class ThreadPrimitive {
 public:
  ThreadPrimitive(const CachedPrimitive& shared, const std::vector<ArgumentDesc>& arguments);
  bool is_reference() const { return shared_->is_reference(); }
  const std::string& impl() const { return shared_->impl; }
  // The memory descriptor of argument i (the layout a primitive created with format_tag::any chose).
  dnnl::memory::desc argument_desc(size_t i) const { return memories_[i].get_desc(); }
  // Runs the primitive on the stream with buffers[i] as argument i (in the order given at
  // creation) and waits for it.
  void run(std::initializer_list<const float*> buffers) const;

 private:
  const CachedPrimitive* shared_;
  std::vector<int> ids_;
  std::vector<dnnl::memory> memories_;
};

// This thread's entry for `key` (counted as a cache hit), or nullptr.
ThreadPrimitive* find_thread_primitive(const std::string& key);
ThreadPrimitive& insert_thread_primitive(const std::string& key, const CachedPrimitive& shared,
                                         const std::vector<ArgumentDesc>& arguments);

// This thread's ThreadPrimitive for `key`. On its first use on a thread it comes from the
// shared cache (created from make_desc() on a miss there) with memories for make_arguments().
template <class MakeDesc, class MakeArguments>
ThreadPrimitive& thread_primitive(const std::string& key, MakeDesc&& make_desc, MakeArguments&& make_arguments) {
  if (ThreadPrimitive* hit = find_thread_primitive(key)) return *hit;
  return insert_thread_primitive(key, cached_primitive(key, make_desc), make_arguments());
}

// Builds cache keys such as "binary add 64x256 1x256".
class KeyBuilder {
 public:
  // Room for a typical key up front: one allocation per key instead of several.
  explicit KeyBuilder(std::string_view kind) {
    key_.reserve(96);
    key_ = kind;
  }
  KeyBuilder& add(std::string_view word);
  KeyBuilder& add(int64_t value);
  KeyBuilder& add_float(float value);  // exact: the bit pattern
  KeyBuilder& add(const Dims& dims);
  // Moves the key out (no copy); the builder is done afterwards.
  std::string str() { return std::move(key_); }

 private:
  std::string key_;
};

int64_t product(const Dims& dims);

}  // namespace minidl::backend::detail
