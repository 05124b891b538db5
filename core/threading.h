#pragma once
// The thread count for all of minidl's compute: oneDNN primitives and our own loops share one
// OpenMP pool. Defaults to OMP_NUM_THREADS, or the number of cores.
//   md::set_num_threads(2);
namespace minidl {

void set_num_threads(int n);
int get_num_threads();

}  // namespace minidl
