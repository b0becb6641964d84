// Runs the kernels of csrc/cuda on the CPU so their indexing, synchronization and reductions can be
// checked numerically on machines without a GPU: one OS thread per CUDA thread, a std::barrier for
// __syncthreads, blocks one after another. Only what those kernels use is emulated; timing, warps and the
// memory model of a GPU are not. Include this before any csrc/cuda header.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <atomic>
#include <barrier>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <thread>
#include <vector>

#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __shared__
#undef __launch_bounds__
#undef __grid_constant__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__
#define __launch_bounds__(...)
#define __grid_constant__

namespace emu {

inline thread_local uint3 thread_index{0, 0, 0};
inline uint3 block_index{0, 0, 0};
inline dim3 block_dim{1, 1, 1};
inline std::barrier<>* block_barrier = nullptr;

inline void sync_threads() { block_barrier->arrive_and_wait(); }

}  // namespace emu

#define threadIdx (::emu::thread_index)
#define blockIdx (::emu::block_index)
#define blockDim (::emu::block_dim)
#define __syncthreads() (::emu::sync_threads())

template <typename T>
T atomicAdd(T* p, T v) {
  return std::atomic_ref<T>(*p).fetch_add(v);
}

inline void sincospif(float x, float* s, float* c) {
  const double a = M_PI * static_cast<double>(x);
  *s = static_cast<float>(std::sin(a));
  *c = static_cast<float>(std::cos(a));
}

inline void sincospi(double x, double* s, double* c) {
  const long double a = 3.141592653589793238462643383279502884L * x;
  *s = static_cast<double>(std::sin(a));
  *c = static_cast<double>(std::cos(a));
}

namespace specdiff::cuda {
// The dynamic shared memory of the one block that runs at a time.
constexpr size_t kEmulatedSmemBytes = size_t{1} << 20;
alignas(16) inline unsigned char specdiff_smem[kEmulatedSmemBytes];
}  // namespace specdiff::cuda

namespace emu {

// kernel<<<blocks, threads, smem_bytes>>>(args...). Shared memory starts as NaN bytes so reading a value
// no thread wrote shows up in the results.
template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), int64_t blocks, int threads, int64_t smem_bytes, const Args&... args) {
  if (smem_bytes > static_cast<int64_t>(specdiff::cuda::kEmulatedSmemBytes)) {
    throw std::runtime_error("emulated launch needs more shared memory than emulated");
  }
  block_dim = dim3(threads, 1, 1);
  for (int64_t b = 0; b < blocks; ++b) {
    std::memset(specdiff::cuda::specdiff_smem, 0xff, specdiff::cuda::kEmulatedSmemBytes);
    block_index = uint3{static_cast<unsigned>(b), 0, 0};
    std::barrier<> barrier(threads);
    block_barrier = &barrier;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        thread_index = uint3{static_cast<unsigned>(t), 0, 0};
        kernel(args...);
      });
    }
    for (std::thread& th : pool) th.join();
  }
}

}  // namespace emu
