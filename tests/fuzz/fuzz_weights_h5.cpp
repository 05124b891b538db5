// libFuzzer target: a Keras 3 `.weights.h5` file (HDF5, read from memory as a `.keras` archive's
// model.weights.h5 is) loaded into one of the fixture models of tests/data/keras/files. The
// first byte chooses the model (byte % kModels) and whether the optimizer's variables are read
// too ((byte / kModels) % 2). Seeds: tests/fuzz/corpus/weights_h5.
#include <minidl/models/detail/weights_image.h>

#include <array>
#include <optional>
#include <vector>

#include "fuzz_common.h"

namespace {

constexpr std::array<const char*, 4> kFixtures = {"sequential", "cnn", "functional_shared", "lstm_relu"};
constexpr size_t kModels = kFixtures.size();

struct Target {
  md::Model model;
  std::vector<md::Variable> optimizer_variables;
};

Target& target(size_t index) {
  static std::array<std::optional<Target>, kModels> targets;
  if (!targets[index]) {
    fuzz::setup();
    md::Model model = md::load_config(fuzz::data_file(std::string("keras/files/") + kFixtures[index] + "/model.json"));
    model.optimizer()->build(model.trainable_variables());
    targets[index] = Target{model, model.optimizer()->variables()};
  }
  return *targets[index];
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  Target& t = target(data[0] % kModels);
  const bool with_optimizer = (data[0] / kModels) % 2 == 1;
  const std::string image = fuzz::text(data + 1, size - 1);
  fuzz::only_md_errors([&] {
    const md::detail::ReadAllocationScope scope("the fuzz input");
    md::detail::weights_file_image_optimizer_count(image, "the fuzz input: ");
    md::detail::load_weights_file_image(t.model, image, with_optimizer ? &t.optimizer_variables : nullptr,
                                        "the fuzz input: ");
  });
  return 0;
}
