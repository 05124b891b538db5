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

// Replaces the file with exactly these bytes.
inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// The whole file, bytes as they are.
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

inline std::vector<std::string> paths_of(const std::vector<md::Variable>& variables) {
  std::vector<std::string> out;
  for (const auto& v : variables) out.push_back(v.path());
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

// A functional model used as one layer of everything().
inline md::Model block() {
  const md::Tensor x = md::Input({48}, "block_in");
  const md::Tensor h = md::layers::Dense({.units = 4, .activation = "relu", .name = "block_dense"})(x);
  return md::Model(x, h, "block");
}

// Every layer type in layers/ (InputLayer, Embedding, LayerNormalization, Dense, AdditiveAttention,
// Attention with score_mode="concat" and use_scale, Add, Dropout, Reshape, Flatten,
// GlobalAveragePooling1D, a nested Functional, Concatenate, Activation) in one graph.
inline md::Model everything() {
  const md::Tensor ids = md::Input({6}, "ids", md::DType::int32);
  md::Tensor e = md::layers::Embedding({.input_dim = 20, .output_dim = 8, .name = "embed"})(ids);
  e = md::layers::LayerNormalization({.name = "norm"})(e);
  const md::Tensor q = md::layers::Dense({.units = 8, .name = "query"})(e);
  const md::Tensor v = md::layers::Dense({.units = 8, .name = "value"})(e);
  const md::Tensor additive = md::layers::AdditiveAttention({.name = "additive"})({q, v});
  const md::Tensor concat =
      md::layers::Attention({.use_scale = true, .score_mode = "concat", .name = "concat_attention"})({q, v});
  md::Tensor s = md::layers::Add({.name = "sum"})({additive, concat});
  s = md::layers::Dropout({.rate = 0.25, .name = "drop"})(s);
  const md::Tensor flat =
      md::layers::Flatten({.name = "flat"})(md::layers::Reshape({.target_shape = {8, 6}, .name = "regroup"})(s));
  const md::Tensor pooled = md::layers::GlobalAveragePooling1D({.name = "pool"})(s);
  md::Model nested = block();
  const md::Tensor merged = md::layers::Concatenate({.name = "merge"})({pooled, nested(flat)});
  const md::Tensor squashed = md::layers::Activation({.activation = "tanh", .name = "squash"})(merged);
  const md::Tensor out = md::layers::Dense({.units = 3, .name = "logits"})(squashed);
  return md::Model(ids, out, "everything");
}

inline md::Tensor token_batch() {
  std::vector<float> ids(18);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<float>((i * 7 + 3) % 20);
  return md::Tensor::from_vector(ids, {3, 6}, md::DType::int32);
}

// Distinct, reproducible values for every weight (initializers would give ones and zeros).
inline void fill_weights(md::Layer& layer, uint64_t seed) {
  std::vector<md::Tensor> values;
  for (const md::Variable& w : layer.weights()) values.push_back(md::random::normal(w.shape(), 0.0f, 0.5f, seed++));
  layer.set_weights(values);
}

inline bool same_weights(const std::vector<md::Tensor>& a, const std::vector<md::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!mt::same_bits(a[i], b[i])) return false;
  }
  return true;
}

}  // namespace mt
