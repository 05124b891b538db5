#include "minidl/autograd/detail/tape_record.h"

namespace minidl::autograd::detail {
namespace {

// Enough for the records of a large step (an unrolled recurrent network records thousands of
// ops, and those come back together when its tape goes); beyond it, dropped records are freed.
constexpr size_t kMaxPooledRecordsPerThread = 4096;

class RecordPool {
 public:
  RecordPool() = default;
  RecordPool(const RecordPool&) = delete;
  RecordPool& operator=(const RecordPool&) = delete;
  ~RecordPool() {
    for (Record* record : free_) delete record;
    // Records dropped after this (a tape that outlives the thread's other statics) are freed.
    alive_ = false;
  }

  Record* take() {
    if (free_.empty()) return nullptr;
    Record* record = free_.back();
    free_.pop_back();
    return record;
  }
  bool keep(Record* record) {
    if (free_.size() >= kMaxPooledRecordsPerThread) return false;
    free_.push_back(record);
    return true;
  }
  // A trivially destructible thread_local: still readable after the pool is gone.
  static bool alive() { return alive_; }

 private:
  std::vector<Record*> free_;
  static thread_local bool alive_;
};

thread_local bool RecordPool::alive_ = true;

RecordPool& thread_record_pool() {
  thread_local RecordPool pool;
  return pool;
}

}  // namespace

Record* acquire_record() {
  if (RecordPool::alive()) {
    if (Record* record = thread_record_pool().take()) return record;
  }
  return new Record;
}

void release_record(Record* record) {
  if (record->holders.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // What the record keeps alive goes now; its vectors keep their capacity for the next op.
  record->saved.clear();
  record->backward = nullptr;
  if (RecordPool::alive() && thread_record_pool().keep(record)) return;
  delete record;
}

}  // namespace minidl::autograd::detail
