#include "minidl/core/backend/detail/dnnl_context.h"

#include <cblas.h>
#include <omp.h>

#include <bit>
#include <charconv>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace minidl::backend::detail {
namespace {

struct Entry {
  std::unique_ptr<CachedPrimitive> primitive;
  bool used = true;
};

// Entries are keyed by the OpenMP thread count first, then by the caller's key. oneDNN fixes
// some primitives' thread split when it creates them (the brgemm matmul reads
// omp_get_max_threads() then), so a primitive made at 1 thread would stay on 1 thread after
// md::set_num_threads(2) (measured by bench/backend_bench: 1024^3 ran at 1-thread speed).
struct Cache {
  std::mutex mutex;
  std::map<int, std::unordered_map<std::string, Entry>> entries;
  int64_t hits = 0;
  int64_t misses = 0;
};

Cache& cache() {
  static Cache instance;
  return instance;
}

}  // namespace

void ensure_initialized() {
  static const bool initialized = [] {
    // The openmp build of OpenBLAS would also lower OpenMP's thread count here; keep ours.
    const int omp_threads = omp_get_max_threads();
    openblas_set_num_threads(1);
    omp_set_num_threads(omp_threads);
    return true;
  }();
  (void)initialized;
}

dnnl::engine& engine() {
  static dnnl::engine instance(dnnl::engine::kind::cpu, 0);
  return instance;
}

dnnl::stream& stream() {
  static dnnl::stream instance(engine());
  return instance;
}

dnnl::memory::desc dense_desc(const Dims& dims) {
  if (dims.empty()) return dnnl::memory::desc({1}, dnnl::memory::data_type::f32, dnnl::memory::dims{1});
  dnnl::memory::dims strides(dims.size());
  int64_t stride = 1;
  for (size_t i = dims.size(); i-- > 0;) {
    strides[i] = stride;
    stride *= dims[i];
  }
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory::desc strided_desc(const Dims& dims, const Dims& strides) {
  return dnnl::memory::desc(dims, dnnl::memory::data_type::f32, strides);
}

dnnl::memory make_memory(const dnnl::memory::desc& desc, const float* data) {
  return dnnl::memory(desc, engine(), const_cast<float*>(data));
}

const CachedPrimitive* find_primitive(const std::string& key) {
  const int threads = omp_get_max_threads();
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto level = c.entries.find(threads);
  if (level != c.entries.end()) {
    auto it = level->second.find(key);
    if (it != level->second.end()) {
      ++c.hits;
      return it->second.primitive.get();
    }
  }
  ++c.misses;
  return nullptr;
}

const CachedPrimitive& insert_primitive(const std::string& key, const dnnl::primitive_desc_base& pd) {
  const int threads = omp_get_max_threads();  // the count `pd` was created with, on this thread
  auto entry = std::make_unique<CachedPrimitive>();
  entry->impl = pd.impl_info_str();
  entry->primitive = dnnl::primitive(pd.get());
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto [it, inserted] = c.entries[threads].try_emplace(key, Entry{std::move(entry), true});
  return *it->second.primitive;
}

void mark_unused(const std::string& key) {
  const int threads = omp_get_max_threads();
  Cache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  auto level = c.entries.find(threads);
  if (level == c.entries.end()) return;
  auto it = level->second.find(key);
  if (it != level->second.end()) it->second.used = false;
}

KeyBuilder& KeyBuilder::add(std::string_view word) {
  key_ += ' ';
  key_ += word;
  return *this;
}

KeyBuilder& KeyBuilder::add(int64_t value) {
  char buffer[24];
  auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  key_ += ' ';
  key_.append(buffer, result.ptr);
  return *this;
}

KeyBuilder& KeyBuilder::add_float(float value) { return add(static_cast<int64_t>(std::bit_cast<uint32_t>(value))); }

KeyBuilder& KeyBuilder::add(const Dims& dims) {
  key_ += ' ';
  char buffer[24];
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i > 0) key_ += 'x';
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), dims[i]);
    key_.append(buffer, result.ptr);
  }
  if (dims.empty()) key_ += "scalar";
  return *this;
}

int64_t product(const Dims& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

}  // namespace minidl::backend::detail

namespace minidl::backend {

void set_num_threads(int n) {
  detail::ensure_initialized();
  omp_set_num_threads(n < 1 ? 1 : n);
}

int get_num_threads() {
  detail::ensure_initialized();
  return omp_get_max_threads();
}

PrimitiveCacheStats primitive_cache_stats() {
  auto& c = detail::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  int64_t entries = 0;
  for (const auto& level : c.entries) entries += static_cast<int64_t>(level.second.size());
  return {c.hits, c.misses, entries};
}

std::vector<PrimitiveInfo> primitive_cache_entries() {
  auto& c = detail::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  std::vector<PrimitiveInfo> out;
  // A key used at several thread counts is listed once per count.
  for (const auto& level : c.entries)
    for (const auto& [key, entry] : level.second) out.push_back({key, entry.primitive->impl, entry.used});
  return out;
}

void clear_primitive_cache() {
  auto& c = detail::cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  c.entries.clear();
  c.hits = 0;
  c.misses = 0;
}

}  // namespace minidl::backend
