// Collectives across processes on Open MPI (backend.h, "collectives across processes"): the only
// file that includes <mpi.h>. md::distribution (models/distribution.h) is the public face.
// The C API only: Open MPI's (deprecated) C++ bindings would need libmpi_cxx.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "minidl/core/backend/backend.h"

namespace minidl::backend {
namespace {

// MPI counts are ints: longer buffers go in pieces of this many elements.
constexpr int64_t kMaxCount = INT_MAX / 2;

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(rc, text, &length);
  int rank = -1;
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  throw std::runtime_error(std::string(what) + " failed on process " + std::to_string(rank) + ": " + std::string(text, length));
}

// At exit (glibc's on_exit, which is told the exit status): a process that ends normally
// finalizes MPI; one that ends with an error (main returned non-zero after catching, say, that
// it cannot open its data) aborts the whole job instead. MPI_Finalize waits for every process,
// and the others may be waiting in a collective for this one: finalizing would hang the job.
void finalize_at_exit(int status, void* /*unused*/) {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (finalized) return;
  if (status == 0) {
    MPI_Finalize();
    return;
  }
  int rank = -1;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  std::fprintf(stderr, "minidl: process %d exits with status %d; ending the whole job (MPI_Abort) so that no "
                       "other process waits for it\n", rank, status);
  MPI_Abort(MPI_COMM_WORLD, status);
}

template <typename T>
void allreduce_sum(T* data, int64_t n, MPI_Datatype type) {
  for (int64_t begin = 0; begin < n; begin += kMaxCount) {
    const auto count = static_cast<int>(std::min(kMaxCount, n - begin));
    check(MPI_Allreduce(MPI_IN_PLACE, data + begin, count, type, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
  }
}

template <typename T>
void allgather(const T* send, int64_t n, T* recv, MPI_Datatype type) {
  if (n > kMaxCount) throw std::length_error("allgather of " + std::to_string(n) + " elements per process is too large.");
  check(MPI_Allgather(send, static_cast<int>(n), type, recv, static_cast<int>(n), type, MPI_COMM_WORLD),
        "MPI_Allgather");
}

}  // namespace

bool mpi_launched() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; PMIx and PMI launchers (srun, hydra) set theirs.
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

bool mpi_initialized() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  return initialized != 0;
}

void mpi_init() {
  int provided = 0;
  check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
  check(MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  on_exit(finalize_at_exit, nullptr);
}

int mpi_rank() {
  int rank = 0;
  check(MPI_Comm_rank(MPI_COMM_WORLD, &rank), "MPI_Comm_rank");
  return rank;
}

int mpi_size() {
  int size = 1;
  check(MPI_Comm_size(MPI_COMM_WORLD, &size), "MPI_Comm_size");
  return size;
}

void mpi_allreduce_sum(float* data, int64_t n) { allreduce_sum(data, n, MPI_FLOAT); }
void mpi_allreduce_sum(double* data, int64_t n) { allreduce_sum(data, n, MPI_DOUBLE); }

void mpi_broadcast(float* data, int64_t n, int root) {
  for (int64_t begin = 0; begin < n; begin += kMaxCount) {
    const auto count = static_cast<int>(std::min(kMaxCount, n - begin));
    check(MPI_Bcast(data + begin, count, MPI_FLOAT, root, MPI_COMM_WORLD), "MPI_Bcast");
  }
}

void mpi_allgather(const float* send, int64_t n, float* recv) { allgather(send, n, recv, MPI_FLOAT); }
void mpi_allgather(const double* send, int64_t n, double* recv) { allgather(send, n, recv, MPI_DOUBLE); }
void mpi_allgather(const uint64_t* send, int64_t n, uint64_t* recv) { allgather(send, n, recv, MPI_UINT64_T); }

void mpi_allgatherv(const float* send, int64_t n, float* recv, const std::vector<int64_t>& counts) {
  std::vector<int> recv_counts(counts.size()), displacements(counts.size());
  int64_t offset = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    if (offset + counts[r] > INT_MAX) throw std::length_error("allgatherv of " + std::to_string(offset + counts[r]) +
                                                       " elements in all is too large.");
    recv_counts[r] = static_cast<int>(counts[r]);
    displacements[r] = static_cast<int>(offset);
    offset += counts[r];
  }
  check(MPI_Allgatherv(send, static_cast<int>(n), MPI_FLOAT, recv, recv_counts.data(), displacements.data(),
                       MPI_FLOAT, MPI_COMM_WORLD),
        "MPI_Allgatherv");
}

void mpi_barrier() { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }

void mpi_abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] honest if it did
}

}  // namespace minidl::backend
