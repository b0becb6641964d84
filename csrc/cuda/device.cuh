// Device helpers shared by the kernels: complex arithmetic, loads and stores that convert the storage
// dtype to the compute dtype, dynamic shared memory and a block-wide sum.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "cuda/launch.h"

namespace specdiff::cuda {

template <typename T>
struct alignas(2 * sizeof(T)) Cx {
  T re, im;
};

template <typename T>
__device__ __forceinline__ Cx<T> cmul(Cx<T> a, Cx<T> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}

template <typename T>
__device__ __forceinline__ Cx<T> cadd(Cx<T> a, Cx<T> b) {
  return {a.re + b.re, a.im + b.im};
}

template <typename T>
__device__ __forceinline__ Cx<T> csub(Cx<T> a, Cx<T> b) {
  return {a.re - b.re, a.im - b.im};
}

// Storage -> compute conversions (half and bfloat16 compute in float32).
__device__ __forceinline__ float load_real(const float* p) { return *p; }
__device__ __forceinline__ double load_real(const double* p) { return *p; }
__device__ __forceinline__ float load_real(const __half* p) { return __half2float(*p); }
__device__ __forceinline__ float load_real(const __nv_bfloat16* p) { return __bfloat162float(*p); }

__device__ __forceinline__ void store_real(float* p, float v) { *p = v; }
__device__ __forceinline__ void store_real(double* p, double v) { *p = v; }
__device__ __forceinline__ void store_real(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void store_real(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }

template <typename T, typename S>
__device__ __forceinline__ Cx<T> load_cx(const Cx<S>* p) {
  return {static_cast<T>(load_real(&p->re)), static_cast<T>(load_real(&p->im))};
}

template <typename T, typename S>
__device__ __forceinline__ void store_cx(Cx<S>* p, Cx<T> v) {
  store_real(&p->re, v.re);
  store_real(&p->im, v.im);
}

__device__ __forceinline__ void sincos_pi(float x, float* s, float* c) { sincospif(x, s, c); }
__device__ __forceinline__ void sincos_pi(double x, double* s, double* c) { sincospi(x, s, c); }

// The block's dynamic shared memory (kernels launched with an explicit byte count).
template <typename T>
__device__ __forceinline__ T* dynamic_smem(int64_t byte_offset = 0) {
  extern __shared__ __align__(16) unsigned char specdiff_smem[];
  return reinterpret_cast<T*>(specdiff_smem + byte_offset);
}

// Sums v over the block; every thread gets the totals. `scratch` holds N * blockDim.x reals and may alias
// memory other threads still read before the call. blockDim.x <= kBlockThreads.
template <typename T, int N>
__device__ void block_sum(T (&v)[N], T* scratch) {
  const int t = threadIdx.x, n = blockDim.x;
  __syncthreads();
  for (int j = 0; j < N; ++j) scratch[j * n + t] = v[j];
  __syncthreads();
  // Tree over [0, n) for any n: starting from half the next power of two covers every element.
  int s = 1;
  while (2 * s < n) s *= 2;
  for (; s > 0; s /= 2) {
    if (t < s && t + s < n) {
      for (int j = 0; j < N; ++j) scratch[j * n + t] += scratch[j * n + t + s];
    }
    __syncthreads();
  }
  for (int j = 0; j < N; ++j) v[j] = scratch[j * n];
}

}  // namespace specdiff::cuda
