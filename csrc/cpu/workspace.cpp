#include "cpu/workspace.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <cstdlib>
#include <list>
#include <memory>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace specdiff::cpu {

namespace {

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

struct Buffer {
  std::unique_ptr<char, FreeDeleter> data;
  int64_t bytes = 0;
};

char* grown(Buffer& buffer, int64_t bytes) {
  if (bytes > buffer.bytes) {
    // Grown geometrically, so a thread that sees slowly growing sizes reallocates only a few times.
    const int64_t want = std::max<int64_t>(bytes, buffer.bytes + buffer.bytes / 2);
    const size_t size = static_cast<size_t>((want + 63) / 64 * 64);
    buffer.data.reset();
    void* p = std::aligned_alloc(64, size);
    if (p == nullptr) throw std::bad_alloc();
    buffer.data.reset(static_cast<char*>(p));
    buffer.bytes = static_cast<int64_t>(size);
  }
  return buffer.data.get();
}

// kept_empty's blocks. Sizes are rounded up to 64 bytes; a request takes the most recently idled block of its size.
class KeptPool {
 public:
  void* acquire(int64_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = idle_.begin(); it != idle_.end(); ++it) {
        if (it->first == bytes) {
          void* p = it->second;
          idle_.erase(it);
          idle_bytes_ -= bytes;
          in_use_ += bytes;
          peak_ = std::max(peak_, in_use_);
          return p;
        }
      }
    }
    void* p = std::aligned_alloc(64, static_cast<size_t>(bytes));
    if (p == nullptr) throw std::bad_alloc();
    std::lock_guard<std::mutex> lock(mutex_);
    in_use_ += bytes;
    peak_ = std::max(peak_, in_use_);
    return p;
  }

  void release(void* p, int64_t bytes) {
    std::vector<void*> freed;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      in_use_ -= bytes;
      idle_.emplace_front(bytes, p);
      idle_bytes_ += bytes;
      while (idle_bytes_ > peak_ && !idle_.empty()) {  // the longest idle first
        idle_bytes_ -= idle_.back().first;
        freed.push_back(idle_.back().second);
        idle_.pop_back();
      }
    }
    for (void* q : freed) std::free(q);
  }

  KeptBytes bytes() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {in_use_, idle_bytes_, peak_};
  }

 private:
  std::mutex mutex_;
  std::list<std::pair<int64_t, void*>> idle_;  // most recently idled first
  int64_t idle_bytes_ = 0, in_use_ = 0, peak_ = 0;
};

// Never destroyed: a tensor may die after static destructors have run.
KeptPool& kept_pool() {
  static KeptPool* pool = new KeptPool;
  return *pool;
}

}  // namespace

at::Tensor kept_empty(at::IntArrayRef sizes, const at::TensorOptions& options) {
  int64_t count = 1;
  for (const int64_t n : sizes) count *= n;
  const int64_t bytes = std::max<int64_t>((count * static_cast<int64_t>(options.dtype().itemsize()) + 63) / 64 * 64, 64);
  void* p = kept_pool().acquire(bytes);
  return at::from_blob(p, sizes, [bytes](void* q) { kept_pool().release(q, bytes); }, options);
}

KeptBytes kept_bytes() { return kept_pool().bytes(); }

char* thread_workspace(int64_t bytes) {
  thread_local Buffer buffer;
  return grown(buffer, bytes);
}

char* call_workspace(CallSlot slot, int64_t bytes) {
  thread_local Buffer buffers[static_cast<int>(CallSlot::count)];
  return grown(buffers[static_cast<int>(slot)], bytes);
}

}  // namespace specdiff::cpu
