// libFuzzer target: what tf.keras 2 writes as JSON, chosen by the first byte. Even: a model config
// (model.to_json(), a legacy `.h5` file's model_config), translated (models/keras2_config.h),
// built and called once. Odd: a legacy `.h5` file's training_config, translated and compiled
// into a small model. Seeds: tests/fuzz/corpus/keras2_config.
#include <minidl/models/keras2_config.h>

#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool training_config = data[0] % 2 == 1;
  fuzz::only_md_errors([&] {
    const md::json object = md::parse_json_text(fuzz::text(data + 1, size - 1), "the fuzz input");
    if (training_config) {
      const md::Tensor x = md::Input({4}, "x");
      md::Model model(x, md::layers::Dense({.units = 2, .name = "dense"})(x), "model");
      model.compile_from_config(md::keras2::compile_config(object));
    } else {
      md::Model model = md::model_from_config(md::keras2::model_config(object));
      fuzz::run_once(model);
    }
  });
  return 0;
}
