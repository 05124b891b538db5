#pragma once
// What reading a file may allocate. Every reader of a file or config a user can hand minidl
// counts the tensors (and its own raw buffers) it allocates against one cap: md::load_model,
// md::model_from_config, md::load_config, md::load_weights, md::list_weights_file,
// md::read_hdf5_dataset and the IDX readers of datasets/. A damaged or hostile file that asks
// for more (a Dense layer of 2^40 units, a dataset header of 2^62 elements) gets a MemoryError
// naming the file and the cap before anything that large is allocated. A model's weights count
// once for their initial values and once for the values read, so the default cap of 16 GiB
// loads models of up to about 8 GiB; raise it for larger ones:
//   #include <minidl/core/read_limits.h>
//   md::set_read_allocation_cap(int64_t{64} << 30);
// Not included by minidl.h (kept out of every translation unit that includes tensors).
#include <cstdint>
#include <string>

namespace minidl {

inline constexpr int64_t kDefaultReadAllocationCap = int64_t{16} << 30;
// Process-wide, read at each allocation. ValueError unless bytes > 0.
void set_read_allocation_cap(int64_t bytes);
int64_t read_allocation_cap();

namespace detail {
// While one lives, the tensors this thread allocates count against read_allocation_cap(); one
// that would pass it raises MemoryError naming `what` (e.g. "the model file 'x.keras'"). A scope
// inside another (load_model building from the archive's config) adds to the outer one's count.
class ReadAllocationScope {
 public:
  explicit ReadAllocationScope(const std::string& what);
  ~ReadAllocationScope();
  ReadAllocationScope(const ReadAllocationScope&) = delete;
  ReadAllocationScope& operator=(const ReadAllocationScope&) = delete;
};
// Counts a reader's own buffer of `count` elements of `element_bytes` (not a tensor: a dataset's
// raw values, an IDX payload) against the current scope, before allocating it; nothing outside a
// scope. A product past 2^64 counts as 2^64.
void charge_read_allocation(uint64_t count, uint64_t element_bytes = 1);
}  // namespace detail

}  // namespace minidl
