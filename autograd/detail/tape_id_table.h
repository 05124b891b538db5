#pragma once
// Private to autograd/: a table keyed by tensor id, with a flag and a tensor per id. A tape keeps
// the ids it watches in one (the flag); GradientTape::gradient() keeps in another whether a
// tensor depends on a source (the flag) and the gradient summed into it so far (the tensor).
//
// Open addressing (linear probing) in place of the unordered_set and unordered_map used before:
// those allocated a node per insert and a bucket array per tape and per call, about 50
// allocations in the 32-32-1 step of bench/autograd_bench. Tables are leased from a per-thread
// stack (Lease) and keep their capacity from one tape or call to the next; nested tapes and a
// gradient() inside a gradient rule lease tables of their own.
#include <algorithm>
#include <bit>
#include <cstdint>
#include <memory>
#include <vector>

#include "minidl/core/tensor.h"

namespace minidl::autograd::detail {

class TensorIdTable {
 public:
  // Room for about `expected_ids` ids without regrowing (the table stays at most half full).
  void prepare(size_t expected_ids) {
    const size_t wanted = std::bit_ceil(std::max<size_t>(2 * expected_ids, 16));
    if (slots_.size() < wanted) slots_.assign(wanted, Slot{});
  }

  // Ids are never 0 (tensor ids start at 1; a record marks an undefined input with 0).
  void mark(uint64_t id) { slot_for(id).marked = true; }
  bool marked(uint64_t id) const {
    const Slot* slot = find(id);
    return slot != nullptr && slot->marked;
  }
  // The tensor kept for `id`; nullptr when none is.
  const Tensor* tensor(uint64_t id) const {
    const Slot* slot = find(id);
    return slot != nullptr && slot->tensor.defined() ? &slot->tensor : nullptr;
  }
  // Where the tensor of `id` is kept (undefined until set).
  Tensor& tensor_slot(uint64_t id) { return slot_for(id).tensor; }

  // Empties the used slots (dropping their tensors) and keeps the table for the next user; a
  // table grown by a very large graph is given back instead.
  void reset() {
    for (size_t index : used_) slots_[index] = Slot{};
    used_.clear();
    if (slots_.size() > kLargestKeptSlots) {
      slots_ = {};
      used_.shrink_to_fit();
    }
  }

  // A table for one tape or gradient() call: this thread's spare one, or a new one when every
  // spare is in use. Returned, emptied, when the lease ends (on whichever thread that is).
  class Lease {
   public:
    Lease();
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    TensorIdTable& operator*() const { return *map_; }
    TensorIdTable* operator->() const { return map_.get(); }

   private:
    std::unique_ptr<TensorIdTable> map_;
  };

 private:
  static constexpr size_t kLargestKeptSlots = size_t{1} << 16;

  struct Slot {
    uint64_t id = 0;
    bool marked = false;
    Tensor tensor;
  };

  size_t home(uint64_t id) const {
    // Fibonacci hashing: consecutive ids (as tensors get them) spread over the table.
    return static_cast<size_t>((id * 0x9E3779B97F4A7C15ull) >> (64 - std::countr_zero(slots_.size())));
  }
  const Slot* find(uint64_t id) const {
    if (id == 0 || slots_.empty()) return nullptr;
    const size_t mask = slots_.size() - 1;
    for (size_t i = home(id);; i = (i + 1) & mask) {
      if (slots_[i].id == id) return &slots_[i];
      if (slots_[i].id == 0) return nullptr;
    }
  }
  Slot& slot_for(uint64_t id) {
    if (2 * (used_.size() + 1) > slots_.size()) grow();
    const size_t mask = slots_.size() - 1;
    for (size_t i = home(id);; i = (i + 1) & mask) {
      if (slots_[i].id == id) return slots_[i];
      if (slots_[i].id == 0) {
        slots_[i].id = id;
        used_.push_back(i);
        return slots_[i];
      }
    }
  }
  void grow() {
    std::vector<Slot> old = std::move(slots_);
    std::vector<size_t> old_used = std::move(used_);
    slots_.assign(std::max<size_t>(2 * old.size(), 16), Slot{});
    used_.clear();
    for (size_t index : old_used) {
      Slot& moved = slot_for(old[index].id);
      moved.marked = old[index].marked;
      moved.tensor = std::move(old[index].tensor);
    }
  }

  std::vector<Slot> slots_;
  std::vector<size_t> used_;  // indices of the filled slots, for reset()
};

}  // namespace minidl::autograd::detail
