// HDF5 files are read in a bounded child process (issue 18, models/detail/bounded_process.h):
// libhdf5's own hang and oversized allocation (tests/fuzz/regressions, findings 8 and 9 of
// docs/RELIABILITY.md) end in md::Errors naming the file and the limit; the child's own
// md::Errors reach the caller unchanged; no zombie, no descriptor and no temporary file is left.
#include <minidl/minidl.h>
#include <minidl/models/detail/weights_image.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "models/model_test_helpers.h"

namespace {
namespace hb {

// Sets the HDF5 read limits for one test and puts the previous ones back.
class LimitsGuard {
 public:
  explicit LimitsGuard(const md::Hdf5ReadLimits& limits) : previous_(md::hdf5_read_limits()) {
    md::set_hdf5_read_limits(limits);
  }
  ~LimitsGuard() { md::set_hdf5_read_limits(previous_); }
  LimitsGuard(const LimitsGuard&) = delete;
  LimitsGuard& operator=(const LimitsGuard&) = delete;

 private:
  md::Hdf5ReadLimits previous_;
};

std::string finding(const std::string& relative) {
  return std::string(MINIDL_TEST_DATA_DIR) + "/../fuzz/regressions/" + relative;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

size_t open_descriptors() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// True when this process has no child left, reaped or not (no zombie).
bool no_children() {
  int status = 0;
  return ::waitpid(-1, &status, WNOHANG) < 0 && errno == ECHILD;
}

template <class F>
double seconds_of(F&& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

md::Model small_model() {
  const md::Tensor x = md::Input({4}, "x");
  const md::Tensor y = md::layers::Dense({.units = 3, .name = "dense"})(x);
  return md::Model(x, y, "m");
}

}  // namespace hb
}  // namespace

// Finding 8: H5Aread of the root's variable-length model_config loops in H5HG_read for minutes.
TEST_CASE("hdf5 bounded: libhdf5's hang on a damaged legacy .h5 is an IOError after the time limit",
          "[models][hdf5][fuzz]") {
  const hb::LimitsGuard limits({.seconds = 2});
  const std::string path = hb::finding("legacy_h5/hdf5_vlen_attribute_hang.h5");
  const size_t fds = hb::open_descriptors();
  // The fuzz input's first byte chose load_model (even); the file is the rest.
  mt::TempDir dir;
  const std::string file = dir.file("hang.h5");
  mt::write_bytes(file, hb::read_all(path).substr(1));
  std::string message;
  const double took = hb::seconds_of([&] { message = mt::error_message([&] { md::load_model(file); }); });
  CHECK_THAT(message, Catch::StartsWith("Cannot load model from '" + file + "': reading it took longer than 2 s, "
                                        "the time limit of the process that reads it"));
  CHECK_THAT(message, Catch::Contains("MINIDL_HDF5_READ_SECONDS"));
  CHECK_THROWS_AS(md::load_model(file), md::IOError);
  // Minutes before; a loose bound, as a frozen or starved test process extends the deadline by
  // the time it lost (ParentReader::raw).
  CHECK(took < 30);
  CHECK(hb::open_descriptors() == fds);
  CHECK(hb::no_children());
}

// Finding 9: H5C_protect mallocs a size read from the damaged file.
TEST_CASE("hdf5 bounded: libhdf5's oversized allocation on a damaged .weights.h5 is a MemoryError naming the limit",
          "[models][hdf5][fuzz]") {
  const std::string input = hb::read_all(hb::finding("weights_h5/hdf5_cache_allocation_too_big"));
  REQUIRE(input.size() > 1);
  // The fuzz input's first byte chose the fixture model (tests/fuzz/fuzz_weights_h5.cpp): 1 is
  // the CNN, without the optimizer.
  REQUIRE(input[0] == 1);
  md::Model model = md::load_config(std::string(MINIDL_TEST_DATA_DIR) + "/keras/files/cnn/model.json");
  const std::vector<md::Tensor> before = model.get_weights();
  const std::string image = input.substr(1);
  const size_t fds = hb::open_descriptors();
  // The fuzz target asks for the optimizer's variable count first (as md::load_model does):
  // opening optimizer/vars makes H5C_load_entry ask malloc for a size from the file (beyond
  // 100 GiB; ASan's allocator refuses sizes above its limit with a crash).
  const std::string message =
      mt::error_message([&] { md::detail::weights_file_image_optimizer_count(image, "the image: "); });
  CHECK_THAT(message, Catch::StartsWith("the image: reading it needed more than 256 MiB, the memory limit of the "
                                        "process that reads it"));
  CHECK_THAT(message, Catch::Contains("MINIDL_HDF5_READ_MEMORY_MB"));
  CHECK_THROWS_AS(md::detail::weights_file_image_optimizer_count(image, "the image: "), md::MemoryError);
#if defined(__SANITIZE_ADDRESS__)
  // ASan's allocator reports the refused size and ends the child instead of returning null; the
  // child's death callback names the report (models/bounded_process.cpp, child_sanitizer_death).
  CHECK_THAT(message, Catch::Contains("(AddressSanitizer: "));
#else
  CHECK_THAT(message, Catch::Contains("(cannot open 'optimizer/vars' (HDF5: memory allocation failed for on disk image buffer; can't load entry))"));
  // The model's own groups are damaged too: an IOError, the weights unchanged.
  CHECK_THROWS_AS(md::detail::load_weights_file_image(model, image, nullptr, "the image: "), md::IOError);
#endif
  CHECK(mt::same_weights(model.get_weights(), before));
  CHECK(hb::open_descriptors() == fds);
  CHECK(hb::no_children());
}

TEST_CASE("hdf5 bounded: the child's md::Errors arrive with their class and message unchanged",
          "[models][hdf5]") {
  mt::TempDir dir;
  md::Model model = hb::small_model();
  const std::string good = dir.file("m.weights.h5");
  md::save_weights(model, good);
  const std::string text = mt::read_text(good);
  const std::string truncated = dir.file("truncated.weights.h5");
  mt::write_bytes(truncated, text.substr(0, text.size() / 2));
  const std::string other = dir.file("other.weights.h5");
  md::save_weights(md::Sequential({md::Input({4}), md::layers::Dense({.units = 5})}), other);
  const std::string not_hdf5 = dir.file("text.weights.h5");
  mt::write_text(not_hdf5, "not an HDF5 file");
  const size_t fds = hb::open_descriptors();
  for (const std::string& path : {truncated, other, not_hdf5}) {
    CAPTURE(path);
    const std::string bounded = mt::error_message([&] { md::load_weights(model, path); });
    std::string in_process;
    {
      const hb::LimitsGuard limits({.in_process = true});
      in_process = mt::error_message([&] { md::load_weights(model, path); });
    }
    CHECK(bounded == in_process);
    CHECK_THAT(bounded, Catch::StartsWith("Cannot load weights from '" + path + "': "));
  }
  CHECK_THROWS_AS(md::load_weights(model, truncated), md::IOError);
  CHECK_THROWS_AS(md::load_weights(model, other), md::ValueError);
  CHECK_THROWS_WITH(md::read_hdf5_dataset(good, "layers/dense/vars/7"), Catch::Contains("is missing"));
  CHECK_THROWS_AS(md::read_hdf5_dataset(good, "layers/dense/vars/7"), md::ValueError);
  CHECK(hb::open_descriptors() == fds);
  CHECK(hb::no_children());
}

TEST_CASE("hdf5 bounded: reading through the child gives what reading in-process gives", "[models][hdf5]") {
  mt::TempDir dir;
  md::Model model = hb::small_model();
  mt::fill_weights(model, 7);
  const std::string path = dir.file("m.weights.h5");
  md::save_weights(model, path);
  md::Model bounded = hb::small_model();
  md::load_weights(bounded, path);
  CHECK(mt::same_weights(bounded.get_weights(), model.get_weights()));
  const auto items = md::list_weights_file(path);
  const md::Tensor kernel = md::read_hdf5_dataset(path, "layers/dense/vars/0");
  {
    const hb::LimitsGuard limits({.in_process = true});
    const auto in_process_items = md::list_weights_file(path);
    REQUIRE(items.size() == in_process_items.size());
    for (size_t i = 0; i < items.size(); ++i) {
      CHECK(items[i].path == in_process_items[i].path);
      CHECK(items[i].kind == in_process_items[i].kind);
      CHECK(items[i].dtype == in_process_items[i].dtype);
      CHECK(items[i].shape == in_process_items[i].shape);
      CHECK(items[i].name == in_process_items[i].name);
    }
    CHECK(mt::same_bits(kernel, md::read_hdf5_dataset(path, "layers/dense/vars/0")));
  }
  CHECK(mt::same_bits(kernel, model.get_weights()[0]));
  // A whole model through a `.keras` archive (two bounded reads: the optimizer count, the values).
  model.compile({.optimizer = "adam", .loss = "mse"});
  const std::string archive = dir.file("m.keras");
  model.save(archive);
  md::Model loaded = md::load_model(archive);
  CHECK(mt::same_weights(loaded.get_weights(), model.get_weights()));
  CHECK(hb::no_children());
}

TEST_CASE("hdf5 bounded: a memory limit too small for the file is a MemoryError naming it", "[models][hdf5]") {
  mt::TempDir dir;
  // A 40 MiB kernel: allocations above glibc's largest mmap threshold (32 MiB) always map new
  // memory, so the child cannot reuse heap the parent freed before the fork.
  const md::Tensor x = md::Input({1024}, "x");
  md::Model model(x, md::layers::Dense({.units = 10240, .name = "dense"})(x), "big");
  const std::string path = dir.file("big.weights.h5");
  md::save_weights(model, path);
  const hb::LimitsGuard limits({.memory_bytes = int64_t{4} << 20});
  // Whichever allocation the limit refuses first (std::vector's, a tensor's, libhdf5's). Under
  // ASan, whose allocator reports the refusal and ends the child instead of returning null, the
  // child's death callback sends the same answer (models/bounded_process.cpp).
  CHECK_THROWS_AS(md::load_weights(model, path), md::MemoryError);
  CHECK_THROWS_WITH(md::load_weights(model, path),
                    Catch::StartsWith("Cannot load weights from '" + path + "': reading it needed more than 4 MiB, "
                                      "the memory limit of the process that reads it"));
  CHECK(hb::no_children());
}

TEST_CASE("hdf5 bounded: limits, their defaults and the environment", "[models][hdf5]") {
  CHECK_THROWS_AS(md::set_hdf5_read_limits({.seconds = -1}), md::ValueError);
  CHECK_THROWS_WITH(md::set_hdf5_read_limits({.memory_bytes = -5}),
                    Catch::Contains("HDF5 read limits must be positive"));
  const md::Hdf5ReadLimits defaults = md::hdf5_read_limits();
  CHECK(defaults.seconds == 0);
  CHECK(defaults.memory_bytes == 0);
  CHECK_FALSE(defaults.in_process);
  // MINIDL_HDF5_READ_SECONDS sets the time limit when the program did not.
  mt::TempDir dir;
  const std::string file = dir.file("hang.h5");
  mt::write_bytes(file, hb::read_all(hb::finding("legacy_h5/hdf5_vlen_attribute_hang.h5")).substr(1));
  ::setenv("MINIDL_HDF5_READ_SECONDS", "1.5", 1);
  const std::string message = mt::error_message([&] { md::load_model(file); });
  ::unsetenv("MINIDL_HDF5_READ_SECONDS");
  CHECK_THAT(message, Catch::Contains("reading it took longer than 1.5 s"));
  // The folder holds only what the test wrote: no temporary files.
  CHECK(std::distance(std::filesystem::directory_iterator(dir.path()), std::filesystem::directory_iterator()) == 1);
}
