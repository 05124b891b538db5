// Bad data-parallel set-ups fail with a clear error on every process (so none waits for the
// others), and a process started without mpirun trains exactly as before, without touching MPI.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <filesystem>

#include "distribution_helpers.h"

namespace md = minidl;

namespace {

md::Model small_model(int64_t units) {
  const md::Tensor in = md::Input({4});
  return md::Model(in, md::layers::Dense({.units = 2})(md::layers::Dense({.units = units})(in)));
}

md::Model compiled_small_model(int64_t units) {
  md::Model model = small_model(units);
  model.compile({.optimizer = "sgd", .loss = "mse"});
  return model;
}

struct Scope {  // unsets the distribution however the test ends
  explicit Scope(md::distribution::DataParallel d = md::distribution::DataParallel()) {
    md::distribution::set_distribution(d);
  }
  ~Scope() { md::distribution::set_distribution(std::nullopt); }
};

}  // namespace

TEST_CASE("initialize() twice is an error", "[errors][single]") {
  CHECK_THROWS_WITH(md::distribution::initialize(),
                    "md::distribution::initialize() was already called in this process; call it once, at the start "
                    "of main().");
}

TEST_CASE("a global batch that does not divide by the process count says what to change", "[errors]") {
  const int p = md::distribution::num_processes();
  if (p == 1) return;
  md::Model model = compiled_small_model(3);
  const Scope scope;
  const int64_t batch = 4 * p + 1;
  CHECK_THROWS_WITH(model.fit(md::Tensor::ones({40, 4}), md::Tensor::ones({40, 2}), {.batch_size = batch, .verbose = 0}),
                    fmt::format("fit: the global batch_size {} does not divide by the {} processes of the job "
                                "(batch_size is the global batch, split evenly across the processes). Use a "
                                "multiple of {} such as {} or {}, or a number of processes that divides {}.",
                                batch, p, p, 4 * p, 5 * p, batch));
}

TEST_CASE("processes that built different models are told so at the start of fit", "[errors]") {
  const int p = md::distribution::num_processes();
  if (p == 1) return;
  // Process 1 builds a wider hidden layer than the others.
  md::Model model = compiled_small_model(md::distribution::process_id() == 1 ? 5 : 3);
  const Scope scope;
  CHECK_THROWS_WITH(model.fit(md::Tensor::ones({8, 4}), md::Tensor::ones({8, 2}), {.batch_size = 2 * p, .verbose = 0}),
                    Catch::StartsWith("fit: the processes disagree on the model: process(es) 1 built a model whose "
                                      "config or weight shapes differ from process 0's"));
}

TEST_CASE("processes with different sample counts are told so", "[errors]") {
  const int p = md::distribution::num_processes();
  if (p == 1) return;
  md::Model model = compiled_small_model(3);
  const Scope scope;
  const int64_t n = md::distribution::process_id() == p - 1 ? 12 : 16;
  CHECK_THROWS_WITH(model.fit(md::Tensor::ones({n, 4}), md::Tensor::ones({n, 2}), {.batch_size = 2 * p, .verbose = 0}),
                    Catch::Contains("the processes disagree on the data") &&
                        Catch::Contains(fmt::format("process {}: 12", p - 1)));
}

TEST_CASE("without mpirun: one process, no MPI, the same training bit for bit", "[single]") {
  REQUIRE(md::distribution::num_processes() == 1);
  REQUIRE(md::distribution::process_id() == 0);
  const md::Tensor x = md::random::normal({30, 4}, 0.0f, 1.0f, 1);
  const md::Tensor y = md::random::normal({30, 2}, 0.0f, 1.0f, 2);
  std::vector<std::vector<float>> runs;
  for (bool parallel : {false, true}) {
    md::random::set_global_seed(8);
    md::Model model = small_model(3);
    model.compile({.optimizer = "adam", .loss = "mse"});
    const Scope scope;
    if (!parallel) md::distribution::set_distribution(std::nullopt);
    model.fit(x, y, {.epochs = 2, .batch_size = 7, .verbose = 0, .seed = 3});
    runs.push_back(distribution_test::flat_weights(model));
  }
  CHECK(runs[0] == runs[1]);
  // initialize() found no launcher, so MPI was never started.
  CHECK_FALSE(md::compute::collectives::initialized());
}

TEST_CASE("a callback failing on one process fails fit on every process, naming it", "[errors]") {
  const int p = md::distribution::num_processes();
  if (p == 1) return;
  struct FailOnProcessOne : md::Callback {
    void on_train_begin(const md::Logs&) override {
      if (md::distribution::process_id() == 1) throw md::IOError("cannot open /data/shard-1.bin");
    }
  };
  md::Model model = compiled_small_model(3);
  const Scope scope;
  CHECK_THROWS_WITH(model.fit(md::Tensor::ones({8, 4}), md::Tensor::ones({8, 2}),
                              {.batch_size = 2 * p, .verbose = 0,
                               .callbacks = {std::make_shared<FailOnProcessOne>()}}),
                    fmt::format("fit (on_train_begin) failed on process(es) 1 of {}; process 1: cannot open "
                                "/data/shard-1.bin",
                                p));
}

TEST_CASE("a process whose x and y differ in length fails fit on every process, naming it", "[errors]") {
  const int p = md::distribution::num_processes();
  if (p == 1) return;
  md::Model model = compiled_small_model(3);
  const Scope scope;
  const int64_t y_rows = md::distribution::process_id() == 1 ? 15 : 16;
  CHECK_THROWS_WITH(model.fit(md::Tensor::ones({16, 4}), md::Tensor::ones({y_rows, 2}),
                              {.batch_size = 2 * p, .verbose = 0}),
                    fmt::format("fit failed on process(es) 1 of {}; process 1: Data cardinality is ambiguous. Make "
                                "sure all arrays contain the same number of samples. 'x' sizes: 16\n'y' sizes: 15\n",
                                p));
}

TEST_CASE("the same bad argument on every process gives one process's plain error", "[errors]") {
  if (md::distribution::num_processes() == 1) return;
  md::Model model = compiled_small_model(3);
  const Scope scope;
  CHECK_THROWS_AS(model.fit(md::Tensor::ones({8, 4}), md::Tensor::ones({8, 2}),
                            {.batch_size = 8, .verbose = 0, .validation_split = 1.5}),
                  md::ValueError);
  CHECK_THROWS_WITH(model.fit(md::Tensor::ones({8, 4}), md::Tensor::ones({8, 2}),
                              {.batch_size = 8, .verbose = 0, .validation_split = 1.5}),
                    "`validation_split` must be in [0, 1); received 1.5.");
}

TEST_CASE("a checkpoint process 0 cannot write fails fit on every process", "[errors]") {
  const int p = md::distribution::num_processes();
  if (p == 1) return;
  md::Model model = compiled_small_model(3);
  const Scope scope;
  // A directory under a regular file cannot be created, even by root.
  const auto checkpoint = std::make_shared<md::ModelCheckpoint>(
      md::ModelCheckpointOptions{.filepath = "/dev/null/checkpoints/epoch-{epoch}.keras"});
  CHECK_THROWS_WITH(model.fit(md::Tensor::ones({8, 4}), md::Tensor::ones({8, 2}),
                              {.batch_size = 2 * p, .verbose = 0, .callbacks = {checkpoint}}),
                    Catch::StartsWith(fmt::format("fit (on_epoch_end) failed on process(es) 0 of {}; process 0: ", p)) &&
                        Catch::Contains("/dev/null/checkpoints"));
}

TEST_CASE("a callback that stops training on one process stops it on all of them", "[errors]") {
  const int p = md::distribution::num_processes();
  if (p == 1) return;
  struct StopOnLastProcess : md::Callback {
    void on_epoch_end(int epoch, const md::Logs&) override {
      if (epoch == 1 && md::distribution::process_id() == md::distribution::num_processes() - 1) {
        model().set_stop_training(true);
      }
    }
  };
  md::Model model = compiled_small_model(3);
  const Scope scope;
  const md::History history = model.fit(md::Tensor::ones({8, 4}), md::Tensor::ones({8, 2}),
                                        {.epochs = 5, .batch_size = 2 * p, .verbose = 0,
                                         .callbacks = {std::make_shared<StopOnLastProcess>()}});
  CHECK(history.epoch == std::vector<int>{0, 1});
}

TEST_CASE("BackupAndRestore: Keras's argument errors; a backup resumes at its epoch", "[errors][single]") {
  CHECK_THROWS_WITH(md::BackupAndRestore({}), "Empty `backup_dir` argument passed");
  CHECK_THROWS_WITH(md::BackupAndRestore({.backup_dir = "b", .save_freq = std::string("batch")}),
                    "Invalid value for argument `save_freq`. Received: save_freq=batch. Expected either 'epoch' or "
                    "an integer value.");
  if (md::distribution::num_processes() > 1) return;
  const std::string dir = "backup_and_restore_test";
  std::filesystem::remove_all(dir);
  const md::Tensor x = md::random::normal({12, 4}, 0.0f, 1.0f, 1);
  const md::Tensor y = md::random::normal({12, 2}, 0.0f, 1.0f, 2);
  // Interrupted after epoch 2 of 3: the backup holds epoch 2, weights and optimizer state.
  struct StopAfterTwo : md::Callback {
    void on_epoch_begin(int epoch, const md::Logs&) override {
      if (epoch == 2) throw md::ValueError("interrupted");
    }
  };
  md::random::set_global_seed(5);
  md::Model full = compiled_small_model(3);
  md::random::set_global_seed(5);
  md::Model resumed = compiled_small_model(3);
  full.fit(x, y, {.epochs = 3, .batch_size = 4, .verbose = 0, .seed = 9});
  const auto backup = std::make_shared<md::BackupAndRestore>(md::BackupAndRestoreOptions{.backup_dir = dir});
  CHECK_THROWS_WITH(resumed.fit(x, y, {.epochs = 3, .batch_size = 4, .verbose = 0,
                                       .callbacks = {backup, std::make_shared<StopAfterTwo>()}, .seed = 9}),
                    "interrupted");
  CHECK(std::filesystem::exists(dir + "/latest.weights.h5"));
  // A new process would build the model afresh: other starting weights, all replaced by the backup's.
  md::random::set_global_seed(77);
  md::Model restarted = compiled_small_model(3);
  CHECK(distribution_test::flat_weights(restarted) != distribution_test::flat_weights(full));
  const md::History rest = restarted.fit(x, y, {.epochs = 3, .batch_size = 4, .verbose = 0, .callbacks = {backup},
                                                .seed = 9});
  CHECK(rest.epoch == std::vector<int>{2});
  CHECK(distribution_test::flat_weights(restarted) == distribution_test::flat_weights(full));
  CHECK_FALSE(std::filesystem::exists(dir));  // delete_checkpoint: removed when fit() ends
}
