// Launch planning of the fused CUDA round trip (roundtrip_kernel.cuh), as a pure host computation of the device's
// limits and the tuning knobs: the CUDA ops plan with the current device's limits (cuda/roundtrip.cpp), the native
// test (tests/native/test_cuda_kernels.cpp) with emulated ones, and Python asks the fused-size rule through the
// `_roundtrip_fused` query (csrc/capabilities.cpp). No CUDA runtime call here.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>

#include "cuda/launch.h"

namespace specdiff::cuda {

struct DeviceLimits {
  int64_t smem_per_block;  // opt-in maximum of dynamic shared memory per block
  int64_t sm_count;
};

// The plan's knobs, re-tunable without a rebuild: SPECDIFF_CUDA_MAX_FUSED_SIDE (largest fused side),
// SPECDIFF_CUDA_BUFFER_BYTES (shared-memory bytes a block aims for when it batches small planes),
// SPECDIFF_CUDA_FUSE_ANY_SIZE=1 (the any-size kernel for every side up to the maximum).
struct RoundTripTuning {
  int64_t max_fused_side;
  int64_t buffer_bytes;
  bool fuse_any_size;

  // The defaults with the environment's overrides, read once.
  static const RoundTripTuning& from_env();
};

// Whether planes of H x W take the fused kernel (before the device's shared memory has its say): the sizes with a
// compile-time kernel (has_fixed_size_kernel) up to the maximum side, or any size with fuse_any_size. Other sizes
// take the cuFFT path, which under SPECDIFF_BACKEND=auto the Python op skips for the reference.
bool roundtrip_fused_size(int64_t H, int64_t W, const RoundTripTuning& tuning);

// The storage dtype of a kernel launch for a real or complex dtype (TORCH_CHECKs the ones without a kernel).
Dtype launch_dtype(at::ScalarType t);

// Round-trip arguments over the planes of `in` (shape [B, C, H, W]) grouped into [slices_b, slices_c].
RoundTripArgs roundtrip_args(const at::Tensor& in, int64_t slices_b, int64_t slices_c);
void set_src(RoundTripArgs& a, const at::Tensor& src);

// Fills the launch plan of `a` (planes per block, splits, accumulator placement, shared-memory layout) and returns
// true when a plane fits the fused kernel on a device with `limits`; false means the cuFFT path. acc_per_bin: reals
// of grad_weight accumulated per spectrum bin (0, 1 real, 2 complex); reduce: the launch reduces per slice.
bool plan_roundtrip(RoundTripArgs& a, int acc_per_bin, bool reduce, const DeviceLimits& limits,
                    const RoundTripTuning& tuning);

// Blocks per slice for a reduction over `work` items, enough to fill `sm_count` multiprocessors across all slices.
int64_t reduction_splits(int64_t slices, int64_t work, int64_t sm_count);

}  // namespace specdiff::cuda
