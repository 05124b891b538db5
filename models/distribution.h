#pragma once
// Data-parallel training across processes and machines on Open MPI (Keras 3's
// keras.distribution names). Every process runs the same program on the same data; fit() gives
// each its shard of every global batch, averages the gradients with MPI_Allreduce and applies the
// same update everywhere, so the processes hold the same weights at every step.
//
//   md::distribution::initialize();                          // MPI_Init_thread under mpirun
//   md::distribution::set_distribution(md::distribution::DataParallel());
//   model.fit(x, y, {.epochs = 5, .batch_size = 256});      // batch_size is the GLOBAL batch
//   if (md::distribution::process_id() == 0) model.save("model.keras");
//
//   $ mpirun -np 2 ./train                                   # one machine
//   $ mpirun -np 8 --hostfile hosts ./train                  # several (see README)
//
// Started without mpirun, num_processes() is 1 and fit() makes no MPI call at all.
#include <cstdint>
#include <optional>

namespace minidl::distribution {

struct DataParallelOptions {
  // Sum gradients in rank order (allgather, then a fixed-order sum) instead of MPI_Allreduce:
  // results are bitwise independent of MPI's reduction algorithm and of the network.
  bool deterministic = false;
  // Gradients travel in flat buckets of at most this many bytes (the last weights first); a
  // weight larger than the cap travels alone. The same buckets, in the same order, everywhere.
  int64_t bucket_bytes = int64_t{25} << 20;
};

// Keras's keras.distribution.DataParallel: the model is replicated on every process and each
// global batch is split across them.
//   md::distribution::set_distribution(md::distribution::DataParallel({.deterministic = true}));
class DataParallel {
 public:
  explicit DataParallel(DataParallelOptions options = {});
  const DataParallelOptions& options() const { return options_; }

 private:
  DataParallelOptions options_;
};

// Joins the job mpirun started (MPI_Init_thread); a no-op for a process started on its own.
// Call it once, first thing in main(). Throws md::Error when called twice, or when something
// else has already initialized MPI (minidl must own MPI's set-up to turn its errors into
// exceptions).
void initialize();
// This process's rank in the job (0 without mpirun).
int process_id();
// The number of processes in the job (1 without mpirun).
int num_processes();

// The distribution fit(), evaluate() and predict() use from now on; std::nullopt goes back to
// one process's training (Keras's set_distribution(None)).
void set_distribution(std::optional<DataParallel> distribution);
// The current one (Keras's keras.distribution.distribution()).
std::optional<DataParallel> distribution();

}  // namespace minidl::distribution
