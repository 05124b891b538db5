// Flush-to-zero (FTZ) and denormals-are-zero (DAZ): the two MXCSR bits that make x86's SSE/AVX
// units treat floats below 2^-126 as zero instead of taking a slow microcode path (backend.h).
// MXCSR is per thread, so the OpenMP workers are set from inside a parallel region, and the
// calling thread only for the scope of an md::DenormalsFlushed (core/threading.h).
#include <omp.h>

#include <atomic>

#include "minidl/core/backend/backend.h"

#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
#define MINIDL_HAVE_MXCSR 1
#endif

namespace minidl::backend {
namespace {

std::atomic<bool> g_flush{true};

#ifdef MINIDL_HAVE_MXCSR
constexpr unsigned kFlushBits = 0x8000u /* FTZ */ | 0x0040u /* DAZ */;
unsigned read_mode() { return _mm_getcsr(); }
void write_mode(unsigned mode) { _mm_setcsr(mode); }
#else
constexpr unsigned kFlushBits = 0;
unsigned read_mode() { return 0; }
void write_mode(unsigned) {}
#endif

// Sets (or clears) the bits on every thread of a team of `threads` started from this thread,
// except this thread, whose mode the caller manages.
void set_team(int threads, bool on) {
#pragma omp parallel num_threads(threads)
  {
    if (omp_get_thread_num() != 0) write_mode(on ? (read_mode() | kFlushBits) : (read_mode() & ~kFlushBits));
  }
}

// The team size this thread last set its workers for, and with which setting: a larger team
// (set_num_threads) or a changed setting sets them again. libgomp keeps a pool per thread that
// starts regions, so each training thread has its own.
thread_local int t_team_set = 0;
thread_local bool t_team_on = false;

}  // namespace

void set_flush_denormals(bool on) { g_flush.store(on, std::memory_order_relaxed); }
bool flush_denormals() { return g_flush.load(std::memory_order_relaxed); }

unsigned enter_flushed_denormals() {
  const unsigned previous = read_mode();
  if (kFlushBits == 0) return previous;
  const bool on = flush_denormals();
  const int threads = omp_in_parallel() ? 1 : omp_get_max_threads();
  if (threads > 1 && (threads > t_team_set || on != t_team_on)) {
    set_team(threads, on);
    t_team_set = threads;
    t_team_on = on;
  }
  if (on && (previous & kFlushBits) != kFlushBits) write_mode(previous | kFlushBits);
  return previous;
}

void restore_float_mode(unsigned previous) {
  if (read_mode() != previous) write_mode(previous);
}

bool thread_flushes_denormals() { return kFlushBits != 0 && (read_mode() & kFlushBits) == kFlushBits; }

std::vector<bool> team_flushes_denormals() {
  const int threads = get_num_threads();
  std::vector<bool> flushed(static_cast<size_t>(threads), false);
  std::vector<char> seen(static_cast<size_t>(threads), 0);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    seen[static_cast<size_t>(t)] = thread_flushes_denormals() ? 1 : 0;
  }
  for (int t = 0; t < threads; ++t) flushed[static_cast<size_t>(t)] = seen[static_cast<size_t>(t)] != 0;
  return flushed;
}

}  // namespace minidl::backend
