#pragma once
// Private to autograd/: one recorded op on a GradientTape, and the handle the tapes hold it by.
//
// A training step records every op it runs, so records are made and dropped at the rate ops
// run. A record's own allocations (the record, its vectors, each shape copied into them) were
// ten of the ~230 heap allocations of bench/autograd_bench's 32-32-1 step per op: a dropped
// record therefore goes back to a per-thread free list with its vectors' capacity, and the next
// op's record is filled in place (acquire_record).
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "minidl/autograd/record.h"
#include "minidl/core/shape.h"
#include "minidl/core/tensor.h"

namespace minidl::autograd::detail {

struct Record {
  struct Input {
    uint64_t id;
    bool differentiable;
  };
  struct Output {
    uint64_t id;
    Shape shape;  // for a zero gradient when nothing reached this output
  };
  std::string op_name;
  std::vector<Input> inputs;
  std::vector<Shape> input_shapes;
  std::vector<Output> outputs;
  UnreachedOutputGrads unreached_output_grads = UnreachedOutputGrads::zeros;  // what an unreached output's rule gets
  std::vector<Tensor> saved;
  std::vector<uint64_t> saved_versions;
  BackwardFn backward;

  // How many tapes hold this record (nested tapes share one). Atomic although the tapes that
  // share a record are one thread's, so that a tape handed to another thread stays safe.
  std::atomic<int> holders{0};
};

// A recycled (or new) record with no holders. Its vectors may still hold the elements of an
// earlier op, kept for their capacity: the caller resizes and overwrites every one of them.
Record* acquire_record();
// Drops one holder; the last one's release clears what the record keeps alive (saved tensors,
// the gradient rule's captures) and returns it to this thread's free list.
void release_record(Record* record);

// What a tape holds a record by: shares it like a shared_ptr, without a control block.
class RecordRef {
 public:
  RecordRef() = default;
  explicit RecordRef(Record* record) : record_(record) { record_->holders.fetch_add(1, std::memory_order_relaxed); }
  RecordRef(const RecordRef& other) : record_(other.record_) {
    if (record_ != nullptr) record_->holders.fetch_add(1, std::memory_order_relaxed);
  }
  RecordRef(RecordRef&& other) noexcept : record_(std::exchange(other.record_, nullptr)) {}
  RecordRef& operator=(RecordRef other) noexcept {
    std::swap(record_, other.record_);
    return *this;
  }
  ~RecordRef() {
    if (record_ != nullptr) release_record(record_);
  }

  explicit operator bool() const { return record_ != nullptr; }
  const Record& operator*() const { return *record_; }
  // Write access, for filling in a record before any tape holds it.
  Record& edit() const { return *record_; }
  const Record* operator->() const { return record_; }

 private:
  Record* record_ = nullptr;
};

}  // namespace minidl::autograd::detail
