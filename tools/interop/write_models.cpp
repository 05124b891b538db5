// minidl_interop: the minidl half of the live interop check (scripts/interop.sh, issue 12 item
// 4). It builds the eleven models of tools/keras_reference/fixtures/file_models.py in minidl
// (interop_models.h), trains each for 2 epochs on seeded data, and writes
// OUT/<case>/:
//   model.keras       model.save(): config, compile_config, weights, optimizer state
//   model.weights.h5  md::save_weights with the optimizer's variables (as Keras's save_weights
//                     writes them for a compiled model)
//   model.json        md::save_config (Keras's to_json)
//   io.json           the samples to predict and minidl's predictions of them; one more batch,
//                     and minidl's train_on_batch on it from the loaded .keras: the loss, the
//                     iterations, every weight and optimizer variable after the step
// tools/keras_reference/interop_check.py then loads the files with real Keras and compares.
//
//   minidl_interop OUT_DIR
#include <minidl/minidl.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "interop_models.h"

namespace md = minidl;
using interop::kBatchSize;
using interop::kEpochs;
using interop::kPredictSamples;
using interop::kTrainSamples;

namespace {

// An array as io.json holds it: dtype, shape and the values (float32 values print exactly).
md::json array(const md::Tensor& t) {
  return {{"dtype", t.dtype() == md::DType::int32 ? "int32" : "float32"},
          {"shape", t.shape()},
          {"values", t.to_vector()}};
}

md::json arrays(const std::vector<md::Tensor>& ts) {
  md::json out = md::json::array();
  for (const md::Tensor& t : ts) out.push_back(array(t));
  return out;
}

md::json variables(const std::vector<md::Variable>& vs) {
  md::json out = md::json::array();
  for (const md::Variable& v : vs) out.push_back({{"path", v.path()}, {"value", array(v.value())}});
  return out;
}

md::ModelInputs inputs(const std::vector<md::Tensor>& xs) {
  return xs.size() == 1 ? md::ModelInputs(xs[0]) : md::ModelInputs(xs);
}

void write_case(const interop::Case& c, uint64_t seed, const std::filesystem::path& out) {
  md::random::set_global_seed(seed);  // the initial weights
  const std::shared_ptr<md::Model> built = c.build();  // a Sequential for the Sequential cases
  md::Model& model = *built;
  const interop::Batch train = c.data(kTrainSamples, seed + 10);
  const interop::Batch predict = c.data(kPredictSamples, seed + 20);
  const interop::Batch step = c.data(kBatchSize, seed + 30);
  model.fit(inputs(train.x), train.y, {.epochs = kEpochs, .batch_size = kBatchSize, .verbose = 0, .shuffle = false});

  const std::filesystem::path dir = out / c.name;
  std::filesystem::create_directories(dir);
  const std::string keras_path = (dir / "model.keras").string();
  model.save(keras_path);
  md::save_weights(model, (dir / "model.weights.h5").string(), model.optimizer()->variables());
  md::save_config(model, (dir / "model.json").string());

  // The saved model's predictions, and the next step of the model the .keras file gives back.
  const md::Tensor outputs = model.predict(inputs(predict.x), {.verbose = 0});
  md::Model loaded = md::load_model(keras_path);
  if (loaded.predict(inputs(predict.x), {.verbose = 0}).to_vector() != outputs.to_vector()) {
    throw md::ValueError(c.name + ": the model md::load_model reads back predicts differently from the saved one");
  }
  md::json io = {{"producer", "minidl tools/interop/write_models.cpp"},
                 {"model", c.name},
                 {"inputs", arrays(predict.x)},
                 {"outputs", arrays({outputs})}};
  const double loss = model.evaluate(inputs(train.x), train.y, {.verbose = 0}).at("loss");
  if (c.random_training) {
    io["next_step"] = "none: Dropout's training masks are random draws no other model reproduces";
    md::write_file_atomically((dir / "io.json").string(), io.dump() + "\n");
    fmt::print("{}: {} weights, loss after 2 epochs {:.6f}, no next step (Dropout)\n", c.name, model.count_params(), loss);
    return;
  }
  const md::Logs logs = loaded.train_on_batch(inputs(step.x), step.y);
  io["step"] = {{"inputs", arrays(step.x)},
                {"targets", array(step.y)},
                {"loss", logs.at("loss")},
                {"iterations", loaded.optimizer()->iterations()},
                {"weights", variables(loaded.weights())},
                {"optimizer_variables", variables(loaded.optimizer()->variables())}};
  md::write_file_atomically((dir / "io.json").string(), io.dump() + "\n");
  fmt::print("{}: {} weights, loss after 2 epochs {:.6f}, next step's loss {:.6f}\n", c.name, model.count_params(), loss,
             logs.at("loss"));
}

}  // namespace

int main(int argc, char** argv) try {
  if (argc != 2) throw md::ValueError("usage: minidl_interop OUT_DIR");
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);
  uint64_t seed = 1000;
  for (const interop::Case& c : interop::cases()) {
    write_case(c, seed, out);
    seed += 100;
  }
  return 0;
} catch (const std::exception& e) {
  fmt::print(stderr, "minidl_interop: {}\n", e.what());
  return 1;
}
