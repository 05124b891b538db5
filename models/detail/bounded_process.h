#pragma once
// Running a reader in a forked child process under a time and memory limit (issue 18): libhdf5
// 1.10 can loop for minutes or ask malloc for a size read from a damaged file before minidl sees
// any of it, and we cannot patch it. The HDF5 readers of models/ therefore open and read files in
// a child: fork, the child runs `child` (libhdf5 and minidl's checks, one thread, no OpenMP) and
// streams what it read to the parent over a pipe, the parent's `parent` parses it as it arrives.
// The parent turns a child that takes too long (SIGKILL after the deadline), runs out of memory
// (RLIMIT_AS), crashes, or throws, into an md::Error; the child's own md::Errors arrive with
// their class and message unchanged. Internal: not installed.
//   detail::run_bounded(prefix, limits, &lock, false, [&](ChildWriter& out) { out.u64(read_count(file)); },
//                       [&](ParentReader& in) { count = in.u64(); });
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "minidl/core/error.h"

namespace minidl::detail {

struct ProcessLimits {
  double seconds = 20;                   // wall clock, enforced by the parent
  int64_t memory_bytes = int64_t{256} << 20;  // address space the child may add to what it inherits
};

// What the child sends: written to the pipe in frames of at most 64 KiB of buffered small
// values, or straight from the caller's memory for large byte blocks (no extra copy).
class ChildWriter {
 public:
  explicit ChildWriter(int fd);
  // In-process mode (no child): frames go to `sink`, read back by a ParentReader on it.
  explicit ChildWriter(std::string* sink);
  void u8(uint8_t value);
  void u64(uint64_t value);
  void string(const std::string& text);
  void bytes(const void* data, size_t size);
  // Sends what is buffered; the child's end calls it.
  void flush();
  // The child's failure: the frame the parent turns back into the same md::Error.
  void error(uint8_t kind, const std::string& message);
  // The same without allocating (`message` cut at 511 bytes): for a sanitizer's death callback.
  void error_without_allocation(uint8_t kind, const char* message);
  void done();

 private:
  void frame(char tag, const void* data, size_t size);
  int fd_ = -1;
  std::string* sink_ = nullptr;
  std::vector<char> buffer_;
};

// What the parent receives: the child's values in the order they were written. Reading past a
// deadline, a dead child or a child's error frame throws the md::Error that says so.
class ParentReader {
 public:
  ParentReader(int fd, pid_t child, std::chrono::steady_clock::time_point deadline, const std::string& prefix,
               const ProcessLimits& limits);
  // In-process mode: reads what a ChildWriter put in `source`.
  ParentReader(const std::string& source, const std::string& prefix, const ProcessLimits& limits);
  // Kills the child when it is still running (the parent gave up or failed), reaps it, closes
  // the pipe: no zombie, no descriptor left.
  ~ParentReader();
  ParentReader(const ParentReader&) = delete;
  ParentReader& operator=(const ParentReader&) = delete;
  uint8_t u8();
  uint64_t u64();
  // A string the child wrote; longer than `max_size` is a protocol error.
  std::string string(uint64_t max_size = uint64_t{1} << 32);
  void bytes(void* out, size_t size);
  // After the last value: the child's end-of-answer frame (or its error).
  void finish();

 private:
  void raw(void* out, size_t size);
  // Reads the next frame header; throws for error frames and for the end when `end_ok` is false.
  bool next_frame(bool end_ok);
  [[noreturn]] void child_ended();
  [[noreturn]] void timed_out();
  // waitpid, retried on EINTR; the status, or -1 when there is none to read.
  int reap();
  int fd_ = -1;
  pid_t child_ = -1;
  const std::string* source_ = nullptr;
  size_t source_at_ = 0;
  std::chrono::steady_clock::time_point deadline_{};
  const std::string& prefix_;
  const ProcessLimits& limits_;
  uint64_t left_in_frame_ = 0;
  bool reaped_ = true;
};

// Thrown by a reader when its library reports that an allocation failed. In-process it is an
// ordinary MemoryError; from a bounded child the parent reports the child's memory limit.
class AllocationFailed : public MemoryError {
 public:
  using MemoryError::MemoryError;
};

// Error kinds of ChildWriter::error beyond md::Error's own classes: an allocation the child's
// memory limit refused (the parent names the limit).
inline constexpr uint8_t kChildOutOfMemory = 100;
// An exception that is not an md::Error (a bug, as it would be in-process): rethrown in the
// parent as std::logic_error so that it stays a finding for the fuzzers.
inline constexpr uint8_t kChildForeignException = 101;

// Forks; the child runs `child` and exits with _exit (no atexit handlers, no leak check, no
// stdio flush of the parent's buffers), the parent runs `parent` on what it sends, then reaps
// the child. `prefix` starts every error message the parent makes ("Cannot load weights from
// 'x': "). `fork_lock` (when given) is held across the fork and released in the parent right
// after it: the lock of a library the child uses, so that no other thread is inside it when the
// process is copied. The child closes every descriptor but 0, 1, 2 and its pipe, so a child
// forked by another thread meanwhile cannot hold this one's pipe open. With `in_process`, no
// child: `child` runs here (holding `fork_lock`, without limits) into a buffer `parent` reads.
void run_bounded(const std::string& prefix, const ProcessLimits& limits, std::recursive_mutex* fork_lock,
                 bool in_process, const std::function<void(ChildWriter&)>& child,
                 const std::function<void(ParentReader&)>& parent);

}  // namespace minidl::detail
