// Saves slm::model() to argv[1] in an endless loop, version 0, 1, 2, ..., printing "ready" after
// the first save. tests/models/keras_file_test.cpp kills it with SIGKILL at random moments.
#include <cstdio>
#include <cstdint>
#include <exception>

#include "tools/save_loop_model.h"

int main(int argc, char** argv) try {
  if (argc != 2) {
    std::fprintf(stderr, "usage: save_loop PATH.keras\n");
    return 2;
  }
  minidl::Model m = slm::model();
  for (int64_t v = 0;; ++v) {
    slm::set_version(m, v);
    m.save(argv[1]);
    if (v == 0) {
      std::printf("ready\n");
      std::fflush(stdout);
    }
  }
} catch (const std::exception& e) {
  std::fprintf(stderr, "save_loop: %s\n", e.what());
  return 1;
}
