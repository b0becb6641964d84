// Host-side launch helpers for the .cu files: storage dtype dispatch and a checked launch on a stream.
#pragma once

#include <c10/cuda/CUDAException.h>

#include "cuda/device.cuh"

namespace specdiff::cuda {

// Calls f(T{}, S{}) with T the compute type and S the storage type of `dtype`.
template <typename F>
void dispatch_dtype(Dtype dtype, F&& f) {
  switch (dtype) {
    case Dtype::f32:
      return f(float{}, float{});
    case Dtype::f64:
      return f(double{}, double{});
    case Dtype::f16:
      return f(float{}, __half{});
    case Dtype::bf16:
      return f(float{}, __nv_bfloat16{});
  }
}

// Launches kernel<<<blocks, kBlockThreads, smem_bytes, stream>>>(args...), opting in to more than the
// default 48 KiB of dynamic shared memory when the plan needs it, and checks the launch.
template <typename... Params, typename... Args>
void launch_kernel(void (*kernel)(Params...), int64_t blocks, int64_t smem_bytes, cudaStream_t stream,
                   const Args&... args) {
  if (smem_bytes > 48 * 1024) {
    C10_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem_bytes)));
  }
  kernel<<<static_cast<unsigned int>(blocks), kBlockThreads, static_cast<size_t>(smem_bytes), stream>>>(args...);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
}

}  // namespace specdiff::cuda
