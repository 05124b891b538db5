// Fashion-MNIST loader: synthetic IDX files in a temporary directory (good files, and each
// fault the loader must name), plus the real files of Debian's dataset-fashion-mnist package.
//
// The synthetic .gz files are written by hand (gzip header, deflate "stored" blocks, CRC-32)
// rather than with zlib's gzwrite: zlib is a private dependency of libminidl, so this test
// program does not link it. It also lets the tests cut a gzip stream at an exact byte.
#include <minidl/datasets/fashion_mnist.h>
#include <minidl/minidl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace md = minidl;
namespace fmnist = minidl::datasets::fashion_mnist;
namespace fs = std::filesystem;

namespace fmnist_test_helpers {

using Bytes = std::vector<uint8_t>;

uint32_t crc32_of(const Bytes& data) {
  uint32_t crc = 0xFFFFFFFFu;
  for (uint8_t byte : data) {
    crc ^= byte;
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void put_le32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put_be32(Bytes& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

// A gzip member (RFC 1952) whose deflate data is stored blocks (RFC 1951 section 3.2.4).
Bytes gzip_stored(const Bytes& data) {
  Bytes out = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255};
  size_t pos = 0;
  do {
    const size_t len = std::min<size_t>(65535, data.size() - pos);
    const bool final_block = pos + len == data.size();
    out.push_back(final_block ? 1 : 0);  // BFINAL, BTYPE = 00; the rest of the byte pads
    out.push_back(static_cast<uint8_t>(len));
    out.push_back(static_cast<uint8_t>(len >> 8));
    out.push_back(static_cast<uint8_t>(~len));
    out.push_back(static_cast<uint8_t>(~len >> 8));
    out.insert(out.end(), data.begin() + static_cast<std::ptrdiff_t>(pos),
               data.begin() + static_cast<std::ptrdiff_t>(pos + len));
    pos += len;
  } while (pos < data.size());
  put_le32(out, crc32_of(data));
  put_le32(out, static_cast<uint32_t>(data.size()));
  return out;
}

Bytes idx_images(uint32_t count, uint32_t rows, uint32_t cols, const std::function<uint8_t(size_t)>& pixel) {
  Bytes out;
  put_be32(out, 2051);
  put_be32(out, count);
  put_be32(out, rows);
  put_be32(out, cols);
  for (size_t i = 0; i < size_t{count} * rows * cols; ++i) out.push_back(pixel(i));
  return out;
}

Bytes idx_labels(const Bytes& labels) {
  Bytes out;
  put_be32(out, 2049);
  put_be32(out, static_cast<uint32_t>(labels.size()));
  out.insert(out.end(), labels.begin(), labels.end());
  return out;
}

void write_file(const fs::path& path, const Bytes& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(f.good());
}

// A fresh directory removed at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    static int counter = 0;
    path_ = fs::temp_directory_path() /
            ("minidl_fmnist_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

uint8_t pattern_pixel(size_t i) { return static_cast<uint8_t>((i * 7) % 256); }

// A complete, valid data set: 3 training and 2 test images of 28 x 28.
void write_valid_dataset(const ScratchDir& dir) {
  write_file(dir.path() / "train-images-idx3-ubyte.gz", gzip_stored(idx_images(3, 28, 28, pattern_pixel)));
  write_file(dir.path() / "train-labels-idx1-ubyte.gz", gzip_stored(idx_labels({9, 0, 3})));
  write_file(dir.path() / "t10k-images-idx3-ubyte.gz",
             gzip_stored(idx_images(2, 28, 28, [](size_t i) { return static_cast<uint8_t>(255 - i % 256); })));
  write_file(dir.path() / "t10k-labels-idx1-ubyte.gz", gzip_stored(idx_labels({1, 7})));
}

template <class F>
std::string fmnist_error_text(F&& f) {
  try {
    f();
  } catch (const md::Error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace fmnist_test_helpers

using namespace fmnist_test_helpers;
using Catch::Matchers::Contains;

TEST_CASE("fashion_mnist: the hand-written gzip files are valid gzip", "[datasets]") {
  // The CRC-32 check value of "123456789" (every CRC-32 implementation's test vector).
  CHECK(crc32_of({'1', '2', '3', '4', '5', '6', '7', '8', '9'}) == 0xCBF43926u);
  // More than one 64 KiB stored block, read back through the loader (which uses zlib).
  ScratchDir dir;
  const Bytes big = idx_images(100, 28, 28, pattern_pixel);  // 78416 bytes: two blocks
  write_file(dir.path() / "big.gz", gzip_stored(big));
  const md::Tensor images = fmnist::read_idx_images(dir.file("big.gz"));
  CHECK(images.shape() == md::Shape{100, 28, 28});
  CHECK(images.data()[78399] == static_cast<float>(pattern_pixel(78399)));
}

TEST_CASE("fashion_mnist: read_idx_images and read_idx_labels", "[datasets]") {
  ScratchDir dir;
  write_file(dir.path() / "images.gz",
             gzip_stored(idx_images(2, 3, 4, [](size_t i) { return static_cast<uint8_t>(i * 10); })));
  write_file(dir.path() / "labels.gz", gzip_stored(idx_labels({4, 0, 9})));
  const md::Tensor images = fmnist::read_idx_images(dir.file("images.gz"));
  CHECK(images.shape() == md::Shape{2, 3, 4});
  CHECK(images.dtype() == md::DType::float32);
  const std::vector<float> v = images.to_vector();
  for (size_t i = 0; i < v.size(); ++i) CHECK(v[i] == static_cast<float>(i * 10));
  const md::Tensor labels = fmnist::read_idx_labels(dir.file("labels.gz"));
  CHECK(labels.shape() == md::Shape{3});
  CHECK(labels.to_vector() == std::vector<float>{4, 0, 9});
  // An uncompressed IDX file reads the same.
  write_file(dir.path() / "plain-labels", idx_labels({4, 0, 9}));
  CHECK(fmnist::read_idx_labels(dir.file("plain-labels")).to_vector() == std::vector<float>{4, 0, 9});
}

TEST_CASE("fashion_mnist: load() from a directory", "[datasets]") {
  ScratchDir dir;
  write_valid_dataset(dir);
  const fmnist::Data data = fmnist::load(dir.path().string());
  CHECK(data.x_train.shape() == md::Shape{3, 28, 28});
  CHECK(data.y_train.shape() == md::Shape{3});
  CHECK(data.x_test.shape() == md::Shape{2, 28, 28});
  CHECK(data.y_test.shape() == md::Shape{2});
  CHECK(data.y_train.to_vector() == std::vector<float>{9, 0, 3});
  CHECK(data.y_test.to_vector() == std::vector<float>{1, 7});
  // Raw pixel values 0..255, row-major: image 1, row 2, column 5 is flat index 784 + 61.
  CHECK(data.x_train.data()[784 + 2 * 28 + 5] == static_cast<float>(pattern_pixel(784 + 2 * 28 + 5)));
  CHECK(data.x_test.data()[0] == 255.0f);
  // Structured bindings, as in the header's example.
  auto [x_train, y_train, x_test, y_test] = fmnist::load(dir.path().string());
  CHECK(x_train.shape() == data.x_train.shape());
  CHECK(y_test.to_vector() == data.y_test.to_vector());
  // Uncompressed copies are found when the .gz is absent.
  fs::remove(dir.path() / "t10k-labels-idx1-ubyte.gz");
  write_file(dir.path() / "t10k-labels-idx1-ubyte", idx_labels({2, 5}));
  CHECK(fmnist::load(dir.path().string()).y_test.to_vector() == std::vector<float>{2, 5});
  CHECK(fmnist::class_names().size() == 10);
  CHECK(fmnist::class_names()[9] == "Ankle boot");
}

TEST_CASE("fashion_mnist: a missing file names it and the Debian package", "[datasets][errors]") {
  ScratchDir dir;
  write_valid_dataset(dir);
  fs::remove(dir.path() / "t10k-images-idx3-ubyte.gz");
  const std::string text = fmnist_error_text([&] { fmnist::load(dir.path().string()); });
  CHECK_THAT(text, Contains(dir.file("t10k-images-idx3-ubyte.gz")) && Contains("apt install dataset-fashion-mnist") &&
                       Contains("load(\"/path/to/dir\")"));
  CHECK_THROWS_AS(fmnist::load(dir.path().string()), md::IOError);
  CHECK_THAT(fmnist_error_text([&] { fmnist::load(dir.file("no-such-dir")); }),
             Contains("train-images-idx3-ubyte.gz") && Contains("dataset-fashion-mnist"));
  CHECK_THAT(fmnist_error_text([&] { fmnist::read_idx_labels(dir.file("nothing.gz")); }),
             Contains(dir.file("nothing.gz")) && Contains("no such file"));
}

TEST_CASE("fashion_mnist: a wrong magic number is named", "[datasets][errors]") {
  ScratchDir dir;
  write_file(dir.path() / "labels.gz", gzip_stored(idx_labels({1, 2})));
  const std::string text = fmnist_error_text([&] { fmnist::read_idx_images(dir.file("labels.gz")); });
  CHECK_THAT(text, Contains(dir.file("labels.gz")) && Contains("magic number is 2049") && Contains("label file") &&
                       Contains("expected 2051"));
  // A file compressed twice starts with gzip's own magic after one decompression.
  write_file(dir.path() / "twice.gz", gzip_stored(gzip_stored(idx_labels({1}))));
  CHECK_THAT(fmnist_error_text([&] { fmnist::read_idx_labels(dir.file("twice.gz")); }), Contains("compressed twice"));
  // In a data set directory: the training images file is really a label file.
  ScratchDir set;
  write_valid_dataset(set);
  write_file(set.path() / "train-images-idx3-ubyte.gz", gzip_stored(idx_labels({1, 2, 3})));
  CHECK_THAT(fmnist_error_text([&] { fmnist::load(set.path().string()); }),
             Contains("train-images-idx3-ubyte.gz") && Contains("expected 2051"));
}

TEST_CASE("fashion_mnist: truncated files are named", "[datasets][errors]") {
  ScratchDir dir;
  // The IDX data is shorter than the header says (a valid gzip stream of too few bytes).
  Bytes short_images = idx_images(3, 28, 28, pattern_pixel);
  short_images.resize(short_images.size() - 100);
  write_file(dir.path() / "short.gz", gzip_stored(short_images));
  CHECK_THAT(fmnist_error_text([&] { fmnist::read_idx_images(dir.file("short.gz")); }),
             Contains(dir.file("short.gz")) && Contains("is truncated") && Contains("2352 bytes") &&
                 Contains("2252 bytes follow"));
  // The gzip stream itself is cut off (a partial download).
  const Bytes whole = gzip_stored(idx_images(3, 28, 28, pattern_pixel));
  write_file(dir.path() / "cut.gz", Bytes(whole.begin(), whole.begin() + 1000));
  CHECK_THAT(fmnist_error_text([&] { fmnist::read_idx_images(dir.file("cut.gz")); }),
             Contains(dir.file("cut.gz")) && Contains("truncated"));
  // Only the gzip trailer is missing: the data is complete but the file is not.
  write_file(dir.path() / "no-trailer.gz", Bytes(whole.begin(), whole.end() - 8));
  CHECK_THAT(fmnist_error_text([&] { fmnist::read_idx_images(dir.file("no-trailer.gz")); }),
             Contains(dir.file("no-trailer.gz")) && Contains("truncated"));
  // Shorter than a header.
  write_file(dir.path() / "tiny.gz", gzip_stored({0, 0, 8}));
  CHECK_THAT(fmnist_error_text([&] { fmnist::read_idx_labels(dir.file("tiny.gz")); }),
             Contains(dir.file("tiny.gz")) && Contains("header"));
  // A header claiming absurd sizes is refused before any allocation.
  Bytes huge;
  put_be32(huge, 2051);
  for (int i = 0; i < 3; ++i) put_be32(huge, 0xFFFFFFFFu);
  write_file(dir.path() / "huge.gz", gzip_stored(huge));
  CHECK_THAT(fmnist_error_text([&] { fmnist::read_idx_images(dir.file("huge.gz")); }),
             Contains(dir.file("huge.gz")) && Contains("implausible header"));
  // More data than the header describes.
  Bytes long_labels = idx_labels({1, 2});
  long_labels.push_back(3);
  write_file(dir.path() / "long.gz", gzip_stored(long_labels));
  CHECK_THAT(fmnist_error_text([&] { fmnist::read_idx_labels(dir.file("long.gz")); }),
             Contains(dir.file("long.gz")) && Contains("more data than its header"));
  // A corrupt gzip stream.
  Bytes corrupt = gzip_stored(idx_labels({1, 2}));
  corrupt[10] = 0x07;  // BTYPE = 11, which deflate reserves
  write_file(dir.path() / "corrupt.gz", corrupt);
  CHECK_THROWS_AS(fmnist::read_idx_labels(dir.file("corrupt.gz")), md::IOError);
}

TEST_CASE("fashion_mnist: load() checks counts, image size and labels", "[datasets][errors]") {
  ScratchDir dir;
  write_valid_dataset(dir);
  write_file(dir.path() / "train-labels-idx1-ubyte.gz", gzip_stored(idx_labels({9, 0})));
  CHECK_THAT(
      fmnist_error_text([&] { fmnist::load(dir.path().string()); }),
      Contains("train-images-idx3-ubyte.gz' holds 3 images") && Contains("train-labels-idx1-ubyte.gz' holds 2 labels"));

  write_valid_dataset(dir);
  write_file(dir.path() / "t10k-images-idx3-ubyte.gz", gzip_stored(idx_images(2, 28, 27, pattern_pixel)));
  CHECK_THAT(fmnist_error_text([&] { fmnist::load(dir.path().string()); }),
             Contains("t10k-images-idx3-ubyte.gz") && Contains("28x27") && Contains("28x28"));

  write_valid_dataset(dir);
  write_file(dir.path() / "t10k-labels-idx1-ubyte.gz", gzip_stored(idx_labels({1, 10})));
  CHECK_THAT(fmnist_error_text([&] { fmnist::load(dir.path().string()); }),
             Contains("t10k-labels-idx1-ubyte.gz") && Contains("label 10 at index 1"));
}

TEST_CASE("fashion_mnist: the real files of Debian's dataset-fashion-mnist", "[datasets][real]") {
  const fs::path dir = fmnist::kDefaultDirectory;
  if (!fs::exists(dir / "train-images-idx3-ubyte.gz")) {
    WARN("dataset-fashion-mnist is not installed (" << dir.string() << "); skipping the real-data check.");
    return;
  }
  const fmnist::Data data = fmnist::load();
  REQUIRE(data.x_train.shape() == md::Shape{60000, 28, 28});
  REQUIRE(data.y_train.shape() == md::Shape{60000});
  REQUIRE(data.x_test.shape() == md::Shape{10000, 28, 28});
  REQUIRE(data.y_test.shape() == md::Shape{10000});
  // Labels 0..9, each class 6000 times in training and 1000 times in the test set.
  std::array<int, 10> train_counts{}, test_counts{};
  for (float label : data.y_train.to_vector()) {
    REQUIRE(label >= 0.0f);
    REQUIRE(label <= 9.0f);
    ++train_counts[static_cast<size_t>(label)];
  }
  for (float label : data.y_test.to_vector()) ++test_counts[static_cast<size_t>(label)];
  for (size_t c = 0; c < 10; ++c) {
    CHECK(train_counts[c] == 6000);
    CHECK(test_counts[c] == 1000);
  }
  // Known values, read with Python's gzip module from the package's files:
  // train-labels-idx1-ubyte.gz bytes 8..19 are 9 0 0 3 0 2 7 2 5 5 0 9 (the first image is an
  // ankle boot); t10k-labels-idx1-ubyte.gz starts 9 2 1 1; the first training image's pixels
  // sum to 76247, its maximum is 255 and pixel 100 (row 3, column 16) is 73.
  const std::vector<float> first_train = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5, 0, 9};
  for (size_t i = 0; i < first_train.size(); ++i) CHECK(data.y_train.data()[i] == first_train[i]);
  CHECK(data.y_test.data()[0] == 9.0f);
  CHECK(data.y_test.data()[1] == 2.0f);
  double sum = 0.0;
  float max = 0.0f;
  for (int i = 0; i < 784; ++i) {
    sum += data.x_train.data()[i];
    max = std::max(max, data.x_train.data()[i]);
  }
  CHECK(sum == 76247.0);
  CHECK(max == 255.0f);
  CHECK(data.x_train.data()[3 * 28 + 16] == 73.0f);
}
