#include "minidl/core/detail/buffer_cache.h"

#include <bit>
#include <cstdlib>
#include <vector>

namespace minidl::detail {
namespace {

constexpr size_t kBufferAlignment = 64;

// AddressSanitizer should see every buffer freed, so that it can report a use after free.
#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheBuffers = false;
#else
constexpr bool kCacheBuffers = true;
#endif

// Blocks are cached in power-of-two size classes from 64 bytes to 256 KiB. Above that the work
// done on a buffer dwarfs malloc, and glibc reuses large freed blocks well (Storage's mallopt).
constexpr int kSmallestClassLog2 = 6;
constexpr int kLargestClassLog2 = 18;
constexpr size_t kLargestCachedBytes = size_t{1} << kLargestClassLog2;
constexpr int kClassCount = kLargestClassLog2 - kSmallestClassLog2 + 1;
// At most this many bytes wait in one thread's cache; beyond that, freed blocks go to the system.
constexpr size_t kMaxCachedBytesPerThread = size_t{8} << 20;

int size_class(size_t bytes) {
  constexpr size_t kSmallestBytes = size_t{1} << kSmallestClassLog2;
  return std::bit_width((bytes < kSmallestBytes ? kSmallestBytes : bytes) - 1) - kSmallestClassLog2;
}

size_t class_bytes(int size_class) { return size_t{1} << (size_class + kSmallestClassLog2); }

class ThreadBufferCache;

// This thread's cache, as one constant-initialised thread_local: one TLS lookup per call (in a
// shared library each lookup is a __tls_get_addr call; a lazily constructed thread_local adds
// a guard check and its own lookup). `gone` is set once the cache has been destroyed: tensors
// freed after that (static ones, at exit) free their blocks directly. Initial-exec: the slot is
// then a plain thread-pointer load, not a __tls_get_addr call (two per tensor buffer, two more
// per TensorImpl and Storage block); its 16 bytes of static TLS fit a dlopen too.
struct ThreadCacheSlot {
  ThreadBufferCache* cache = nullptr;
  bool gone = false;
};
[[gnu::tls_model("initial-exec")]] constinit thread_local ThreadCacheSlot t_cache_slot;

class ThreadBufferCache {
 public:
  ThreadBufferCache() = default;
  ThreadBufferCache(const ThreadBufferCache&) = delete;
  ThreadBufferCache& operator=(const ThreadBufferCache&) = delete;
  ~ThreadBufferCache() {
    for (std::vector<void*>& blocks : free_blocks_) {
      for (void* block : blocks) std::free(block);
    }
    t_cache_slot = {nullptr, true};
  }

  void* take(int size_class) {
    std::vector<void*>& blocks = free_blocks_[size_class];
    if (blocks.empty()) return nullptr;
    void* block = blocks.back();
    blocks.pop_back();
    cached_bytes_ -= class_bytes(size_class);
    return block;
  }

  bool keep(void* block, int size_class) {
    const size_t bytes = class_bytes(size_class);
    if (cached_bytes_ + bytes > kMaxCachedBytesPerThread) return false;
    free_blocks_[size_class].push_back(block);
    cached_bytes_ += bytes;
    return true;
  }

 private:
  std::vector<void*> free_blocks_[kClassCount];
  size_t cached_bytes_ = 0;
};

// The cache of this thread (made on first use), or nullptr once it is gone.
ThreadBufferCache* thread_buffer_cache(ThreadCacheSlot& slot) {
  if (slot.cache != nullptr || slot.gone) return slot.cache;
  thread_local ThreadBufferCache cache;
  slot.cache = &cache;
  return slot.cache;
}

void* allocate_aligned(size_t bytes) {
  return std::aligned_alloc(kBufferAlignment, (bytes + kBufferAlignment - 1) / kBufferAlignment * kBufferAlignment);
}

}  // namespace

void* acquire_buffer(size_t bytes) {
  if (!kCacheBuffers || bytes > kLargestCachedBytes) return allocate_aligned(bytes);
  const int cls = size_class(bytes);
  if (ThreadBufferCache* cache = thread_buffer_cache(t_cache_slot)) {
    if (void* block = cache->take(cls)) return block;
  }
  // The whole class size, so that the block can serve any request of its class later.
  return allocate_aligned(class_bytes(cls));
}

void release_buffer(void* block, size_t bytes) {
  if (block == nullptr) return;
  if (kCacheBuffers && bytes <= kLargestCachedBytes) {
    ThreadBufferCache* cache = thread_buffer_cache(t_cache_slot);
    if (cache != nullptr && cache->keep(block, size_class(bytes))) return;
  }
  std::free(block);
}

}  // namespace minidl::detail
