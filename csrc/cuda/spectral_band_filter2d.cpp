// CUDA implementation of spectral_band_filter2d and its backward: the fused round trip with the band
// computed in the kernel (roundtrip_kernel.cuh + band_weight.cuh), else cuFFT through ATen with the
// elementwise band kernel as the weighting step.
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

at::Tensor spectral_band_filter2d_cuda(const at::Tensor& x, const at::Tensor& inner, const at::Tensor& outer,
                                       const at::Tensor& gain, double temperature, c10::string_view kind) {
  check_cuda_image(x, "x");
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  const BandParams band = cuda_band(inner, outer, gain, temperature, kind, B, x, "x");
  const int64_t slices = band.per_sample ? B : 1;
  at::Tensor out = at::empty(x.sizes(), x.options());
  if (x.numel() == 0) return out;
  RoundTripArgs a = roundtrip_args(x, slices, 1);
  a.out = out.data_ptr();
  if (plan_roundtrip(a, /*acc_per_bin=*/0, /*reduce=*/false)) {
    launch_band_roundtrip(a, band_args(band, nullptr, nullptr, 1.0), c10::cuda::getCurrentCUDAStream());
  } else {
    const at::Tensor spec = rfft2(x);
    band_spectrum(spec, nullptr, &spec, false, W, band, slices, nullptr, 1.0);
    out.copy_(irfft2(spec, H, W));
  }
  return out;
}

// grad_x = irfft2(band rfft2(grad)); d/d param = sum over bins of D Re(G conj X) d band / d param, with
// G, X the ortho spectra of grad and x (the real-weight case of spectral_filter2d's grad_weight).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> spectral_band_filter2d_backward_cuda(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& inner, const at::Tensor& outer,
    const at::Tensor& gain, double temperature, c10::string_view kind, std::array<bool, 4> mask) {
  check_cuda_image(grad, "grad");
  check_cuda_image(x, "x");
  check_same_device(x, "x", grad, "grad");
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.scalar_type() == x.scalar_type(),
              "specdiff: grad must match x in shape and dtype");
  const c10::cuda::CUDAGuard guard(x.device());
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  const BandParams band = cuda_band(inner, outer, gain, temperature, kind, B, x, "x");
  const int64_t slices = band.per_sample ? B : 1;
  const bool need_x = mask[0], need_p = mask[1] || mask[2] || mask[3];
  at::Tensor gx = need_x ? at::empty(x.sizes(), x.options()) : at::zeros(x.sizes(), x.options());
  at::Tensor sums = at::zeros({slices, 4}, x.options().dtype(compute_real_type(x.scalar_type())));
  if (x.numel() > 0 && (need_x || need_p)) {
    RoundTripArgs a = roundtrip_args(grad, slices, 1);
    if (need_p) set_src(a, x);
    if (need_x) a.out = gx.data_ptr();
    if (plan_roundtrip(a, /*acc_per_bin=*/0, /*reduce=*/need_p)) {
      const at::Tensor partial = need_p ? at::empty({slices, a.splits, 4}, sums.options()) : at::Tensor();
      launch_band_roundtrip(a, band_args(band, need_p ? partial.data_ptr() : nullptr, nullptr, 1.0),
                            c10::cuda::getCurrentCUDAStream());
      if (need_p) sums = partial.sum(1);
    } else {
      const at::Tensor G = rfft2(grad);
      const at::Tensor X = need_p ? rfft2(x) : at::Tensor();
      const at::Tensor s = band_spectrum(G, need_p ? &X : nullptr, need_x ? &G : nullptr, true, W, band, slices,
                                         nullptr, 1.0);
      if (need_p) sums = s;
      if (need_x) gx.copy_(irfft2(G, H, W));
    }
  }
  auto grad_of = [&](int j, const at::Tensor& param) {
    return mask[j] ? param_grad(sums.select(1, j), param) : at::zeros_like(param);
  };
  return {gx, grad_of(1, inner), grad_of(2, outer), grad_of(3, gain)};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CUDA, m) {
  m.impl("spectral_band_filter2d", &spectral_band_filter2d_cuda);
  m.impl("_spectral_band_filter2d_backward", &spectral_band_filter2d_backward_cuda);
}

}  // namespace specdiff::cuda
