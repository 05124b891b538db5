// Tensors' TensorImpl and Storage come from the per-thread buffer cache (core/detail/
// buffer_cache_allocator.h): a tensor made on one thread and dropped on another must be counted
// and freed like any other, and values must survive the reuse of blocks.
#include <minidl/minidl.h>

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

namespace md = minidl;

TEST_CASE("tensors made on one thread and dropped on another", "[core][tensor][memory]") {
  const md::MemoryStats before = md::memory_stats();
  std::vector<md::Tensor> made_there;
  std::thread([&] {
    for (int i = 0; i < 200; ++i) made_there.push_back(md::Tensor::full({3, static_cast<int64_t>(i % 7 + 1)}, float(i)));
  }).join();
  for (int i = 0; i < 200; ++i) REQUIRE(made_there[static_cast<size_t>(i)].data()[0] == float(i));
  made_there.clear();  // dropped here: the blocks join this thread's cache
  CHECK(md::memory_stats().live_buffers == before.live_buffers);

  std::vector<md::Tensor> made_here;
  for (int i = 0; i < 200; ++i) made_here.push_back(md::Tensor::full({static_cast<int64_t>(i % 5 + 1)}, float(-i)));
  std::thread([moved = std::move(made_here)]() mutable { moved.clear(); }).join();
  CHECK(md::memory_stats().live_buffers == before.live_buffers);
}

TEST_CASE("reused blocks hold each new tensor's own shape and values", "[core][tensor][memory]") {
  for (int round = 0; round < 50; ++round) {
    std::vector<md::Tensor> tensors;
    for (int i = 0; i < 20; ++i) {
      const md::Shape shape = (i % 2 == 0) ? md::Shape{2, 3} : md::Shape{static_cast<int64_t>(i)};
      tensors.push_back(md::Tensor::full(shape, static_cast<float>(round * 100 + i)));
      tensors.push_back(tensors.back().reshape({-1}));  // a view: a second TensorImpl, one Storage
    }
    for (size_t i = 0; i < tensors.size(); i += 2) {
      const int k = static_cast<int>(i / 2);
      REQUIRE(tensors[i].shape() == ((k % 2 == 0) ? md::Shape{2, 3} : md::Shape{k}));
      REQUIRE(tensors[i + 1].same_storage(tensors[i]));
      for (float v : tensors[i].to_vector()) REQUIRE(v == static_cast<float>(round * 100 + k));
    }
  }
}
