// libFuzzer target: an IDX file (gzip'd or plain) through both Fashion-MNIST readers,
// read_idx_images and read_idx_labels. Seeds: tests/fuzz/corpus/idx.
#include "fuzz_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::scratch_file(data, size, "data-idx-ubyte.gz");
  fuzz::only_md_errors([&] { md::datasets::fashion_mnist::read_idx_images(path); });
  fuzz::only_md_errors([&] { md::datasets::fashion_mnist::read_idx_labels(path); });
  return 0;
}
