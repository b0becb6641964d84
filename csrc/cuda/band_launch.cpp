#include "cuda/band_launch.h"

#include <ATen/ATen.h>
#include <c10/cuda/CUDAStream.h>

#include <climits>

#include "common/checks.h"
#include "cuda/roundtrip.h"

namespace specdiff::cuda {

namespace {

// Elements each thread of the elementwise band kernel handles (amortizes the per-block setup).
constexpr int64_t kItemsPerThread = 4;

}  // namespace

BandParams cuda_band(const at::Tensor& inner, const at::Tensor& outer, const at::Tensor& gain, double temperature,
                     c10::string_view kind, int64_t B, const at::Tensor& ref, const char* ref_name) {
  return parse_band(inner, outer, gain, temperature, kind, B, ref, ref_name, compute_real_type(ref.scalar_type()));
}

BandArgs band_args(const BandParams& band, void* partial, const at::Tensor* slice_scale, double scale) {
  BandArgs a{};
  a.kind = static_cast<int>(band.kind);
  a.temperature = band.temperature;
  a.inner = band.inner.const_data_ptr();
  a.outer = band.outer.const_data_ptr();
  a.gain = band.gain.const_data_ptr();
  // A [B] parameter steps with the slice (slices are then samples); a 0-d one stays put.
  a.inner_stride = band.inner.dim() == 1 ? 1 : 0;
  a.outer_stride = band.outer.dim() == 1 ? 1 : 0;
  a.gain_stride = band.gain.dim() == 1 ? 1 : 0;
  a.slice_scale = slice_scale ? slice_scale->const_data_ptr() : nullptr;
  a.scale = scale;
  a.partial = partial;
  return a;
}

at::Tensor band_spectrum(const at::Tensor& in, const at::Tensor* other, const at::Tensor* out, bool doubled,
                         int64_t W, const BandParams& band, int64_t slices, const at::Tensor* slice_scale, double scale) {
  const at::TensorOptions real = in.options().dtype(compute_real_type(in.scalar_type()));
  if (in.numel() == 0) return other ? at::zeros({slices, 4}, real) : at::Tensor();
  BandSpectrumArgs a{};
  a.dtype = launch_dtype(in.scalar_type());
  a.numel = in.numel();
  a.slices = slices;
  a.H = static_cast<int>(in.size(-2));
  a.W = static_cast<int>(W);
  a.in = in.const_data_ptr();
  a.other = other ? other->const_data_ptr() : nullptr;
  a.doubled = doubled;
  a.out = out ? out->data_ptr() : nullptr;
  const int64_t chunks = (a.numel / slices + kBlockThreads * kItemsPerThread - 1) / (kBlockThreads * kItemsPerThread);
  a.splits = other ? reduction_splits(slices, chunks) : chunks;
  TORCH_CHECK(slices * a.splits <= INT_MAX, "specdiff: spectrum too large for one launch, shape ", in.sizes());
  at::Tensor partial = other ? at::empty({slices, a.splits, 4}, real) : at::Tensor();
  launch_band_spectrum(a, band_args(band, other ? partial.data_ptr() : nullptr, slice_scale, scale),
                       c10::cuda::getCurrentCUDAStream());
  return other ? partial.sum(1) : at::Tensor();
}

at::Tensor param_grad(const at::Tensor& sums, const at::Tensor& param) {
  TORCH_INTERNAL_ASSERT(param.dim() == 0 || sums.numel() == param.numel());
  // A copy, never a view of `sums`: the op's outputs must not alias each other.
  return (param.dim() == 0 ? sums.sum() : sums)
      .reshape(param.sizes())
      .to(param.scalar_type(), /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace specdiff::cuda
