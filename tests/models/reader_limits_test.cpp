// The readers' contract under hostile input (issue 18): only md::Errors leave them, and what a
// file or config asks them to allocate is capped (md::set_read_allocation_cap). Each fuzzing
// finding of tests/fuzz has its input in tests/fuzz/regressions/<target>/ (replayed by CTest's
// "fuzz: ..." tests) and, where the message matters, a test here.
#include <minidl/core/read_limits.h>
#include <minidl/minidl.h>

#include <catch2/catch.hpp>

#include "models/model_test_helpers.h"

namespace {
namespace rl {

// Sets the read allocation cap for one test and puts the previous one back.
class CapGuard {
 public:
  explicit CapGuard(int64_t bytes) : previous_(md::read_allocation_cap()) { md::set_read_allocation_cap(bytes); }
  ~CapGuard() { md::set_read_allocation_cap(previous_); }
  CapGuard(const CapGuard&) = delete;
  CapGuard& operator=(const CapGuard&) = delete;

 private:
  int64_t previous_;
};

// The config of Input(16) -> Dense(units) as md::serialize writes it.
md::json dense_config(int64_t units) {
  const md::Tensor x = md::Input({16}, "x");
  md::json config = md::serialize(md::Model(x, md::layers::Dense({.units = 4, .name = "dense"})(x), "m"));
  for (auto& layer : config["config"]["layers"]) {
    if (layer["class_name"] == "Dense") layer["config"]["units"] = units;
  }
  return config;
}

}  // namespace rl
}  // namespace

TEST_CASE("read allocation cap: a config asking for more is a MemoryError naming the cap", "[models][fuzz]") {
  CHECK(md::read_allocation_cap() == md::kDefaultReadAllocationCap);
  // 2^40 units: a 64 TiB kernel. Before the cap the allocation itself was attempted.
  const std::string huge = mt::error_message([] { md::model_from_config(rl::dense_config(int64_t{1} << 40)); });
  CHECK_THAT(huge, Catch::Contains("Reading a model config would allocate more than the read allocation cap of "
                                   "17179869184 bytes (16.0 GiB)"));
  CHECK_THROWS_AS(md::model_from_config(rl::dense_config(int64_t{1} << 40)), md::Error);

  const rl::CapGuard cap(int64_t{1} << 20);
  // 16 x 32768 floats = 2 MiB > 1 MiB; 16 x 1024 fits.
  CHECK_THROWS_WITH(md::model_from_config(rl::dense_config(32768)),
                    Catch::Contains("read allocation cap of 1048576 bytes (0.0 GiB)") &&
                        Catch::Contains("md::set_read_allocation_cap raises it"));
  CHECK(md::model_from_config(rl::dense_config(1024)).count_params() == 16 * 1024 + 1024);
  // Outside a reader nothing is capped.
  CHECK(md::Tensor::zeros({1024, 1024}).size() == 1024 * 1024);
  CHECK_THROWS_AS(md::set_read_allocation_cap(0), md::ValueError);
}

TEST_CASE("read allocation cap: load_model and load_config name the file", "[models][fuzz]") {
  mt::TempDir dir;
  const std::string path = dir.file("wide.json");
  mt::write_text(path, rl::dense_config(int64_t{1} << 40).dump());
  CHECK_THROWS_WITH(md::load_config(path), Catch::Contains("Reading the model config '" + path + "' would allocate"));
  CHECK_THROWS_AS(md::load_config(path), md::Error);
}
