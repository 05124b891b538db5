// Fashion-MNIST loader: IDX files (big-endian header, then unsigned bytes) read through zlib's
// gzread, which also reads files that are not compressed.
#include "minidl/datasets/fashion_mnist.h"

#include <fmt/format.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include "minidl/core/error.h"
#include "minidl/core/read_limits.h"

namespace minidl::datasets::fashion_mnist {

namespace {

constexpr uint32_t kImageMagic = 2051;  // 0x00000803: unsigned bytes, 3 dimensions
constexpr uint32_t kLabelMagic = 2049;  // 0x00000801: unsigned bytes, 1 dimension
// Far above any real IDX file (Fashion-MNIST's largest holds 47 MB); a header claiming more is
// corrupt, and refusing it keeps a bad header from triggering a huge allocation.
constexpr uint64_t kMaxPayloadBytes = uint64_t{1} << 34;

class FmnistGzReader {
 public:
  explicit FmnistGzReader(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      throw IOError(fmt::format("Cannot read '{}': no such file.", path));
    }
    file_ = gzopen(path.c_str(), "rb");
    if (!file_) throw IOError(fmt::format("Cannot open '{}' for reading: {}.", path, std::strerror(errno)));
    gzbuffer(file_, 1 << 17);
  }
  ~FmnistGzReader() {
    if (file_) gzclose(file_);
  }
  FmnistGzReader(const FmnistGzReader&) = delete;
  FmnistGzReader& operator=(const FmnistGzReader&) = delete;

  // Reads up to n bytes; returns how many arrived (fewer only at the end of the data). A
  // corrupt gzip stream is an error; a gzip stream cut short is reported through truncated().
  uint64_t read(uint8_t* dst, uint64_t n) {
    uint64_t done = 0;
    while (done < n) {
      const auto chunk = static_cast<unsigned>(std::min<uint64_t>(n - done, uint64_t{1} << 30));
      const int got = gzread(file_, dst + done, chunk);
      if (got < 0) {
        int errnum = Z_OK;
        const char* message = gzerror(file_, &errnum);
        if (errnum == Z_BUF_ERROR) {
          stream_cut_ = true;
          break;
        }
        throw IOError(fmt::format("'{}' is not a valid gzip or IDX file: zlib reports \"{}\".", path_, message));
      }
      if (got == 0) break;
      done += static_cast<uint64_t>(got);
    }
    if (done < n) {
      int errnum = Z_OK;
      gzerror(file_, &errnum);
      if (errnum == Z_BUF_ERROR) stream_cut_ = true;
    }
    return done;
  }
  // True when the gzip stream ended before its end marker (a partly copied .gz file).
  bool stream_cut() const { return stream_cut_; }
  bool at_end() {
    uint8_t byte = 0;
    return read(&byte, 1) == 0;
  }

 private:
  std::string path_;
  gzFile file_ = nullptr;
  bool stream_cut_ = false;
};

uint32_t fmnist_big_endian(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

const char* fmnist_magic_meaning(uint32_t magic) {
  if (magic == kImageMagic) return " (an IDX image file)";
  if (magic == kLabelMagic) return " (an IDX label file)";
  if ((magic >> 16) == 0x1f8b) return " (the start of a gzip stream: the file was compressed twice?)";
  return "";
}

struct FmnistIdx {
  std::vector<uint32_t> dims;
  std::vector<uint8_t> bytes;
};

// Checks the magic number, reads the dimension fields, then exactly the payload they describe.
FmnistIdx fmnist_read_idx(const std::string& path, uint32_t expected_magic, size_t ndims, const char* kind) {
  FmnistGzReader reader(path);
  const size_t header_size = 4 * (1 + ndims);
  std::array<uint8_t, 16> header{};
  // The magic number first, so that a file of the other kind is named as such even when it is
  // shorter than this kind's header.
  uint64_t got = reader.read(header.data(), 4);
  if (got == 4) {
    const uint32_t magic = fmnist_big_endian(header.data());
    if (magic != expected_magic) {
      throw IOError(fmt::format("'{}' is not an IDX {} file: its magic number is {}{}, expected {}.", path, kind, magic,
                                fmnist_magic_meaning(magic), expected_magic));
    }
    got += reader.read(header.data() + 4, header_size - 4);
  }
  if (got < header_size) {
    throw IOError(fmt::format("'{}' is truncated: it holds {} bytes, fewer than the {}-byte header of an IDX {} file.",
                              path, got, header_size, kind));
  }
  FmnistIdx idx;
  uint64_t payload = 1;
  for (size_t i = 0; i < ndims; ++i) {
    const uint32_t d = fmnist_big_endian(header.data() + 4 * (i + 1));
    idx.dims.push_back(d);
    if (d != 0 && payload > kMaxPayloadBytes / d) {
      throw IOError(fmt::format("'{}' has an implausible header: dimension {} is {}, making more than {} bytes.", path,
                                i, d, kMaxPayloadBytes));
    }
    payload *= d;
  }
  // The header's sizes are claims: they are charged against the read cap (core/read_limits.h), and
  // the buffer grows with the data that actually arrives (1 MiB, then doubling), so a 16-byte
  // file claiming 16 GiB allocates 1 MiB. (With a fixed 16 MiB step, an 11-byte file claiming
  // 7.4 MB made the fuzzer zero 7.4 MB per run.)
  minidl::detail::charge_read_allocation(payload);
  constexpr uint64_t kFirstChunkBytes = uint64_t{1} << 20;
  uint64_t body = 0;
  while (body < payload) {
    const uint64_t want = std::min(std::max(kFirstChunkBytes, body), payload - body);
    idx.bytes.resize(body + want);
    const uint64_t got = reader.read(idx.bytes.data() + body, want);
    body += got;
    if (got < want) break;
  }
  idx.bytes.resize(body);
  if (body < payload) {
    throw IOError(fmt::format(
        "'{}' is truncated: its header describes {} bytes of data (dimensions {}) but {} bytes follow{}.", path,
        payload, fmt::join(idx.dims, " x "), body, reader.stream_cut() ? " before the gzip stream breaks off" : ""));
  }
  if (!reader.at_end()) {
    throw IOError(fmt::format("'{}' has more data than its header describes ({} bytes for dimensions {}).", path,
                              payload, fmt::join(idx.dims, " x ")));
  }
  if (reader.stream_cut()) {
    throw IOError(fmt::format("'{}' is truncated: its gzip stream breaks off after the data.", path));
  }
  return idx;
}

Tensor fmnist_to_tensor(const std::vector<uint8_t>& bytes, const Shape& shape) {
  Tensor t = Tensor::empty(shape);
  float* out = t.mutable_data();
  for (size_t i = 0; i < bytes.size(); ++i) out[i] = static_cast<float>(bytes[i]);
  return t;
}

// "<dir>/<name>.gz", or "<dir>/<name>" when only an uncompressed copy exists.
std::string fmnist_locate(const std::string& directory, const char* name) {
  namespace fs = std::filesystem;
  const fs::path gz = fs::path(directory) / (std::string(name) + ".gz");
  const fs::path plain = fs::path(directory) / name;
  std::error_code ec;
  if (fs::is_regular_file(gz, ec)) return gz.string();
  if (fs::is_regular_file(plain, ec)) return plain.string();
  throw IOError(fmt::format(
      "Fashion-MNIST file not found: '{}'. Install Debian's package, which puts the files in {}: "
      "`apt install dataset-fashion-mnist` (or scripts/setup.sh --demo); or pass the directory of your own copy of "
      "the four IDX files: md::datasets::fashion_mnist::load(\"/path/to/dir\").",
      gz.string(), kDefaultDirectory));
}

void fmnist_check_images(const Tensor& images, const std::string& path) {
  if (images.dim(1) != 28 || images.dim(2) != 28) {
    throw IOError(
        fmt::format("'{}' holds {}x{} images; Fashion-MNIST's are 28x28.", path, images.dim(1), images.dim(2)));
  }
}

void fmnist_check_labels(const Tensor& labels, const std::string& path) {
  const float* p = labels.data();
  for (int64_t i = 0; i < labels.size(); ++i) {
    if (p[i] > 9.0f) {
      throw IOError(fmt::format("'{}' holds label {} at index {}; Fashion-MNIST's classes are 0..9.", path,
                                static_cast<int>(p[i]), i));
    }
  }
}

void fmnist_check_counts(const Tensor& images, const std::string& images_path, const Tensor& labels,
                         const std::string& labels_path) {
  if (images.dim(0) != labels.dim(0)) {
    throw IOError(fmt::format("'{}' holds {} images but '{}' holds {} labels; the counts must be equal.", images_path,
                              images.dim(0), labels_path, labels.dim(0)));
  }
}

}  // namespace

Tensor read_idx_images(const std::string& path) {
  const minidl::detail::ReadAllocationScope scope(fmt::format("the IDX file '{}'", path));
  const FmnistIdx idx = fmnist_read_idx(path, kImageMagic, 3, "image");
  return fmnist_to_tensor(idx.bytes, {idx.dims[0], idx.dims[1], idx.dims[2]});
}

Tensor read_idx_labels(const std::string& path) {
  const minidl::detail::ReadAllocationScope scope(fmt::format("the IDX file '{}'", path));
  const FmnistIdx idx = fmnist_read_idx(path, kLabelMagic, 1, "label");
  return fmnist_to_tensor(idx.bytes, {idx.dims[0]});
}

Data load(const std::string& directory_in) {
  const std::string directory = directory_in.empty() ? std::string(kDefaultDirectory) : directory_in;
  // Locate all four first, so that a missing file is reported before any reading.
  const std::string train_images = fmnist_locate(directory, kTrainImages);
  const std::string train_labels = fmnist_locate(directory, kTrainLabels);
  const std::string test_images = fmnist_locate(directory, kTestImages);
  const std::string test_labels = fmnist_locate(directory, kTestLabels);

  Data data;
  data.y_train = read_idx_labels(train_labels);
  fmnist_check_labels(data.y_train, train_labels);
  data.x_train = read_idx_images(train_images);
  fmnist_check_images(data.x_train, train_images);
  fmnist_check_counts(data.x_train, train_images, data.y_train, train_labels);
  data.y_test = read_idx_labels(test_labels);
  fmnist_check_labels(data.y_test, test_labels);
  data.x_test = read_idx_images(test_images);
  fmnist_check_images(data.x_test, test_images);
  fmnist_check_counts(data.x_test, test_images, data.y_test, test_labels);
  return data;
}

const std::vector<std::string>& class_names() {
  static const std::vector<std::string> names = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                                 "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};
  return names;
}

}  // namespace minidl::datasets::fashion_mnist
