#pragma once
// minidl::Shared<T> — state that every copy of a handle shares. Operations and layers are
// handles (copies are the same object), so whatever they set after construction lives behind
// one of these: allocated with the object, never null, copied as a pointer.
//   struct State { md::Variable kernel; };
//   md::Shared<State> state_;   // state_->kernel, the same in every copy
#include <memory>

namespace minidl {

template <class T>
class Shared {
 public:
  Shared() : ptr_(std::make_shared<T>()) {}
  T* operator->() const { return ptr_.get(); }
  T& operator*() const { return *ptr_; }
  T* get() const { return ptr_.get(); }
  // Whether two handles share one state.
  friend bool operator==(const Shared& a, const Shared& b) { return a.ptr_ == b.ptr_; }

 private:
  std::shared_ptr<T> ptr_;
};

}  // namespace minidl
