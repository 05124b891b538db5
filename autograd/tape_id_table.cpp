#include "minidl/autograd/detail/tape_id_table.h"

namespace minidl::autograd::detail {
namespace {

// This thread's spare tables. Trivially destructible holder: a lease ending after the thread's
// statics are gone frees its table instead.
struct SpareTensorIdTables {
  SpareTensorIdTables() = default;
  SpareTensorIdTables(const SpareTensorIdTables&) = delete;
  SpareTensorIdTables& operator=(const SpareTensorIdTables&) = delete;
  ~SpareTensorIdTables() { alive = false; }
  std::vector<std::unique_ptr<TensorIdTable>> maps;
  static thread_local bool alive;
};

thread_local bool SpareTensorIdTables::alive = true;

SpareTensorIdTables& spare_id_tables() {
  thread_local SpareTensorIdTables spares;
  return spares;
}

}  // namespace

TensorIdTable::Lease::Lease() {
  if (SpareTensorIdTables::alive && !spare_id_tables().maps.empty()) {
    map_ = std::move(spare_id_tables().maps.back());
    spare_id_tables().maps.pop_back();
  } else {
    map_ = std::make_unique<TensorIdTable>();
  }
}

TensorIdTable::Lease::~Lease() {
  map_->reset();
  // A few spares cover nested tapes and calls; more would only hold memory.
  constexpr size_t kMaxSpares = 8;
  if (SpareTensorIdTables::alive && spare_id_tables().maps.size() < kMaxSpares) {
    spare_id_tables().maps.push_back(std::move(map_));
  }
}

}  // namespace minidl::autograd::detail
