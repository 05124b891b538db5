// The program of the missing-data test (missing_data.cmake), under mpirun -np 2. Every process
// reads its own copy of the training data, DIR/data-<rank>.csv, as processes on different
// machines would; process 1's copy is missing. The job must end with process 1's error, never
// hang with process 0 waiting in fit() for it:
//   open_data DIR caught     main() catches the error, prints it and returns 1 (as the demo does)
//   open_data DIR uncaught   the error leaves main()
#include <minidl/minidl.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

namespace md = minidl;

namespace {

// Rows of five numbers: four features and a target.
std::pair<md::Tensor, md::Tensor> read_csv(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw md::IOError(fmt::format("cannot open the training data '{}': {}", path, std::strerror(errno)));
  std::vector<float> x, y;
  float v[5];
  while (in >> v[0] >> v[1] >> v[2] >> v[3] >> v[4]) {
    x.insert(x.end(), v, v + 4);
    y.push_back(v[4]);
  }
  const auto rows = static_cast<int64_t>(y.size());
  return {md::Tensor::from_vector(x, {rows, 4}), md::Tensor::from_vector(y, {rows, 1})};
}

int train(const std::string& dir) {
  md::distribution::set_distribution(md::distribution::DataParallel());
  const auto [x, y] = read_csv(fmt::format("{}/data-{}.csv", dir, md::distribution::process_id()));
  const md::Tensor in = md::Input({4});
  md::Model model(in, md::layers::Dense({.units = 1})(in));
  model.compile({.optimizer = "sgd", .loss = "mse"});
  model.fit(x, y, {.epochs = 2, .batch_size = 8, .verbose = 0});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  md::distribution::initialize();
  if (argc != 3) {
    std::fprintf(stderr, "usage: open_data DIR caught|uncaught\n");
    return 2;
  }
  if (std::string(argv[2]) == "uncaught") return train(argv[1]);
  try {
    return train(argv[1]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "open_data: process %d: %s\n", md::distribution::process_id(), e.what());
    return 1;
  }
}
