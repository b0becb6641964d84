// CUDA implementation of spectral_band_weight and its backward: the elementwise band kernel
// (band_weight.cuh) with the mask computed per bin and the parameter gradients reduced per sample.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <array>

#include "common/checks.h"
#include "cuda/band_launch.h"
#include "cuda/roundtrip.h"

namespace specdiff::cuda {

namespace {

void check_spectrum(const at::Tensor& spec, const char* name, int64_t width) {
  TORCH_CHECK(spec.dim() == 4, "specdiff: ", name, " must be a 4-D tensor [B, C, H, W//2+1], got shape ",
              spec.sizes());
  const auto t = spec.scalar_type();
  TORCH_CHECK(t == at::kComplexFloat || t == at::kComplexDouble || t == at::kComplexHalf, "specdiff: ", name,
              " must be complex64, complex128 or complex32 on CUDA, got ", t);
  TORCH_CHECK(spec.is_cuda(), "specdiff: ", name, " must be a CUDA tensor, got device ", spec.device());
  check_not_empty(spec, name, "[B, C, H, W//2+1]");
  TORCH_CHECK(width >= 1 && spec.size(3) == width / 2 + 1, "specdiff: ", name, " has ", spec.size(3),
              " columns but width ", width, " needs width // 2 + 1 = ", width / 2 + 1);
  TORCH_CHECK(spec.size(2) <= INT_MAX, "specdiff: ", name, " is too large, got shape ", spec.sizes());
}

at::Tensor spectral_band_weight_cuda(const at::Tensor& spec, const at::Tensor& inner, const at::Tensor& outer,
                                     const at::Tensor& gain, double temperature, int64_t width,
                                     c10::string_view kind) {
  check_spectrum(spec, "spec", width);
  const c10::cuda::CUDAGuard guard(spec.device());
  const int64_t B = spec.size(0);
  const BandParams band = cuda_band(inner, outer, gain, temperature, kind, B, spec, "spec");
  const at::Tensor in = dense(spec);
  at::Tensor out = at::empty(in.sizes(), in.options());
  band_spectrum(in, nullptr, &out, false, width, band, band.per_sample ? B : 1, nullptr, 1.0);
  return out;
}

// grad_spec = band grad; d/d param = sum Re(conj(grad) spec) d band / d param (band real).
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> spectral_band_weight_backward_cuda(
    const at::Tensor& grad, const at::Tensor& spec, const at::Tensor& inner, const at::Tensor& outer,
    const at::Tensor& gain, double temperature, int64_t width, c10::string_view kind, std::array<bool, 4> mask) {
  check_spectrum(spec, "spec", width);
  check_spectrum(grad, "grad", width);
  check_same_device(spec, "spec", grad, "grad");
  TORCH_CHECK(grad.sizes() == spec.sizes() && grad.scalar_type() == spec.scalar_type(),
              "specdiff: grad must match spec in shape and dtype");
  const c10::cuda::CUDAGuard guard(spec.device());
  const int64_t B = spec.size(0);
  const BandParams band = cuda_band(inner, outer, gain, temperature, kind, B, spec, "spec");
  const int64_t slices = band.per_sample ? B : 1;
  const bool need_s = mask[0], need_p = mask[1] || mask[2] || mask[3];
  const at::Tensor g = dense(grad);
  const at::Tensor s = need_p ? dense(spec) : at::Tensor();
  at::Tensor gs = need_s ? at::empty(g.sizes(), g.options()) : at::zeros(spec.sizes(), spec.options());
  at::Tensor sums = at::zeros({slices, 4}, spec.options().dtype(compute_real_type(spec.scalar_type())));
  if (need_s || need_p) {
    const at::Tensor r = band_spectrum(g, need_p ? &s : nullptr, need_s ? &gs : nullptr, false, width, band, slices,
                                       nullptr, 1.0);
    if (need_p) sums = r;
  }
  auto grad_of = [&](int j, const at::Tensor& param) {
    return mask[j] ? param_grad(sums.select(1, j), param) : at::zeros_like(param);
  };
  return {gs, grad_of(1, inner), grad_of(2, outer), grad_of(3, gain)};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CUDA, m) {
  m.impl("spectral_band_weight", &spectral_band_weight_cuda);
  m.impl("_spectral_band_weight_backward", &spectral_band_weight_backward_cuda);
}

}  // namespace specdiff::cuda
