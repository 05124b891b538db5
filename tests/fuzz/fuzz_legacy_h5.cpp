// libFuzzer target: tf.keras 2's HDF5 files, chosen by the first byte. Even: a whole-model
// `.h5` (model.save("x.h5")) through md::load_model, then one call of the model. Odd: a weights
// `.h5` (save_weights("x.h5")) through md::load_weights into the two-tower model of
// tests/data/keras/keras2/functional_two_towers.json. Seeds: tests/fuzz/corpus/legacy_h5.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool weights_only = data[0] % 2 == 1;
  fuzz::only_md_errors([&] {
    const std::string path = fuzz::scratch_file(data + 1, size - 1, "model.h5");
    if (weights_only) {
      static md::Model towers = [] {
        fuzz::setup();
        return md::load_config(fuzz::data_file("keras/keras2/functional_two_towers.json"));
      }();
      md::load_weights(towers, path);
    } else {
      md::Model model = md::load_model(path);
      fuzz::run_once(model);
    }
  });
  return 0;
}
