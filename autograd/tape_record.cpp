#include "minidl/autograd/detail/tape_record.h"

#include <memory>

#include "minidl/autograd/detail/thread_free_list.h"

namespace minidl::autograd::detail {
namespace {

// Enough for the records of a large step (an unrolled recurrent network records thousands of
// ops, and those come back together when its tape goes); beyond it, dropped records are freed.
constexpr size_t kMaxPooledRecordsPerThread = 4096;
using RecordFreeList = ThreadFreeList<Record, kMaxPooledRecordsPerThread>;

}  // namespace

Record* acquire_record() {
  if (std::unique_ptr<Record> kept = RecordFreeList::take()) return kept.release();
  return new Record;
}

void release_record(Record* record) {
  if (record->holders.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  // What the record keeps alive goes now; its vectors keep their capacity for the next op.
  record->saved.clear();
  record->backward = nullptr;
  RecordFreeList::give(std::unique_ptr<Record>(record));
}

}  // namespace minidl::autograd::detail
