#pragma once
// Shared helpers for the model tests: a scratch directory that removes itself, bitwise tensor
// comparison, exception-message matchers and a small two-input model used by several files.
//   mt::TempDir dir;                               // removed at scope exit
//   md::save_config(model, dir.file("m.json"));
//   CHECK(mt::same_bits(model(x), again(x)));
#include <minidl/minidl.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace md = minidl;

namespace mt {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("minidl_models_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline void write_text(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Same shape and the same float bits everywhere (no tolerance).
inline bool same_bits(const md::Tensor& a, const md::Tensor& b) {
  if (a.shape() != b.shape()) return false;
  const std::vector<float> x = a.to_vector(), y = b.to_vector();
  return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) == 0;
}

inline std::vector<std::string> names_of(const std::vector<std::shared_ptr<md::Operation>>& ops) {
  std::vector<std::string> out;
  for (const auto& op : ops) out.push_back(op->name());
  return out;
}

inline std::vector<std::string> names_of(const std::vector<std::shared_ptr<md::Layer>>& layers) {
  std::vector<std::string> out;
  for (const auto& layer : layers) out.push_back(layer->name());
  return out;
}

inline std::vector<std::string> names_of(const std::vector<md::Variable>& variables) {
  std::vector<std::string> out;
  for (const auto& v : variables) out.push_back(v.name());
  return out;
}

// The message of the md::Error `f` throws (fails the test when it throws nothing).
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const md::Error& e) {
    return e.what();
  }
  FAIL("expected an md::Error");
  return {};
}

}  // namespace mt
