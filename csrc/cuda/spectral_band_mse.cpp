// CUDA implementation of spectral_band_mse and its backward: the fused forward transform with the band
// in the kernel reduces sum D band |R|^2 per sample without an inverse FFT; the backward is the fused
// round trip with weight 2 g_b band / (C H W). Planes too large for it take cuFFT through ATen with the
// elementwise band kernel.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <array>

#include "common/checks.h"
#include "cuda/band_launch.h"
#include "cuda/roundtrip.h"

namespace specdiff::cuda {

namespace {

// Per-sample sums [B, 4] of D |R|^2 (band, d band/d inner, d/d outer, d/d gain) over the half spectrum,
// R = rfft2(residual, "ortho"), D = 2 on the interior columns: sums over the full spectrum. With
// grad_out, also writes grad_r = irfft2(band R) * weight_scale[b] * scale into it.
at::Tensor band_power_sums(const at::Tensor& residual, const BandParams& band, bool need_sums, at::Tensor* grad_out,
                           const at::Tensor* weight_scale, double scale) {
  const int64_t B = residual.size(0), H = residual.size(2), W = residual.size(3);
  at::Tensor sums = at::zeros({B, 4}, residual.options().dtype(compute_real_type(residual.scalar_type())));
  if (residual.numel() == 0 || !(need_sums || grad_out)) return sums;
  RoundTripArgs a = roundtrip_args(residual, B, 1);
  a.self_correlate = need_sums;
  if (grad_out) a.out = grad_out->data_ptr();
  if (plan_roundtrip(a, /*acc_per_bin=*/0, /*reduce=*/need_sums)) {
    const at::Tensor partial = need_sums ? at::empty({B, a.splits, 4}, sums.options()) : at::Tensor();
    launch_band_roundtrip(a, band_args(band, need_sums ? partial.data_ptr() : nullptr, weight_scale, scale),
                          c10::cuda::getCurrentCUDAStream());
    if (need_sums) sums = partial.sum(1);
  } else {
    const at::Tensor R = rfft2(residual);
    const at::Tensor s =
        band_spectrum(R, need_sums ? &R : nullptr, grad_out ? &R : nullptr, true, W, band, B, weight_scale, scale);
    if (need_sums) sums = s;
    if (grad_out) grad_out->copy_(irfft2(R, H, W));
  }
  return sums;
}

at::Tensor spectral_band_mse_cuda(const at::Tensor& residual, const at::Tensor& inner, const at::Tensor& outer,
                                  const at::Tensor& gain, double temperature, c10::string_view kind) {
  check_cuda_image(residual, "residual");
  const c10::cuda::CUDAGuard guard(residual.device());
  const int64_t B = residual.size(0), chw = residual.size(1) * residual.size(2) * residual.size(3);
  const BandParams band = cuda_band(inner, outer, gain, temperature, kind, B, residual, "residual");
  const at::Tensor sums = band_power_sums(residual, band, /*need_sums=*/true, nullptr, nullptr, 1.0);
  return (sums.select(1, 0) / static_cast<double>(chw)).to(residual.scalar_type());
}

// grad_r = 2 g_b / (C H W) irfft2(band rfft2(r)); d/d param = g_b / (C H W) sum D |R|^2 d band / d param.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> spectral_band_mse_backward_cuda(
    const at::Tensor& grad, const at::Tensor& residual, const at::Tensor& inner, const at::Tensor& outer,
    const at::Tensor& gain, double temperature, c10::string_view kind, std::array<bool, 4> mask) {
  check_cuda_image(residual, "residual");
  check_same_device(residual, "residual", grad, "grad");
  const int64_t B = residual.size(0), chw = residual.size(1) * residual.size(2) * residual.size(3);
  TORCH_CHECK(grad.dim() == 1 && grad.size(0) == B && grad.is_floating_point(),
              "specdiff: grad must be a floating-point [B] = [", B, "] tensor, got ", grad.scalar_type(), " of shape ",
              grad.sizes());
  const c10::cuda::CUDAGuard guard(residual.device());
  const BandParams band = cuda_band(inner, outer, gain, temperature, kind, B, residual, "residual");
  const bool need_r = mask[0], need_p = mask[1] || mask[2] || mask[3];
  const at::Tensor g = grad.to(compute_real_type(residual.scalar_type())).contiguous();
  at::Tensor gr = need_r ? at::empty(residual.sizes(), residual.options())
                         : at::zeros(residual.sizes(), residual.options());
  const at::Tensor sums =
      band_power_sums(residual, band, need_p, need_r ? &gr : nullptr, &g, 2.0 / static_cast<double>(chw));
  auto grad_of = [&](int j, const at::Tensor& param) {
    return mask[j] ? param_grad(sums.select(1, j) * g / static_cast<double>(chw), param) : at::zeros_like(param);
  };
  return {gr, grad_of(1, inner), grad_of(2, outer), grad_of(3, gain)};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CUDA, m) {
  m.impl("spectral_band_mse", &spectral_band_mse_cuda);
  m.impl("_spectral_band_mse_backward", &spectral_band_mse_backward_cuda);
}

}  // namespace specdiff::cuda
