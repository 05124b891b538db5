#pragma once
// Private to autograd/: a per-thread list of heap objects kept for reuse (tape records, tensor-id
// tables), so that a training step does not allocate them anew. Objects are kept by the thread
// that gives them back, up to kMaxKept; past that, or once the thread's list is destroyed (a tape
// that outlives its thread's other statics), they are freed.
//   using Spares = ThreadFreeList<TensorIdTable, 8>;
//   std::unique_ptr<TensorIdTable> table = Spares::take();  // nullptr: make a new one
//   Spares::give(std::move(table));
#include <cstddef>
#include <memory>
#include <vector>

namespace minidl::autograd::detail {

template <class T, size_t kMaxKept>
class ThreadFreeList {
 public:
  // One of this thread's kept objects, or nullptr when it has none.
  static std::unique_ptr<T> take() {
    if (!alive_) return nullptr;
    std::vector<std::unique_ptr<T>>& kept = list().kept;
    if (kept.empty()) return nullptr;
    std::unique_ptr<T> object = std::move(kept.back());
    kept.pop_back();
    return object;
  }
  // Keeps `object` for this thread's next take(), or frees it.
  static void give(std::unique_ptr<T> object) {
    if (!alive_) return;
    std::vector<std::unique_ptr<T>>& kept = list().kept;
    if (kept.size() < kMaxKept) kept.push_back(std::move(object));
  }

 private:
  struct List {
    List() = default;
    List(const List&) = delete;
    List& operator=(const List&) = delete;
    ~List() { alive_ = false; }
    std::vector<std::unique_ptr<T>> kept;
  };
  static List& list() {
    thread_local List instance;
    return instance;
  }
  // Trivially destructible, so still readable after the thread's List is gone.
  static thread_local bool alive_;
};

template <class T, size_t kMaxKept>
thread_local bool ThreadFreeList<T, kMaxKept>::alive_ = true;

}  // namespace minidl::autograd::detail
