#include "minidl/core/threading.h"

#include <fmt/format.h>

#include "minidl/core/backend/backend.h"
#include "minidl/core/error.h"

namespace minidl {

void set_num_threads(int n) {
  if (n < 1) throw ValueError(fmt::format("The number of threads must be at least 1. Received: {}", n));
  backend::set_num_threads(n);
}

int get_num_threads() { return backend::get_num_threads(); }

void set_flush_denormals(bool on) { backend::set_flush_denormals(on); }
bool flush_denormals() { return backend::flush_denormals(); }

DenormalsFlushed::DenormalsFlushed() : previous_(backend::enter_flushed_denormals()) {}
DenormalsFlushed::~DenormalsFlushed() { backend::restore_float_mode(previous_); }

}  // namespace minidl
