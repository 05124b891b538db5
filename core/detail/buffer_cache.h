#pragma once
// Private to core/: where Storage gets its 64-byte aligned blocks. Small blocks that a thread
// frees wait in that thread's cache and are handed out again, because glibc has no fast path
// for aligned allocations: every aligned_alloc carves a larger chunk and every free merges it
// back, about 1,900 instructions a pair, and a small training step allocates ~30 buffers
// (callgrind on bench/autograd_bench, 32-32-1 MLP: 12% of the step, plus malloc_consolidate).
#include <cstddef>

namespace minidl::detail {

// A 64-byte aligned block of at least `bytes` bytes (> 0), or nullptr when the system has none.
void* acquire_buffer(size_t bytes);
// Takes back a block from acquire_buffer(bytes), on any thread.
void release_buffer(void* block, size_t bytes);

}  // namespace minidl::detail
