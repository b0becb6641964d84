#include "cuda/roundtrip.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAFunctions.h>

#include <climits>
#include <mutex>
#include <unordered_map>

#include "common/checks.h"

namespace specdiff::cuda {

namespace {

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

bool plan_roundtrip(RoundTripArgs& a, int acc_per_bin, bool reduce) {
  return plan_roundtrip(a, acc_per_bin, reduce, device_limits(), RoundTripTuning::from_env());
}

int64_t reduction_splits(int64_t slices, int64_t work) {
  return reduction_splits(slices, work, device_limits().sm_count);
}

at::Tensor rfft2(const at::Tensor& x) {
  return at::fft_rfft2(x.to(compute_real_type(x.scalar_type())), c10::nullopt, {-2, -1}, "ortho");
}

at::Tensor irfft2(const at::Tensor& spec, int64_t H, int64_t W) {
  return at::fft_irfft2(spec, at::IntArrayRef({H, W}), {-2, -1}, "ortho");
}

at::Tensor dense(const at::Tensor& t) { return t.resolve_conj().resolve_neg().contiguous(); }

}  // namespace specdiff::cuda
