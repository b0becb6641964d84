#include "cuda/roundtrip.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "common/checks.h"

namespace specdiff::cuda {

namespace {

// Above this side the fused kernel's shared memory caps a block at one plane and few blocks per SM,
// and cuFFT's extra passes over memory stop dominating; re-tune with `specdiff bench ops --device cuda`.
constexpr int kMaxFusedSide = 128;
// Buffer bytes a block aims for when it can batch several small planes: a few blocks fit on an SM.
constexpr int64_t kTargetBufferBytes = 32 * 1024;
// Blocks per SM a reduction aims for; each writes one partial result the host sums.
constexpr int64_t kReduceBlocksPerSm = 4;

// Tuning overrides for benchmarking the launch plan (SPECDIFF_CUDA_MAX_FUSED_SIDE, SPECDIFF_CUDA_BUFFER_BYTES,
// SPECDIFF_CUDA_FUSE_ANY_SIZE).
int64_t tuning(const char* name, int64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoll(v) : fallback;
}

struct DeviceLimits {
  int64_t smem_per_block;  // opt-in maximum of dynamic shared memory
  int64_t sm_count;
};

const DeviceLimits& device_limits() {
  static std::mutex mutex;
  static std::unordered_map<int, DeviceLimits> cache;
  const int device = c10::cuda::current_device();
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(device);
  if (it == cache.end()) {
    int smem = 0, sms = 0;
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
    C10_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
    it = cache.emplace(device, DeviceLimits{smem, sms}).first;
  }
  return it->second;
}

}  // namespace

void check_cuda_image(const at::Tensor& x, const char* name) {
  TORCH_CHECK(x.dim() == 4, "specdiff: ", name, " must be a 4-D tensor [B, C, H, W], got shape ", x.sizes());
  const auto t = x.scalar_type();
  TORCH_CHECK(t == at::kFloat || t == at::kDouble || t == at::kHalf || t == at::kBFloat16, "specdiff: ", name,
              " must be float32, float64, float16 or bfloat16 on CUDA, got ", t);
  TORCH_CHECK(x.is_cuda(), "specdiff: ", name, " must be a CUDA tensor, got device ", x.device());
  check_not_empty(x, name, "[B, C, H, W]");
  TORCH_CHECK(x.size(2) <= INT_MAX && x.size(3) <= INT_MAX, "specdiff: ", name, " is too large, got shape ",
              x.sizes());
}

at::ScalarType compute_real_type(at::ScalarType t) {
  return t == at::kDouble || t == at::kComplexDouble ? at::kDouble : at::kFloat;
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

bool plan_roundtrip(RoundTripArgs& a, int acc_per_bin, bool reduce) {
  static const int64_t max_side = tuning("SPECDIFF_CUDA_MAX_FUSED_SIDE", kMaxFusedSide);
  static const int64_t buffer_bytes = tuning("SPECDIFF_CUDA_BUFFER_BYTES", kTargetBufferBytes);
  // Only the compile-time kernels (square power-of-two planes, roundtrip_launch.cuh) beat cuFFT on an H100;
  // the any-size kernel measured 0.3x cuFFT at 100x100, so other sizes take the cuFFT path unless
  // SPECDIFF_CUDA_FUSE_ANY_SIZE=1 (for re-measuring on other GPUs).
  static const bool any_size = tuning("SPECDIFF_CUDA_FUSE_ANY_SIZE", 0) != 0;
  if (!(has_fixed_size_kernel(a.H, a.W) || any_size) || std::max(a.H, a.W) > max_side) return false;
  const DeviceLimits& limits = device_limits();
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
  a.planes_per_block = static_cast<int>(std::clamp<int64_t>(buffer_bytes / plane_bytes, 1, per_slice));
  roundtrip_layout(a, acc_per_bin, real_bytes);
  while (a.planes_per_block > 1 && a.smem_bytes > limits.smem_per_block) {
    a.planes_per_block /= 2;
    roundtrip_layout(a, acc_per_bin, real_bytes);
  }
  const int64_t batches = (per_slice + a.planes_per_block - 1) / a.planes_per_block;
  a.splits = reduce ? reduction_splits(a.slices(), batches) : batches;
  TORCH_CHECK(a.slices() * a.splits <= INT_MAX, "specdiff: too many image planes for one launch (", a.B, " x ",
              a.C, ")");
  return true;
}

int64_t reduction_splits(int64_t slices, int64_t work) {
  const int64_t target = kReduceBlocksPerSm * device_limits().sm_count;
  return std::clamp<int64_t>((target + slices - 1) / slices, 1, std::max<int64_t>(work, 1));
}

at::Tensor rfft2(const at::Tensor& x) {
  return at::fft_rfft2(x.to(compute_real_type(x.scalar_type())), c10::nullopt, {-2, -1}, "ortho");
}

at::Tensor irfft2(const at::Tensor& spec, int64_t H, int64_t W) {
  return at::fft_irfft2(spec, at::IntArrayRef({H, W}), {-2, -1}, "ortho");
}

at::Tensor dense(const at::Tensor& t) { return t.resolve_conj().resolve_neg().contiguous(); }

}  // namespace specdiff::cuda
