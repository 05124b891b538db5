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

// Finding (tests/fuzz/regressions/keras3_config/conv2d_build_config_rank0.json): a Conv2D whose
// build_config says input_shape [] read the channels past the end of the shape (a segfault).
TEST_CASE("fuzz finding: a build_config of the wrong rank is a ValueError, not a read past the shape",
          "[models][fuzz]") {
  md::Sequential model({md::Input({6, 6, 2}), md::layers::Conv2D({.filters = 2, .kernel_size = {3, 3}, .name = "conv"})});
  md::json config = md::serialize(model);
  for (auto& layer : config["config"]["layers"]) {
    if (layer["class_name"] == "Conv2D") layer["build_config"]["input_shape"] = md::json::array();
  }
  CHECK_THROWS_WITH(md::model_from_config(config),
                    Catch::Contains("Input 0 of layer 'conv' is incompatible with the layer: expected min_ndim=4, "
                                    "found ndim=0. Full shape received: ()"));
  CHECK_THROWS_AS(md::model_from_config(config), md::Error);
}

// Finding (tests/fuzz/regressions/keras3_config/attention_rank0_input.json): an InputLayer with
// batch_shape [] feeding Attention gave std::length_error from its output shape.
TEST_CASE("fuzz finding: Attention on inputs of rank 0 or 1 is a ValueError", "[models][fuzz]") {
  const md::Tensor q = md::Input({4, 8}, "q");
  const md::Tensor v = md::Input({5, 8}, "v");
  const md::Tensor att = md::layers::Attention({.name = "att"})({q, v});
  md::json config = md::serialize(md::Model(std::vector<md::Tensor>{q, v}, std::vector<md::Tensor>{att}, "m"));
  for (auto& layer : config["config"]["layers"]) {
    if (layer["class_name"] == "InputLayer" && layer["name"] == "q") layer["config"]["batch_shape"] = md::json::array();
  }
  CHECK_THROWS_WITH(md::model_from_config(config),
                    Catch::Contains("Attention layer needs inputs with at least 2 dimensions ([batch,] steps, "
                                    "features); received query of shape ()."));
}

// Issue 18's bounded fuzz loop: a mutated `.keras` config raised std::out_of_range
// ("vector::_M_range_check: __n (which is 0) >= this->size() (which is 0)"). Two configs that
// did so: a node whose "args" is empty (Layer::invoke's inputs.at(0) when the layer is not built
// yet; here the call's own check answers first), and an RNN built for
// shape () (RNN::build_weights's shape.at(0)).
TEST_CASE("issue 18: configs that raised std::out_of_range raise md::Errors", "[models][fuzz]") {
  const md::Tensor x = md::Input({5, 3}, "x");
  const md::Tensor h = md::layers::LSTM({.units = 2, .name = "lstm"})(x);
  const md::Tensor y = md::layers::Dense({.units = 1, .name = "dense"})(h);
  const md::json config = md::serialize(md::Model(x, y, "m"));

  md::json no_args = config;
  for (auto& layer : no_args["config"]["layers"]) {
    if (layer["name"] == "dense") layer["inbound_nodes"][0]["args"] = md::json::array();
  }
  CHECK_THROWS_WITH(md::model_from_config(no_args), Catch::Contains("no input tensor"));

  md::json rank0 = config;
  for (auto& layer : rank0["config"]["layers"]) {
    if (layer["name"] == "lstm") layer["build_config"]["input_shape"] = md::json::array();
  }
  CHECK_THROWS_WITH(md::model_from_config(rank0),
                    Catch::Contains("Input 0 of layer 'lstm' is incompatible with the layer: expected"));
  md::json list_of_rank0 = config;
  for (auto& layer : list_of_rank0["config"]["layers"]) {
    if (layer["name"] == "lstm") layer["build_config"]["input_shape"] = md::json::array({md::json::array()});
  }
  CHECK_THROWS_AS(md::model_from_config(list_of_rank0), md::Error);
}
