// What reading HDF5 files in a bounded child process (issue 18, models/detail/bounded_process.h)
// costs: md::load_model of the Fashion-MNIST demo's `.keras` archive, md::load_weights of its
// weights as a `.weights.h5`, and md::load_weights of a larger file (a Dense 4096 -> 6144
// kernel, 96 MiB), each read through the child (the default) and in this process
// (md::set_hdf5_read_limits({.in_process = true}), the same readers without fork and pipe).
// Modes interleaved; min and median over the rounds, ms. Files go to a temporary folder.
// Compiled with -DMINIDL_HDF5_BENCH_BEFORE against a library from before the bounded reads
// (where set_hdf5_read_limits does not exist), it times that library's readers alone.
//
//   ./build/bench/hdf5_read_bench [--rounds 15] [--threads 2]
#include <minidl/minidl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "fashion_mnist_attention_model.h"

namespace md = minidl;

namespace {

struct Stats {
  std::vector<double> ms;
  double min() const { return *std::min_element(ms.begin(), ms.end()); }
  double median() const {
    std::vector<double> sorted = ms;
    std::sort(sorted.begin(), sorted.end());
    return sorted[sorted.size() / 2];
  }
};

double time_ms(const std::function<void()>& f) {
  const auto start = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) try {
  int rounds = 15;
  int threads = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    if (arg == "--rounds") rounds = std::stoi(argv[i + 1]);
    if (arg == "--threads") threads = std::stoi(argv[i + 1]);
  }
  md::set_num_threads(threads);
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "minidl-hdf5-read-bench";
  std::filesystem::create_directories(dir);
  const std::string archive = (dir / "demo.keras").string();
  const std::string demo_weights = (dir / "demo.weights.h5").string();
  const std::string big_weights = (dir / "big.weights.h5").string();
  md::Model demo = fashion_mnist_attention::build_model();
  demo.compile({.optimizer = "adam", .loss = md::losses::SparseCategoricalCrossentropy({.from_logits = true})});
  demo.save(archive);
  md::save_weights(demo, demo_weights);
  const md::Tensor x = md::Input({4096});
  md::Model big(x, md::layers::Dense({.units = 6144})(x));
  md::save_weights(big, big_weights);

  struct Case {
    std::string name;
    std::string path;
    std::function<void()> read;
  };
  const std::vector<Case> cases = {
      {"load_model(demo .keras)", archive, [&] { md::load_model(archive); }},
      {"load_weights(demo .weights.h5)", demo_weights, [&] { md::load_weights(demo, demo_weights); }},
      {"load_weights(96 MiB .weights.h5)", big_weights, [&] { md::load_weights(big, big_weights); }},
  };
  std::printf("threads %d, rounds %d\n", threads, rounds);
  std::printf("| read | file | in-process (ms, min / median) | bounded child (ms, min / median) | cost (ms, min) |\n");
  std::printf("|---|---|---|---|---|\n");
  for (const Case& c : cases) {
    Stats in_process, child;
    c.read();  // warm the page cache and the primitive caches
    for (int r = 0; r < rounds; ++r) {
#ifdef MINIDL_HDF5_BENCH_BEFORE
      in_process.ms.push_back(time_ms(c.read));
      child.ms.push_back(0);
#else
      md::set_hdf5_read_limits({.in_process = true});
      in_process.ms.push_back(time_ms(c.read));
      md::set_hdf5_read_limits({});
      child.ms.push_back(time_ms(c.read));
#endif
    }
    std::printf("| %s | %.1f KiB | %.2f / %.2f | %.2f / %.2f | %+.2f |\n", c.name.c_str(),
                static_cast<double>(std::filesystem::file_size(c.path)) / 1024, in_process.min(), in_process.median(),
                child.min(), child.median(), child.min() - in_process.min());
  }
  std::filesystem::remove_all(dir);
  return 0;
} catch (const std::exception& e) {
  std::fprintf(stderr, "hdf5_read_bench: %s\n", e.what());
  return 1;
}
