#pragma once
// Saving when the disk is full or a file may not grow (issue 18): every way of writing a model
// (`.keras`, `.weights.h5`, a JSON config, ModelCheckpoint inside fit) must fail with an
// md::IOError naming the file and the system's reason, leave the previous file whole and
// loadable, and leave no temporary file behind. Run by tests/models/full_disk_test.cpp under
// RLIMIT_FSIZE, and by tests/tools/full_disk_writer.cpp on a full tmpfs.
#include <minidl/minidl.h>

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

namespace full_disk {

namespace md = minidl;

inline md::Model model(const std::string& name, uint64_t seed) {
  md::random::set_global_seed(seed);
  const md::Tensor in = md::Input({32}, "features");
  const md::Tensor h = md::layers::Dense({.units = 32, .activation = "relu", .name = "hidden"})(in);
  md::Model m(in, md::layers::Dense({.units = 4, .name = "out"})(h), name);
  m.compile({.optimizer = "adam", .loss = "mse"});
  m.train_on_batch(md::random::normal({8, 32}, 0.0f, 1.0f, seed), md::random::normal({8, 4}, 0.0f, 1.0f, seed + 1));
  return m;
}

inline bool same_weights(const md::Model& a, const md::Model& b) {
  const auto wa = a.get_weights(), wb = b.get_weights();
  if (wa.size() != wb.size()) return false;
  for (size_t i = 0; i < wa.size(); ++i) {
    if (wa[i].to_vector() != wb[i].to_vector()) return false;
  }
  return true;
}

// `constrain` makes every new write fail (a full disk, a file size limit) and `release` undoes
// it; `reason` is the system's text for the failure ("No space left on device"). Returns what
// went wrong, empty when all is well. Files other than the saved ones may live in `dir` only
// if their names are in `others` (the filler of a full disk).
inline std::vector<std::string> run(const std::string& dir, const std::function<void()>& constrain,
                                    const std::function<void()>& release, const std::string& reason,
                                    const std::set<std::string>& others = {}) {
  std::vector<std::string> problems;
  const std::string keras = dir + "/model.keras", weights = dir + "/model.weights.h5", config = dir + "/model.json";
  const std::string checkpoint = dir + "/checkpoint.keras";
  md::Model first = model("first_version", 1);
  first.save(keras);
  first.save_weights(weights);
  md::save_config(first, config);
  first.save(checkpoint);
  md::Model second = model("second_version", 2);

  struct Attempt {
    std::string what, path;
    std::function<void()> write;
  };
  const md::Tensor x = md::random::normal({16, 32}, 0.0f, 1.0f, 3), y = md::random::normal({16, 4}, 0.0f, 1.0f, 4);
  const std::vector<Attempt> attempts = {
      {"model.save", keras, [&] { second.save(keras); }},
      {"save_weights", weights, [&] { second.save_weights(weights); }},
      {"save_config", config, [&] { md::save_config(second, config); }},
      {"ModelCheckpoint in fit", checkpoint,
       [&] {
         second.fit(x, y, {.epochs = 1, .batch_size = 8, .verbose = 0,
                           .callbacks = {std::make_shared<md::ModelCheckpoint>(
                               md::ModelCheckpointOptions{.filepath = checkpoint})}});
       }},
  };
  constrain();
  for (const Attempt& a : attempts) {
    try {
      a.write();
      problems.push_back(a.what + ": wrote '" + a.path + "' although the disk was full");
    } catch (const md::IOError& e) {
      const std::string message = e.what();
      if (message.find(a.path) == std::string::npos || message.find(reason) == std::string::npos) {
        problems.push_back(a.what + ": the error does not name the file and '" + reason + "': " + message);
      }
    } catch (const std::exception& e) {
      problems.push_back(a.what + ": raised something other than md::IOError: " + e.what());
    }
  }
  release();

  // The previous files are whole.
  try {
    if (!same_weights(md::load_model(keras), first)) problems.push_back("model.keras no longer holds the first version");
    if (!same_weights(md::load_model(checkpoint), first)) problems.push_back("checkpoint.keras no longer holds the first version");
    md::Model fresh = model("fresh", 3);
    fresh.load_weights(weights);
    if (!same_weights(fresh, first)) problems.push_back("model.weights.h5 no longer holds the first version");
    if (md::load_config(config).name() != "first_version") problems.push_back("model.json no longer holds the first config");
  } catch (const std::exception& e) {
    problems.push_back(std::string("a previous file no longer loads: ") + e.what());
  }
  // Nothing else is left behind.
  const std::set<std::string> expected = {"model.keras", "model.weights.h5", "model.json", "checkpoint.keras"};
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    if (!expected.count(name) && !others.count(name)) problems.push_back("left behind: " + name);
  }
  return problems;
}

}  // namespace full_disk
