#pragma once
// Private to core/backend: the process's oneDNN engine and stream, and the primitive cache.
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

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

// Builds cache keys such as "binary add 64x256 1x256".
class KeyBuilder {
 public:
  explicit KeyBuilder(std::string_view kind) : key_(kind) {}
  KeyBuilder& add(std::string_view word);
  KeyBuilder& add(int64_t value);
  KeyBuilder& add_float(float value);  // exact: the bit pattern
  KeyBuilder& add(const Dims& dims);
  std::string str() const { return key_; }

 private:
  std::string key_;
};

int64_t product(const Dims& dims);

}  // namespace minidl::backend::detail
