#pragma once
// The thread count for all of minidl's compute: oneDNN primitives and our own loops share one
// OpenMP pool. Defaults to OMP_NUM_THREADS, or the number of cores.
//   md::set_num_threads(2);
namespace minidl {

void set_num_threads(int n);
int get_num_threads();

// Denormals: floats below 2^-126 are flushed to zero (FTZ) and read as zero (DAZ) while minidl
// computes, as TensorFlow does, because x86 takes a microcode path on them that is tens of
// times slower (bench/denormal_bench.cpp measures it). On by default; off keeps IEEE gradual
// underflow:
//   md::set_flush_denormals(false);
void set_flush_denormals(bool on);
bool flush_denormals();

// While alive, FTZ/DAZ (when on) hold on the calling thread and on the OpenMP threads its
// parallel regions use; the calling thread's own mode comes back at the end, so the rest of a
// program keeps IEEE arithmetic. fit, evaluate and predict hold one per batch; hold one around
// eager layer calls to get the same:
//   { md::DenormalsFlushed flushed; y = layer(x); }
class DenormalsFlushed {
 public:
  DenormalsFlushed();
  ~DenormalsFlushed();
  DenormalsFlushed(const DenormalsFlushed&) = delete;
  DenormalsFlushed& operator=(const DenormalsFlushed&) = delete;

 private:
  unsigned previous_;
};

}  // namespace minidl
