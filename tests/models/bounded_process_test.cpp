// detail::run_bounded (models/detail/bounded_process.h), the forked child the HDF5 readers run in:
// what the parent makes of each way the child can end. A damaged file that crashes libhdf5 is an
// md::Error; a bug of ours in the child (an exception that is not an md::Error, or a sanitizer
// report in our code) must stay a failure (std::logic_error), not pass for a damaged file.
#include <minidl/minidl.h>
#include <minidl/models/detail/bounded_process.h>

#include <catch2/catch.hpp>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace md = minidl;

namespace {

const md::detail::ProcessLimits kLimits{.seconds = 20, .memory_bytes = int64_t{256} << 20};

// Runs `child` in a bounded child and reads one u64 back.
template <class Child>
uint64_t run_child(Child&& child) {
  uint64_t value = 0;
  md::detail::run_bounded(
      "reading 'x': ", kLimits, nullptr, false, [&](md::detail::ChildWriter& out) { child(out); },
      [&](md::detail::ParentReader& in) { value = in.u64(); });
  return value;
}

}  // namespace

TEST_CASE("bounded process: the child's answer arrives", "[models][hdf5]") {
  CHECK(run_child([](md::detail::ChildWriter& out) { out.u64(42); }) == 42);
}

TEST_CASE("bounded process: an exception that is not an md::Error in the child is a logic_error, not a damaged file",
          "[models][hdf5]") {
  const auto child = [](md::detail::ChildWriter&) { throw std::out_of_range("vector::_M_range_check"); };
  CHECK_THROWS_AS(run_child(child), std::logic_error);
  CHECK_THROWS_WITH(run_child(child), Catch::StartsWith("in the reader process: ") &&
                                          Catch::Contains("vector::_M_range_check"));
}

TEST_CASE("bounded process: a child that dies without an answer is an IOError naming the prefix", "[models][hdf5]") {
  const auto child = [](md::detail::ChildWriter&) { std::abort(); };
  CHECK_THROWS_AS(run_child(child), md::IOError);
  CHECK_THROWS_WITH(run_child(child), Catch::StartsWith("reading 'x': the process that reads it with libhdf5 was "
                                                        "killed by signal 6"));
}

#if defined(__SANITIZE_ADDRESS__)
// Under AddressSanitizer (CI's asan preset) the child's report ends it through the sanitizer's
// death callback: a bad access in our code must reach the parent as a failure, where before it
// read as a crash of libhdf5 on a damaged file.
TEST_CASE("bounded process: an AddressSanitizer report in our code in the child is a logic_error", "[models][hdf5]") {
  const auto child = [](md::detail::ChildWriter& out) {
    std::vector<uint64_t> values(4, 7);
    volatile uint64_t* past_the_end = values.data() + values.size();
    out.u64(*past_the_end);
  };
  CHECK_THROWS_AS(run_child(child), std::logic_error);
  CHECK_THROWS_WITH(run_child(child),
                    Catch::Contains("an AddressSanitizer report (heap-buffer-overflow) in minidl's or the program's "
                                    "code; the report is on standard error"));
}
#endif
