// md::compute::collectives: the backend's MPI collectives on spans (core/compute.h).
#include <fmt/format.h>

#include "minidl/core/backend/backend.h"
#include "minidl/core/compute.h"
#include "minidl/core/error.h"

namespace minidl::compute::collectives {
namespace {

// The backend's failures (std::runtime_error with MPI's text) as minidl's own.
template <typename F>
auto guarded(F&& f) {
  try {
    return f();
  } catch (const std::exception& e) {
    throw Error(e.what());
  }
}

template <typename T>
std::vector<T> gather(std::span<const T> send) {
  std::vector<T> out(send.size() * static_cast<size_t>(size()));
  guarded([&] { backend::mpi_allgather(send.data(), static_cast<int64_t>(send.size()), out.data()); });
  return out;
}

}  // namespace

bool launched() { return backend::mpi_launched(); }
bool initialized() { return backend::mpi_initialized(); }
void init() { guarded([] { backend::mpi_init(); }); }
int rank() { return guarded([] { return backend::mpi_rank(); }); }
int size() { return guarded([] { return backend::mpi_size(); }); }

void allreduce_sum(std::span<float> data) {
  guarded([&] { backend::mpi_allreduce_sum(data.data(), static_cast<int64_t>(data.size())); });
}
void allreduce_sum(std::span<double> data) {
  guarded([&] { backend::mpi_allreduce_sum(data.data(), static_cast<int64_t>(data.size())); });
}
void broadcast(std::span<float> data, int root) {
  guarded([&] { backend::mpi_broadcast(data.data(), static_cast<int64_t>(data.size()), root); });
}

std::vector<float> allgather(std::span<const float> send) { return gather(send); }
std::vector<double> allgather(std::span<const double> send) { return gather(send); }
std::vector<uint64_t> allgather(std::span<const uint64_t> send) { return gather(send); }

std::vector<float> allgatherv(std::span<const float> send, const std::vector<int64_t>& counts) {
  const auto me = static_cast<size_t>(rank());
  if (counts.size() != static_cast<size_t>(size()) || counts[me] != static_cast<int64_t>(send.size())) {
    throw ValueError(fmt::format("allgatherv: {} counts for {} processes, and this process's count {} is not the "
                                 "{} elements it sends.",
                                 counts.size(), size(), me < counts.size() ? counts[me] : -1, send.size()));
  }
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  std::vector<float> out(static_cast<size_t>(total));
  guarded([&] { backend::mpi_allgatherv(send.data(), static_cast<int64_t>(send.size()), out.data(), counts); });
  return out;
}

void barrier() { guarded([] { backend::mpi_barrier(); }); }
void abort(int code) { backend::mpi_abort(code); }

}  // namespace minidl::compute::collectives
