#include "cpu/workspace.h"

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>

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

}  // namespace

char* thread_workspace(int64_t bytes) {
  thread_local Buffer buffer;
  return grown(buffer, bytes);
}

char* call_workspace(CallSlot slot, int64_t bytes) {
  thread_local Buffer buffers[static_cast<int>(CallSlot::count)];
  return grown(buffers[static_cast<int>(slot)], bytes);
}

}  // namespace specdiff::cpu
