#include "minidl/core/backend/detail/dnnl_context.h"

#include <cblas.h>
#include <omp.h>

#include <array>
#include <atomic>
#include <bit>
#include <charconv>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
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
  std::atomic<int64_t> hits{0};  // also counted by threads' own lookups, outside the mutex
  int64_t misses = 0;
  // Bumped by clear_primitive_cache: threads then drop their ThreadPrimitives, which point
  // into `entries`.
  std::atomic<uint64_t> generation{0};
};

Cache& cache() {
  static Cache instance;
  return instance;
}

// One thread's ThreadPrimitives, keyed like the shared cache: thread count, then key. A
// thread's first lookup of a key goes through the shared cache and its mutex; the later ones
// only touch this thread's map.
struct ThreadEntries {
  uint64_t generation = 0;
  std::vector<std::pair<int, std::unordered_map<std::string, ThreadPrimitive>>> by_threads;

  std::unordered_map<std::string, ThreadPrimitive>& level(int threads) {
    const uint64_t current = cache().generation.load(std::memory_order_acquire);
    if (generation != current) {
      by_threads.clear();
      generation = current;
    }
    for (auto& [count, entries] : by_threads) {
      if (count == threads) return entries;
    }
    return by_threads.emplace_back(threads, std::unordered_map<std::string, ThreadPrimitive>{}).second;
  }
};

ThreadEntries& thread_entries() {
  thread_local ThreadEntries instance;
  return instance;
}

// Arguments per primitive: matmul has three, batch normalization's backward nine.
constexpr size_t kMaxArguments = 9;

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
  // One per thread: threads that compute at once (two models trained in two threads) never
  // share a stream, which oneDNN does not promise to be safe.
  thread_local dnnl::stream instance(engine());
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
      c.hits.fetch_add(1, std::memory_order_relaxed);
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

ThreadPrimitive::ThreadPrimitive(const CachedPrimitive& shared, const std::vector<ArgumentDesc>& arguments)
    : shared_(&shared) {
  if (arguments.size() > kMaxArguments) throw std::logic_error("ThreadPrimitive: too many arguments");
  for (const ArgumentDesc& argument : arguments) {
    ids_.push_back(argument.id);
    memories_.push_back(make_memory(argument.desc, nullptr));
  }
}

void ThreadPrimitive::run(std::initializer_list<const float*> buffers) const {
  if (buffers.size() != ids_.size()) throw std::logic_error("ThreadPrimitive::run: wrong number of buffers");
  std::array<dnnl_exec_arg_t, kMaxArguments> args{};
  size_t i = 0;
  for (const float* buffer : buffers) {
    memories_[i].set_data_handle(const_cast<float*>(buffer));
    args[i] = {ids_[i], memories_[i].get()};
    ++i;
  }
  // The C call takes the arguments as an array; the C++ one wants an unordered_map per call.
  dnnl::error::wrap_c_api(
      dnnl_primitive_execute(shared_->primitive.get(), stream().get(), static_cast<int>(i), args.data()),
      "could not execute a primitive");
  stream().wait();
}

ThreadPrimitive* find_thread_primitive(const std::string& key) {
  auto& entries = thread_entries().level(omp_get_max_threads());
  auto it = entries.find(key);
  if (it == entries.end()) return nullptr;
  cache().hits.fetch_add(1, std::memory_order_relaxed);
  return &it->second;
}

ThreadPrimitive& insert_thread_primitive(const std::string& key, const CachedPrimitive& shared,
                                         const std::vector<ArgumentDesc>& arguments) {
  auto& entries = thread_entries().level(omp_get_max_threads());
  return entries.try_emplace(key, shared, arguments).first->second;
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
  c.generation.fetch_add(1, std::memory_order_release);
}

}  // namespace minidl::backend
