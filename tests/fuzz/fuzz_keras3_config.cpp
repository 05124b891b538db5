// libFuzzer target: a Keras 3 model config (model.to_json(), a `.keras` archive's config.json),
// as md::load_config reads it: parsed, built (compiled when it holds a compile_config) and, when
// it loads, called once on a small batch. Seeds: tests/fuzz/corpus/keras3_config.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::only_md_errors([&] {
    const md::json config = md::parse_json_text(fuzz::text(data, size), "the fuzz input");
    md::Model model = md::model_from_config(config);
    fuzz::run_once(model);
  });
  return 0;
}
