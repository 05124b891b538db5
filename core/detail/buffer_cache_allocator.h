#pragma once
// Private to core/: a standard allocator over the per-thread buffer cache (buffer_cache.h), for
// std::allocate_shared of the objects every op makes — a tensor's TensorImpl and its Storage,
// each with its shared_ptr control block. Through malloc they were two of the ~230 heap
// allocations of bench/autograd_bench's 32-32-1 step per tensor: a step frees its tensors
// together, more of one size than glibc's per-thread cache (seven a size) holds, so most frees
// took glibc's slow path.
#include <cstddef>
#include <new>

#include "minidl/core/detail/buffer_cache.h"

namespace minidl::detail {

template <class T>
struct BufferCacheAllocator {
  using value_type = T;

  BufferCacheAllocator() = default;
  template <class U>
  BufferCacheAllocator(const BufferCacheAllocator<U>& /*other*/) noexcept {}  // NOLINT: rebinding

  T* allocate(size_t n) {
    void* block = acquire_buffer(n * sizeof(T));
    if (block == nullptr) throw std::bad_alloc();
    return static_cast<T*>(block);
  }
  void deallocate(T* block, size_t n) noexcept { release_buffer(block, n * sizeof(T)); }

  template <class U>
  bool operator==(const BufferCacheAllocator<U>& /*other*/) const noexcept {
    return true;
  }
};

}  // namespace minidl::detail
