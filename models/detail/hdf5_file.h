#pragma once
// libhdf5 plumbing shared by the HDF5 readers and writers of models/: Keras 3 weights files
// (weights_h5.cpp) and Keras 2 whole-model files (legacy_h5.cpp). Internal: not installed.
// Every failure becomes an md::Error whose message starts with the caller's `prefix` (which
// names the file): IOError for a damaged or unreadable file, ValueError for contents that do
// not fit.
#include <hdf5.h>

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "minidl/autograd/variable.h"
#include "minidl/core/tensor.h"
#include "minidl/models/detail/bounded_process.h"

namespace minidl::detail::hdf5 {

// An owned HDF5 identifier, closed with the matching H5?close.
class Id {
 public:
  Id() = default;
  Id(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  ~Id() { reset(); }
  Id(Id&& other) noexcept : id_(std::exchange(other.id_, H5I_INVALID_HID)), close_(other.close_) {}
  Id& operator=(Id&& other) noexcept {
    if (this != &other) {
      reset();
      id_ = std::exchange(other.id_, H5I_INVALID_HID);
      close_ = other.close_;
    }
    return *this;
  }
  Id(const Id&) = delete;
  Id& operator=(const Id&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  void reset() {
    if (id_ >= 0 && close_) close_(id_);
    id_ = H5I_INVALID_HID;
  }

 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

enum class Found { yes, no };

struct Pending {
  Variable variable;
  Tensor value;
};

// ---- reading in a bounded child process (issue 18) ----------------------------------------------
// Every reader of models/ opens HDF5 files in a child process (detail::run_bounded) under the
// limits of md::set_hdf5_read_limits (models/weights_h5.h): libhdf5 1.10 can loop or over-allocate
// on a damaged file, and only a process can be stopped from outside.

// The lock every libhdf5 user in minidl holds: libhdf5 (Debian's build) is not thread-safe, and
// a fork must not copy the process while another thread is inside it.
std::recursive_mutex& library_lock();
// The limits for reading a file of `file_bytes` bytes: what set_hdf5_read_limits set, else the
// environment (MINIDL_HDF5_READ_SECONDS, MINIDL_HDF5_READ_MEMORY_MB), else 20 s plus 1 s per
// 64 MiB, and 256 MiB plus 4 times the file size (at most read_allocation_cap() + 256 MiB).
ProcessLimits read_limits(uint64_t file_bytes);
// run_bounded with read_limits(file_bytes), the library lock, and in-process mode when asked for;
// `child` runs with libhdf5's error printing silenced (silence_errors).
void bounded_read(const std::string& prefix, uint64_t file_bytes, const std::function<void(ChildWriter&)>& child,
                  const std::function<void(ParentReader&)>& parent);
// The size of the file at `path`, 0 when it cannot be read (open_file then says why).
uint64_t file_size(const std::string& path);

// The values read for `pending` sent by the child: each as its variable's position in
// `candidates` (the same list in both processes) and its float32 values.
void send_pending(ChildWriter& out, const std::vector<Pending>& pending, const std::vector<Variable>& candidates);
std::vector<Pending> receive_pending(ParentReader& in, const std::vector<Variable>& candidates);

// HDF5 prints its error stack to stderr by default; minidl turns failures into exceptions
// instead. Printing stays off for the thread afterwards: HDF5 1.10 keeps some state alive
// after failing on a damaged file, and with printing back on it reports that state at exit as
// "HDF5: infinite loop closing library".
void silence_errors();
// The most specific messages of the current thread's HDF5 error stack (the innermost frames
// say what is actually wrong, e.g. "truncated file: eof = 96, ..."), or "" when it is empty.
std::string hdf5_reason();
// Failures of HDF5 calls on an open file: the file is damaged or unreadable (IOError), or
// libhdf5 could not allocate what it asked for (AllocationFailed, a MemoryError).
[[noreturn]] void fail_io(const std::string& prefix, const std::string& what);
// `id` owned, or fail_io(prefix, what) when the call that made it failed.
Id checked(hid_t id, herr_t (*close)(hid_t), const std::string& prefix, const std::string& what);
void check(herr_t status, const std::string& prefix, const std::string& what);

// KerasVariable.__repr__ without the values.
std::string variable_repr(const Variable& v);
// What a dataset holds, in NumPy's words ("float32", "int64"); h5py marks bfloat16 data with a
// "dtype" attribute (H5IOStore.__setitem__).
std::string dataset_dtype_name(hid_t dataset, hid_t type);

// Opens group or dataset `name` inside `parent` as Keras's safe_get_h5_group/_dataset do: only
// hard links (soft and external links are refused), of the expected kind. Found::no when the
// link does not exist.
Found open_child(hid_t parent, const std::string& name, H5I_type_t kind, const std::string& full_path, Id& out,
                 const std::string& prefix);
// Opens "a/b/vars" below `parent` component by component; on a missing component, returns
// Found::no and the path up to it in `missing`.
Found open_group_path(hid_t parent, const std::string& path, Id& out, std::string& missing, const std::string& prefix);
// Reads dataset `key` of `group` for `variable` into `pending` (dtype and shape checked), or
// returns why it does not fit. `group_path` is for messages.
std::optional<std::string> read_variable(hid_t group, const std::string& group_path, const std::string& key,
                                         const Variable& variable, std::vector<Pending>& pending,
                                         const std::string& prefix);
// A numeric dataset (integers converted) as a float32 tensor of its shape.
Tensor read_tensor(hid_t parent, const std::string& path, const std::string& prefix);

// IOError unless `path` names an existing file (not a directory).
void check_readable(const std::string& path, const std::string& prefix);
// Opens an existing file read-only.
Id open_file(const std::string& path, const std::string& prefix);

// A scalar string attribute, fixed or variable length (h5py writes str as variable-length
// UTF-8); nullopt when it is absent or not a string.
std::optional<std::string> string_attribute(hid_t object, const char* attr_name);
// A list of strings stored as Keras 2's save_attributes_to_hdf5_group does: a 1-d string
// array attribute `name` (an empty list is an empty float64 array), or, for lists too large for
// one object header, the chunks `name0`, `name1`, ... joined. nullopt when there is neither;
// ValueError naming the attribute when it holds something else.
std::optional<std::vector<std::string>> string_list_attribute(hid_t object, const std::string& name,
                                                              const std::string& where, const std::string& prefix);

}  // namespace minidl::detail::hdf5
