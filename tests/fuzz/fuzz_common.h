#pragma once
// What the libFuzzer targets of tests/fuzz share. Each target hands one kind of file a user can
// give minidl to its reader and keeps the readers' contract: only md::Error subclasses may leave
// a reader; anything else (std::out_of_range, json::exception, a crash, a sanitizer report, an
// allocation past the cap, a hang) is a finding.
//
//   extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
//     fuzz::only_md_errors([&] { md::load_model(fuzz::scratch_file(data, size, "model.keras")); });
//     return 0;
//   }
#include <minidl/core/read_limits.h>
#include <minidl/minidl.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace md = minidl;

namespace fuzz {

// What one input may make a reader allocate (md::set_read_allocation_cap, set on first use),
// well under the -malloc_limit_mb that tests/fuzz/run.sh gives libFuzzer: a reader that
// allocates more than this without checking first is caught as a crash.
inline constexpr int64_t kReadCapBytes = int64_t{64} << 20;
// The limits of the process that reads an HDF5 file (md::set_hdf5_read_limits): well under
// libFuzzer's -timeout (20 s) and -malloc_limit_mb (256), so that libhdf5's own hangs and
// oversized allocations end in md::Errors in the parent instead of findings.
inline constexpr double kHdf5ReadSeconds = 5;
inline constexpr int64_t kHdf5ReadMemoryBytes = int64_t{128} << 20;

// Sets the cap and the HDF5 read limits; idempotent.
void setup();
bool verbose();
void report(const md::Error& e);

// Runs `read`; an md::Error is the reader's documented failure and is swallowed. Anything else
// propagates out of LLVMFuzzerTestOneInput, and std::terminate reports it as a crash.
// MINIDL_FUZZ_VERBOSE=1 prints each md::Error (to see what a seed or a finding does).
template <class F>
void only_md_errors(F&& read) {
  setup();
  try {
    read();
  } catch (const md::Error& e) {
    if (verbose()) report(e);
  }
}

// Writes the input to `name` in this process's scratch directory and returns its path, for the
// readers that take a path (the extension chooses the format: ".keras", ".h5", ...).
std::string scratch_file(const uint8_t* data, size_t size, const std::string& name);

// The input as text.
inline std::string text(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Calls a model that loaded on a batch of two zero samples (unknown dimensions become 2), when
// its inputs are small, under the same allocation cap: a config that loads must also run.
void run_once(md::Model& model);

// A file under tests/data (MINIDL_TEST_DATA_DIR).
std::string data_file(const std::string& relative);

}  // namespace fuzz
