// Per-thread scratch memory that does not go through the allocator on every call: each thread keeps one buffer,
// grown when a call needs more and reused by every later call on that thread (the kernels' OpenMP threads live as
// long as the process). So a kernel's scratch costs the same whichever malloc the process runs with (glibc's
// returns large blocks to the system and faults them in again on the next call; tcmalloc keeps them).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>

namespace specdiff::cpu {

// Sub-arrays of one workspace, each aligned to 64 bytes (a cache line, and the widest vector).
class WorkspaceLayout {
 public:
  // Reserves `count` elements of T; returns their offset in bytes.
  template <typename T>
  int64_t add(int64_t count) {
    const int64_t offset = bytes_;
    bytes_ += (count * static_cast<int64_t>(sizeof(T)) + 63) / 64 * 64;
    return offset;
  }
  int64_t bytes() const { return bytes_; }

 private:
  int64_t bytes_ = 0;
};

// The calling thread's workspace of at least `bytes` bytes, 64-byte aligned. Valid until the next call of
// thread_workspace on the same thread; its contents are whatever the thread's last user left there.
char* thread_workspace(int64_t bytes);

// A call's intermediates that live across its parallel regions (a channels_last copy of an operand, an output
// before its last relayout) come from buffers of the calling thread, one per slot, kept like thread_workspace's:
// glibc gives activation-sized blocks back to the system when they are freed (always from 32 MiB, smaller ones
// whenever the heap is trimmed), and the next call would fault every page of them in again.
enum class CallSlot { operand, grad, output, count };

// The calling thread's buffer for `slot`, at least `bytes` bytes, 64-byte aligned. Valid until the next call of
// call_workspace with that slot on the same thread; nothing that views it may leave the op.
char* call_workspace(CallSlot slot, int64_t bytes);

// A tensor an op returns for its own backward to read (the spectra of x a saving forward keeps), from blocks that
// such tensors gave back when they died: a training loop keeps the same sizes alive from each forward to its
// backward, and glibc would return the freed blocks to the system and fault every page in again on the next step.
// Idle blocks are kept, the longest idle given back first, up to the most memory such tensors have held at once.
at::Tensor kept_empty(at::IntArrayRef sizes, const at::TensorOptions& options);

// The blocks kept_empty holds, in bytes: in use by live tensors, idle (kept for reuse), and the most in use at once
// (the bound on idle).
struct KeptBytes {
  int64_t in_use = 0, idle = 0, peak = 0;
};
KeptBytes kept_bytes();

template <typename T>
T* at_offset(char* base, int64_t offset) {
  return reinterpret_cast<T*>(base + offset);
}

}  // namespace specdiff::cpu
