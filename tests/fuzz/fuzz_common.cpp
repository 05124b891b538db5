#include "fuzz_common.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <vector>

namespace fuzz {

void setup() {
  static const bool done = [] {
    md::set_read_allocation_cap(kReadCapBytes);
    md::set_hdf5_read_limits({.seconds = kHdf5ReadSeconds, .memory_bytes = kHdf5ReadMemoryBytes});
    return true;
  }();
  (void)done;
}

bool verbose() {
  static const bool on = std::getenv("MINIDL_FUZZ_VERBOSE") != nullptr;
  return on;
}

void report(const md::Error& e) {
  // The end of the message says what went wrong (the start quotes the config).
  const std::string message = e.what();
  std::fprintf(stderr, "md::Error: ...%s\n", message.substr(message.size() > 300 ? message.size() - 300 : 0).c_str());
}

std::string scratch_file(const uint8_t* data, size_t size, const std::string& name) {
  // One directory per process (libFuzzer's -jobs/-fork run several), removed at exit. Never
  // destroyed: the exit handler runs after static destructors registered before it.
  static const std::string* dir = [] {
    auto* base = new std::string((std::filesystem::temp_directory_path() / "minidl-fuzz-XXXXXX").string());
    if (::mkdtemp(base->data()) == nullptr) std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*dir, ec);
    });
    return base;
  }();
  const std::string path = *dir + "/" + name;
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) std::abort();
  for (size_t done = 0; done < size;) {
    const ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  ::close(fd);
  return path;
}

void run_once(md::Model& model) {
  constexpr int64_t kMaxInputElements = 4096;
  std::vector<md::Tensor> xs;
  int64_t total = 0;
  for (const md::Tensor& input : model.graph_inputs()) {
    md::Shape shape = input.shape();
    for (int64_t& d : shape) d = d < 0 ? 2 : d;
    if (!shape.empty()) shape[0] = 2;
    int64_t n = 1;
    for (int64_t d : shape) {
      if (d > kMaxInputElements) return;
      n *= d;
      if (n > kMaxInputElements) return;
    }
    total += n;
    if (total > kMaxInputElements) return;
    xs.push_back(md::Tensor::zeros(shape, input.dtype()));
  }
  if (xs.empty()) return;
  const md::detail::ReadAllocationScope scope("the fuzzed model's outputs");
  if (xs.size() == 1) {
    model.call_all(xs[0]);
  } else {
    model.call_all(xs);
  }
}

std::string data_file(const std::string& relative) { return std::string(MINIDL_TEST_DATA_DIR) + "/" + relative; }

}  // namespace fuzz
