#pragma once
// The model and the numbered weight versions that tests/tools/save_loop.cpp saves over and over
// while tests/models/keras_file_test.cpp kills it: a loaded file must hold exactly one version.
//   md::Model m = slm::model();  slm::set_version(m, 7);  slm::version_of(m) == 7
#include <minidl/minidl.h>

#include <cstdint>
#include <vector>

namespace slm {

namespace md = minidl;

// About 1 MB saved (weights plus Adam's two slots), so that a save takes long enough for kills
// to land in the middle of writing it.
inline md::Model model() {
  const md::Tensor in = md::Input({64}, "features");
  md::Tensor h = md::layers::Dense({.units = 256, .activation = "relu", .name = "hidden_1"})(in);
  h = md::layers::Dense({.units = 256, .activation = "relu", .name = "hidden_2"})(h);
  md::Model m(in, md::layers::Dense({.units = 10, .name = "logits"})(h), "save_loop");
  m.compile({.optimizer = "adam", .loss = "mse"});
  // One step, so that the optimizer is built and its slots are saved too.
  m.train_on_batch(md::random::normal({4, 64}, 0.0f, 1.0f, 5), md::random::normal({4, 10}, 0.0f, 1.0f, 6));
  return m;
}

// Version v: every weight drawn from seeds derived from v, and the first kernel entry set to v
// itself so that a loaded model says which version it holds.
inline std::vector<md::Tensor> version_weights(const md::Model& m, int64_t v) {
  std::vector<md::Tensor> values;
  uint64_t seed = 1000 + static_cast<uint64_t>(v) * 16;
  for (const md::Variable& w : m.weights()) values.push_back(md::random::normal(w.shape(), 0.0f, 0.1f, seed++));
  std::vector<float> first = values[0].to_vector();
  first[0] = static_cast<float>(v);
  values[0] = md::Tensor::from_vector(first, values[0].shape());
  return values;
}

inline void set_version(md::Model& m, int64_t v) { m.set_weights(version_weights(m, v)); }

inline int64_t version_of(const md::Model& m) { return static_cast<int64_t>(m.get_weights()[0].to_vector()[0]); }

}  // namespace slm
