#include "cuda/roundtrip_plan.h"

#include <ATen/ATen.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

namespace specdiff::cuda {

namespace {

// Above this side the fused kernel's shared memory caps a block at one plane and few blocks per SM, and cuFFT's
// extra passes over memory stop dominating (docs/gpu_h100/).
constexpr int64_t kMaxFusedSide = 128;
// Buffer bytes a block aims for when it can batch several small planes: a few blocks fit on an SM.
constexpr int64_t kTargetBufferBytes = 32 * 1024;
// Blocks per SM a reduction aims for; each writes one partial result the host sums.
constexpr int64_t kReduceBlocksPerSm = 4;

int64_t env_or(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

}  // namespace

const RoundTripTuning& RoundTripTuning::from_env() {
  static const RoundTripTuning tuning{env_or("SPECDIFF_CUDA_MAX_FUSED_SIDE", kMaxFusedSide),
                                      env_or("SPECDIFF_CUDA_BUFFER_BYTES", kTargetBufferBytes),
                                      env_or("SPECDIFF_CUDA_FUSE_ANY_SIZE", 0) != 0};
  return tuning;
}

bool roundtrip_fused_size(int64_t H, int64_t W, const RoundTripTuning& tuning) {
  // Only the compile-time kernels (square power-of-two planes) beat cuFFT on an H100; the any-size kernel measured
  // 0.3x cuFFT at 100x100 (docs/gpu_h100/).
  const bool kernel = tuning.fuse_any_size || (H <= INT_MAX && has_fixed_size_kernel(static_cast<int>(H), static_cast<int>(W)));
  return kernel && std::max(H, W) <= tuning.max_fused_side;
}

Dtype launch_dtype(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
    case at::kComplexFloat:
      return Dtype::f32;
    case at::kDouble:
    case at::kComplexDouble:
      return Dtype::f64;
    case at::kHalf:
    case at::kComplexHalf:
      return Dtype::f16;
    case at::kBFloat16:
      return Dtype::bf16;
    default:
      TORCH_CHECK(false, "specdiff: no CUDA kernel for dtype ", t);
  }
}

RoundTripArgs roundtrip_args(const at::Tensor& in, int64_t slices_b, int64_t slices_c) {
  RoundTripArgs a{};
  a.dtype = launch_dtype(in.scalar_type());
  a.B = in.size(0);
  a.C = in.size(1);
  a.H = static_cast<int>(in.size(2));
  a.W = static_cast<int>(in.size(3));
  a.slices_b = slices_b;
  a.slices_c = slices_c;
  a.in = in.const_data_ptr();
  for (int i = 0; i < 4; ++i) a.in_stride[i] = in.stride(i);
  return a;
}

void set_src(RoundTripArgs& a, const at::Tensor& src) {
  a.src = src.const_data_ptr();
  for (int i = 0; i < 4; ++i) a.src_stride[i] = src.stride(i);
}

bool plan_roundtrip(RoundTripArgs& a, int acc_per_bin, bool reduce, const DeviceLimits& limits,
                    const RoundTripTuning& tuning) {
  if (!roundtrip_fused_size(a.H, a.W, tuning)) return false;
  const int real_bytes = a.dtype == Dtype::f64 ? 8 : 4;
  a.planes_per_block = 1;
  a.acc_in_global = false;
  roundtrip_layout(a, acc_per_bin, real_bytes);
  if (a.smem_bytes > limits.smem_per_block && acc_per_bin > 0) {
    // Large planes: three plane buffers fill shared memory; the weight gradient accumulates in global memory.
    a.acc_in_global = true;
    roundtrip_layout(a, acc_per_bin, real_bytes);
  }
  if (a.smem_bytes > limits.smem_per_block) return false;

  const int64_t per_slice = a.planes_per_slice();
  const int64_t plane_bytes = a.nbuf() * a.plane_elems * 2 * real_bytes;
  a.planes_per_block = static_cast<int>(std::clamp<int64_t>(tuning.buffer_bytes / plane_bytes, 1, per_slice));
  roundtrip_layout(a, acc_per_bin, real_bytes);
  while (a.planes_per_block > 1 && a.smem_bytes > limits.smem_per_block) {
    a.planes_per_block /= 2;
    roundtrip_layout(a, acc_per_bin, real_bytes);
  }
  const int64_t batches = (per_slice + a.planes_per_block - 1) / a.planes_per_block;
  a.splits = reduce ? reduction_splits(a.slices(), batches, limits.sm_count) : batches;
  TORCH_CHECK(a.slices() * a.splits <= INT_MAX, "specdiff: too many image planes for one launch (", a.B, " x ",
              a.C, ")");
  return true;
}

int64_t reduction_splits(int64_t slices, int64_t work, int64_t sm_count) {
  const int64_t target = kReduceBlocksPerSm * sm_count;
  return std::clamp<int64_t>((target + slices - 1) / slices, 1, std::max<int64_t>(work, 1));
}

}  // namespace specdiff::cuda
