// libFuzzer target: a whole `.keras` archive (zip of metadata.json, config.json,
// model.weights.h5) through md::load_model, then one call of the loaded model. Seeds:
// tests/fuzz/corpus/keras_archive.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::only_md_errors([&] {
    md::Model model = md::load_model(fuzz::scratch_file(data, size, "model.keras"));
    fuzz::run_once(model);
  });
  return 0;
}
