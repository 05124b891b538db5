#include "minidl/autograd/detail/tape_id_table.h"

#include "minidl/autograd/detail/thread_free_list.h"

namespace minidl::autograd::detail {
namespace {

// A few spares cover nested tapes and calls; more would only hold memory.
using SpareTensorIdTables = ThreadFreeList<TensorIdTable, 8>;

}  // namespace

TensorIdTable::Lease::Lease() : map_(SpareTensorIdTables::take()) {
  if (map_ == nullptr) map_ = std::make_unique<TensorIdTable>();
}

TensorIdTable::Lease::~Lease() {
  map_->reset();
  SpareTensorIdTables::give(std::move(map_));
}

}  // namespace minidl::autograd::detail
