#include "minidl/models/detail/bounded_process.h"

#include <dlfcn.h>
#include <link.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <typeinfo>

#include "minidl/core/threading.h"

// Sanitizer runtimes (the asan and fuzz presets) define these; elsewhere they are null. libFuzzer
// registers a death callback that saves the current input as a crash: the child replaces it with
// its own (child_sanitizer_death), which tells a bug of ours from libhdf5's crashes and memory
// limit.
extern "C" void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));
extern "C" int __asan_report_present() __attribute__((weak));
extern "C" const char* __asan_get_report_description() __attribute__((weak));
extern "C" void* __asan_get_report_pc() __attribute__((weak));
// libFuzzer's coverage counters (clang's -fsanitize=fuzzer-no-link: the linker defines the bounds of
// the section in the fuzz preset only). What the child counts would die with it; the child copies
// its counters into memory shared with the parent, which merges them, so that the fuzzers are
// guided by the reader code that runs in the child too.
extern "C" uint8_t __start___sancov_cntrs[] __attribute__((weak));
extern "C" uint8_t __stop___sancov_cntrs[] __attribute__((weak));

namespace minidl::detail {
namespace {
namespace bounded {

constexpr char kData = 'D';
constexpr char kError = 'E';
constexpr char kEnd = 'Z';
constexpr size_t kBufferBytes = size_t{64} << 10;

// Error kinds of the frames: md::Error's classes, most derived first.
uint8_t error_kind(const Error& e) {
  if (dynamic_cast<const ShapeError*>(&e)) return 2;
  if (dynamic_cast<const ValueError*>(&e)) return 1;
  if (dynamic_cast<const TypeError*>(&e)) return 3;
  if (dynamic_cast<const IndexError*>(&e)) return 4;
  if (dynamic_cast<const NotImplementedError*>(&e)) return 5;
  if (dynamic_cast<const AttributeError*>(&e)) return 6;
  if (dynamic_cast<const IOError*>(&e)) return 7;
  if (dynamic_cast<const MemoryError*>(&e)) return 8;
  if (dynamic_cast<const FloatingPointError*>(&e)) return 9;
  return 0;
}

[[noreturn]] void rethrow_kind(uint8_t kind, const std::string& message) {
  switch (kind) {
    case 1: throw ValueError(message);
    case 2: throw ShapeError(message);
    case 3: throw TypeError(message);
    case 4: throw IndexError(message);
    case 5: throw NotImplementedError(message);
    case 6: throw AttributeError(message);
    case 7: throw IOError(message);
    case 8: throw MemoryError(message);
    case 9: throw FloatingPointError(message);
    default: throw Error(message);
  }
}

double mib(int64_t bytes) { return static_cast<double>(bytes) / (1 << 20); }

// The fuzz preset's coverage counters, shared with one child (see the declarations above); a
// no-op in every other build. Made before the fork, merged and unmapped by the parent after the
// child is reaped.
class SharedCoverage {
 public:
  SharedCoverage() {
    const uint8_t* start = __start___sancov_cntrs;
    const uint8_t* stop = __stop___sancov_cntrs;
    if (start == nullptr || stop <= start) return;
    size_ = static_cast<size_t>(stop - start);
    void* shared = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (shared == MAP_FAILED) {
      size_ = 0;
      return;
    }
    shared_ = static_cast<uint8_t*>(shared);
  }
  ~SharedCoverage() {
    if (shared_ == nullptr) return;
    // The child's counters include the parent's counts up to the fork: the larger of the two is
    // every path either process took.
    for (size_t i = 0; i < size_; ++i) __start___sancov_cntrs[i] = std::max(__start___sancov_cntrs[i], shared_[i]);
    ::munmap(shared_, size_);
  }
  SharedCoverage(const SharedCoverage&) = delete;
  SharedCoverage& operator=(const SharedCoverage&) = delete;
  // The child's end: no allocation (it also runs in the sanitizer's death callback).
  void save() const {
    if (shared_ != nullptr) std::memcpy(shared_, __start___sancov_cntrs, size_);
  }

 private:
  uint8_t* shared_ = nullptr;
  size_t size_ = 0;
};

// What the child's death callback needs: the child is one thread after the fork.
struct ChildState {
  ChildWriter* writer = nullptr;
  const SharedCoverage* coverage = nullptr;
  bool ubsan_reported = false;
};
ChildState child_state;

// True when `pc` lies in our code: the program (a test, a fuzz target, a user's program) or the
// module that holds minidl (the same one in static builds), not libhdf5 or the system libraries.
bool in_our_code(const void* pc) {
  Dl_info ours{}, theirs{};
  if (::dladdr(reinterpret_cast<const void*>(&in_our_code), &ours) != 0 && ::dladdr(pc, &theirs) != 0 &&
      ours.dli_fbase == theirs.dli_fbase) {
    return true;
  }
  struct Search {
    uintptr_t pc;
    bool found;
  } search{reinterpret_cast<uintptr_t>(pc), false};
  // dl_iterate_phdr visits the program first.
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          const ElfW(Phdr)& segment = info->dlpi_phdr[i];
          const uintptr_t start = info->dlpi_addr + segment.p_vaddr;
          if (segment.p_type == PT_LOAD && s->pc >= start && s->pc < start + segment.p_memsz) s->found = true;
        }
        return 1;
      },
      &search);
  return search.found;
}

// A sanitizer report ends the child (ASan's or UBSan's Die). The report is on standard error; the
// parent is told what kind of death it was:
//  - any UBSan report (only our build is instrumented), or an ASan report at an address in our
//    code (in_our_code): a foreign exception, which the parent throws as std::logic_error, so that it
//    is a finding for the fuzzers and a failure for the tests, not a damaged file;
//  - an allocation the memory limit refused ("out-of-memory", "allocation-size-too-big", ...):
//    the limit's md::MemoryError, as when the allocation throws;
//  - an ASan report from inside libhdf5 (not instrumented: a crash that the interceptors or the
//    SEGV handler saw there), or a death with no report (the sanitizer's own mapping failed under
//    the memory limit): nothing, so the parent reports a crash of libhdf5 on a damaged file.
//    ASan gives an address only for bad accesses (overflows, use after free); a report without
//    one (a SEGV, an overlapping memcpy, a double free) cannot be placed and counts as libhdf5's,
//    as every child's report did before this callback: libhdf5 1.10's H5HG_read makes such a
//    memcpy on a damaged legacy .h5 (the legacy_h5 corpus has one).
void child_sanitizer_death() {
  if (child_state.coverage != nullptr) child_state.coverage->save();
  if (child_state.writer == nullptr) return;
  char message[256];
  if (child_state.ubsan_reported) {
    child_state.writer->error_without_allocation(
        kChildForeignException, "an UndefinedBehaviorSanitizer report; the report is on standard error");
    return;
  }
  if (__asan_report_present == nullptr || __asan_report_present() == 0) return;
  const char* description = __asan_get_report_description ? __asan_get_report_description() : nullptr;
  if (description == nullptr) description = "unknown";
  for (const char* limit : {"out-of-memory", "allocation-size-too-big", "calloc-overflow", "reallocarray-overflow",
                            "pvalloc-overflow", "rss-limit-exceeded"}) {
    if (std::strcmp(description, limit) == 0) {
      std::snprintf(message, sizeof message, "AddressSanitizer: %s", description);
      child_state.writer->error_without_allocation(kChildOutOfMemory, message);
      return;
    }
  }
  if (__asan_get_report_pc == nullptr || !in_our_code(__asan_get_report_pc())) return;
  std::snprintf(message, sizeof message,
                "an AddressSanitizer report (%s) in minidl's or the program's code; the report is on standard error", description);
  child_state.writer->error_without_allocation(kChildForeignException, message);
}

// The child's half: limits, then `child`, then _exit. Never returns.
[[noreturn]] void child_main(int out, const ProcessLimits& limits, const SharedCoverage& coverage,
                             const std::function<void(ChildWriter&)>& child) {
  // Only the pipe and the standard streams stay open.
  if (out > 3) ::close_range(3, static_cast<unsigned>(out) - 1, 0);
  ::close_range(static_cast<unsigned>(out) + 1, ~0U, 0);
  // A parent that dies takes the child with it.
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  // The parent's handlers (libFuzzer's crash handlers, a program's SIGINT) are not the child's.
  for (int sig : {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGXCPU, SIGALRM, SIGVTALRM, SIGPROF, SIGINT, SIGTERM,
                  SIGUSR1, SIGUSR2, SIGPIPE, SIGXFSZ, SIGCHLD}) {
    ::signal(sig, SIG_DFL);
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  // The memory limit counts from what the child inherits (a sanitizer's shadow memory reserves
  // terabytes of address space).
  uint64_t pages = 0;
  if (std::FILE* statm = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(statm, "%lu", &pages) != 1) pages = 0;
    std::fclose(statm);
  }
  const rlim_t inherited = static_cast<rlim_t>(pages) * static_cast<rlim_t>(::sysconf(_SC_PAGESIZE));
  const rlimit memory{inherited + static_cast<rlim_t>(limits.memory_bytes),
                      inherited + static_cast<rlim_t>(limits.memory_bytes)};
  ::setrlimit(RLIMIT_AS, &memory);
  // A backstop should the parent be stopped: CPU time past the deadline ends the child too.
  const auto cpu = static_cast<rlim_t>(std::ceil(limits.seconds)) + 1;
  const rlimit cpu_limit{cpu, cpu + 1};
  ::setrlimit(RLIMIT_CPU, &cpu_limit);
  ChildWriter writer(out);
  child_state = {&writer, &coverage, false};
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(child_sanitizer_death);
  try {
    // OpenMP's worker threads do not exist in the child; one thread runs every loop inline.
    set_num_threads(1);
    child(writer);
    writer.done();
  } catch (const AllocationFailed& e) {
    writer.error(kChildOutOfMemory, e.what());
  } catch (const std::bad_alloc&) {
    writer.error(kChildOutOfMemory, "");
  } catch (const MemoryError& e) {
    // Storage's failed allocation (core/storage.cpp, "...: out of memory.") is the child's memory
    // limit at work; the read allocation cap's MemoryError names its cap and passes unchanged.
    const std::string message = e.what();
    writer.error(message.ends_with("out of memory.") ? kChildOutOfMemory : error_kind(e), message);
  } catch (const Error& e) {
    writer.error(error_kind(e), e.what());
  } catch (const std::exception& e) {
    writer.error(kChildForeignException, fmt::format("{}: {}", typeid(e).name(), e.what()));
  } catch (...) {
    writer.error(kChildForeignException, "an exception of unknown type");
  }
  coverage.save();
  ::_exit(0);
}

}  // namespace bounded
}  // namespace
}  // namespace minidl::detail

// UBSan calls it (when defined) as each of its reports begins; nothing else does. Where the
// sanitizer runtime is a shared library (GCC's asan preset) its own empty default may be the one
// bound, and a UBSan report in the child then reads as a crash, as before this hook.
extern "C" void __ubsan_on_report() { minidl::detail::bounded::child_state.ubsan_reported = true; }

namespace minidl::detail {

// ---- ChildWriter --------------------------------------------------------------------------------

ChildWriter::ChildWriter(int fd) : fd_(fd) { buffer_.reserve(bounded::kBufferBytes); }

ChildWriter::ChildWriter(std::string* sink) : sink_(sink) {}

void ChildWriter::u8(uint8_t value) { bytes(&value, 1); }

void ChildWriter::u64(uint64_t value) { bytes(&value, sizeof value); }

void ChildWriter::string(const std::string& text) {
  u64(text.size());
  bytes(text.data(), text.size());
}

void ChildWriter::bytes(const void* data, size_t size) {
  if (buffer_.size() + size <= bounded::kBufferBytes) {
    const auto* p = static_cast<const char*>(data);
    buffer_.insert(buffer_.end(), p, p + size);
    return;
  }
  flush();
  frame(bounded::kData, data, size);
}

void ChildWriter::flush() {
  if (buffer_.empty()) return;
  frame(bounded::kData, buffer_.data(), buffer_.size());
  buffer_.clear();
}

void ChildWriter::error(uint8_t kind, const std::string& message) {
  flush();
  std::string payload(1, static_cast<char>(kind));
  payload += message;
  frame(bounded::kError, payload.data(), payload.size());
}

void ChildWriter::error_without_allocation(uint8_t kind, const char* message) {
  flush();
  char payload[512];
  payload[0] = static_cast<char>(kind);
  const size_t length = std::min(std::strlen(message), sizeof payload - 1);
  std::memcpy(payload + 1, message, length);
  frame(bounded::kError, payload, length + 1);
}

void ChildWriter::done() {
  flush();
  frame(bounded::kEnd, nullptr, 0);
}

void ChildWriter::frame(char tag, const void* data, size_t size) {
  char header[9];
  header[0] = tag;
  const uint64_t length = size;
  std::memcpy(header + 1, &length, sizeof length);
  if (sink_) {
    sink_->append(header, sizeof header);
    sink_->append(static_cast<const char*>(data), size);
    return;
  }
  const auto write_all = [this](const char* p, size_t n) {
    while (n > 0) {
      const ssize_t written = ::write(fd_, p, n);
      if (written < 0 && errno == EINTR) continue;
      // The parent stopped listening (it gave up): nothing left to do.
      if (written <= 0) ::_exit(1);
      p += written;
      n -= static_cast<size_t>(written);
    }
  };
  write_all(header, sizeof header);
  write_all(static_cast<const char*>(data), size);
}

// ---- ParentReader -------------------------------------------------------------------------------

ParentReader::ParentReader(int fd, pid_t child, std::chrono::steady_clock::time_point deadline,
                           const std::string& prefix, const ProcessLimits& limits)
    : fd_(fd), child_(child), deadline_(deadline), prefix_(prefix), limits_(limits), reaped_(false) {}

ParentReader::ParentReader(const std::string& source, const std::string& prefix, const ProcessLimits& limits)
    : source_(&source), prefix_(prefix), limits_(limits) {}

ParentReader::~ParentReader() {
  if (!reaped_) {
    ::kill(child_, SIGKILL);
    reap();
  }
  if (fd_ >= 0) ::close(fd_);
}

int ParentReader::reap() {
  int status = 0;
  pid_t done;
  do {
    done = ::waitpid(child_, &status, 0);
  } while (done < 0 && errno == EINTR);
  reaped_ = true;
  // ECHILD: the program ignores SIGCHLD, and the kernel reaped the child itself.
  return done == child_ ? status : -1;
}

uint8_t ParentReader::u8() {
  uint8_t value;
  bytes(&value, 1);
  return value;
}

uint64_t ParentReader::u64() {
  uint64_t value;
  bytes(&value, sizeof value);
  return value;
}

std::string ParentReader::string(uint64_t max_size) {
  const uint64_t size = u64();
  if (size > max_size) throw IOError(prefix_ + "the reader process sent a malformed answer.");
  std::string out(static_cast<size_t>(size), '\0');
  bytes(out.data(), out.size());
  return out;
}

void ParentReader::bytes(void* out, size_t size) {
  auto* p = static_cast<char*>(out);
  while (size > 0) {
    if (left_in_frame_ == 0) next_frame(false);
    const size_t n = static_cast<size_t>(std::min<uint64_t>(left_in_frame_, size));
    raw(p, n);
    p += n;
    size -= n;
    left_in_frame_ -= n;
  }
}

void ParentReader::finish() {
  if (left_in_frame_ != 0 || next_frame(true)) throw IOError(prefix_ + "the reader process sent a malformed answer.");
  if (!reaped_) reap();
}

bool ParentReader::next_frame(bool end_ok) {
  char header[9];
  raw(header, sizeof header);
  uint64_t length;
  std::memcpy(&length, header + 1, sizeof length);
  switch (header[0]) {
    case bounded::kData:
      left_in_frame_ = length;
      return true;
    case bounded::kEnd:
      if (!end_ok) throw IOError(prefix_ + "the reader process sent a malformed answer.");
      return false;
    case bounded::kError: {
      if (length == 0 || length > (uint64_t{1} << 32)) throw IOError(prefix_ + "the reader process sent a malformed answer.");
      std::string payload(static_cast<size_t>(length), '\0');
      raw(payload.data(), payload.size());
      const auto kind = static_cast<uint8_t>(payload[0]);
      std::string message = payload.substr(1);
      if (kind == kChildOutOfMemory) {
        std::string detail = message.starts_with(prefix_) ? message.substr(prefix_.size()) : message;
        throw MemoryError(fmt::format("{}reading it needed more than {:.0f} MiB, the memory limit of the process that "
                                      "reads it{}. A damaged file can ask for any size; for a large file raise the "
                                      "limit (md::set_hdf5_read_limits or MINIDL_HDF5_READ_MEMORY_MB).",
                                      prefix_, bounded::mib(limits_.memory_bytes), detail.empty() ? "" : " (" + detail + ")"));
      }
      if (kind == kChildForeignException) throw std::logic_error("in the reader process: " + message);
      bounded::rethrow_kind(kind, message);
    }
    default:
      throw IOError(prefix_ + "the reader process sent a malformed answer.");
  }
}

void ParentReader::raw(void* out, size_t size) {
  auto* p = static_cast<char*>(out);
  if (source_) {
    if (source_->size() - source_at_ < size) throw IOError(prefix_ + "the reader sent a malformed answer.");
    std::memcpy(p, source_->data() + source_at_, size);
    source_at_ += size;
    return;
  }
  while (size > 0) {
    const auto before = std::chrono::steady_clock::now();
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - before);
    if (left.count() <= 0) timed_out();
    pollfd in{fd_, POLLIN, 0};
    const auto wait = std::chrono::milliseconds(std::min<int64_t>(left.count() + 1, 250));
    const int ready = ::poll(&in, 1, static_cast<int>(wait.count()));
    // Waking up far later than asked means this process was stopped (SIGSTOP, a cgroup freezer,
    // a suspended machine; the child with it) or starved of CPU: that time is not the child's.
    const auto overshoot = std::chrono::steady_clock::now() - before - wait;
    if (overshoot > std::chrono::seconds(1)) deadline_ += overshoot;
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) throw IOError(fmt::format("{}cannot read the reader process's answer: {}", prefix_, std::strerror(errno)));
    if (ready == 0) continue;  // the deadline check above decides
    const ssize_t n = ::read(fd_, p, size);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0) throw IOError(fmt::format("{}cannot read the reader process's answer: {}", prefix_, std::strerror(errno)));
    if (n == 0) child_ended();
    p += n;
    size -= static_cast<size_t>(n);
  }
}

void ParentReader::timed_out() {
  ::kill(child_, SIGKILL);
  reap();
  throw IOError(fmt::format("{}reading it took longer than {:g} s, the time limit of the process that reads it "
                            "(libhdf5 was stopped; a damaged file can make it loop). For a large file raise the limit "
                            "(md::set_hdf5_read_limits or MINIDL_HDF5_READ_SECONDS).",
                            prefix_, limits_.seconds));
}

void ParentReader::child_ended() {
  const int status = reap();
  if (status >= 0 && WIFSIGNALED(status) && (WTERMSIG(status) == SIGXCPU || WTERMSIG(status) == SIGKILL)) {
    // RLIMIT_CPU's signals (or the kernel's out-of-memory killer's SIGKILL).
    throw IOError(fmt::format("{}the process that reads it was stopped by {} after using its time or memory limit "
                              "({:g} s, {:.0f} MiB): the file is damaged or larger than the limits allow "
                              "(md::set_hdf5_read_limits).",
                              prefix_, strsignal(WTERMSIG(status)), limits_.seconds, bounded::mib(limits_.memory_bytes)));
  }
  std::string how = "ended without an answer";
  if (status >= 0 && WIFSIGNALED(status)) {
    how = fmt::format("was killed by signal {} ({})", WTERMSIG(status), strsignal(WTERMSIG(status)));
  } else if (status >= 0 && WIFEXITED(status)) {
    how = fmt::format("ended with exit status {} without an answer", WEXITSTATUS(status));
  }
  throw IOError(fmt::format("{}the process that reads it with libhdf5 {}: the file is damaged (libhdf5 crashed on it, "
                            "or it asked for more than the {:.0f} MiB memory limit).",
                            prefix_, how, bounded::mib(limits_.memory_bytes)));
}

// ---- run_bounded --------------------------------------------------------------------------------

void run_bounded(const std::string& prefix, const ProcessLimits& limits, std::recursive_mutex* fork_lock,
                 bool in_process, const std::function<void(ChildWriter&)>& child,
                 const std::function<void(ParentReader&)>& parent) {
  if (in_process) {
    std::string answer;
    {
      std::unique_lock<std::recursive_mutex> lock;
      if (fork_lock) lock = std::unique_lock<std::recursive_mutex>(*fork_lock);
      ChildWriter writer(&answer);
      // Only md::Errors are the reader's to throw here; they propagate as they are.
      child(writer);
      writer.done();
    }
    ParentReader reader(answer, prefix, limits);
    parent(reader);
    reader.finish();
    return;
  }
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    throw IOError(fmt::format("{}cannot start the process that reads it: {}", prefix, std::strerror(errno)));
  }
  // A larger pipe (Linux's default limit for it is 1 MiB) means 16 times fewer switches between
  // the two processes for a large file; the default 64 KiB works too.
  ::fcntl(fds[1], F_SETPIPE_SZ, 1 << 20);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                            std::chrono::duration<double>(limits.seconds));
  // Destroyed after `reader` below, which reaps the child: then the child's counters are final.
  const bounded::SharedCoverage coverage;
  pid_t pid;
  int fork_errno;
  {
    std::unique_lock<std::recursive_mutex> lock;
    if (fork_lock) lock = std::unique_lock<std::recursive_mutex>(*fork_lock);
    pid = ::fork();
    fork_errno = errno;
    if (pid == 0) bounded::child_main(fds[1], limits, coverage, child);
  }
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    throw IOError(fmt::format("{}cannot start the process that reads it: {}", prefix, std::strerror(fork_errno)));
  }
  ParentReader reader(fds[0], pid, deadline, prefix, limits);
  parent(reader);
  reader.finish();
}

}  // namespace minidl::detail
