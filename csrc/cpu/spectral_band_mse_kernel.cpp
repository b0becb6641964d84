#include <ATen/ATen.h>
#include <torch/library.h>

#include "common/checks.h"
#include "cpu/band_mask.h"
#include "cpu/roundtrip.h"

namespace specdiff::cpu {

namespace {

at::Tensor spectral_band_mse_cpu(const at::Tensor& r, const at::Tensor& inner, const at::Tensor& outer,
                                 const at::Tensor& gain, double temperature, c10::string_view kind) {
  check_real_image(r, "residual");
  check_not_empty(r, "residual", "[B, C, H, W]");
  const int64_t B = r.size(0), C = r.size(1), H = r.size(2), W = r.size(3);
  const BandParams p = cpu_band(inner, outer, gain, temperature, kind, B, r, "residual");
  const BandMask m = band_mask(p, B, H, W, false);
  const at::Tensor energy = spectral_energy(r);  // [B, 1, H, Wf] float64
  const double norm = 1.0 / static_cast<double>(C * H * W);
  return ((energy * m.w.to(at::kDouble)).sum({1, 2, 3}) * norm).to(r.scalar_type());
}

// d loss_b / d r = 2 g_b / (C H W) irfft2(band . rfft2(r_b)): the interior-column doubling of Parseval and
// the halving in the adjoint of rfft2 cancel, leaving the plain round trip with the band.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> spectral_band_mse_backward_cpu(
    const at::Tensor& grad, const at::Tensor& r, const at::Tensor& inner, const at::Tensor& outer,
    const at::Tensor& gain, double temperature, c10::string_view kind, std::array<bool, 4> mask) {
  check_real_image(r, "residual");
  check_not_empty(r, "residual", "[B, C, H, W]");
  const int64_t B = r.size(0), C = r.size(1), H = r.size(2), W = r.size(3);
  TORCH_CHECK(grad.dim() == 1 && grad.size(0) == B && grad.is_floating_point(),
              "specdiff: grad must be a floating-point tensor of shape [B] = [", B, "], got ", grad.scalar_type(), " ",
              grad.sizes());
  const BandParams p = cpu_band(inner, outer, gain, temperature, kind, B, r, "residual");
  const bool need_params = mask[1] || mask[2] || mask[3];
  const BandMask m = band_mask(p, B, H, W, need_params);
  const double norm = 1.0 / static_cast<double>(C * H * W);
  const at::Tensor g = grad.to(r.scalar_type()).view({B, 1, 1, 1});
  at::Tensor gr, energy;
  if (mask[0] && need_params) {
    // One pass: the per-sample band makes the engine accumulate the energy per sample as well.
    const PlaneWeight per_sample{m.w.expand({B, 1, H, W / 2 + 1}).contiguous(), false};
    std::tie(gr, energy) = roundtrip_forward_with_energy(r, per_sample);
  } else if (mask[0]) {
    gr = roundtrip_forward(r, PlaneWeight{m.w, false});
  } else {
    gr = at::zeros(r.sizes(), r.options());
    energy = spectral_energy(r);
  }
  if (mask[0]) gr.mul_(g * (2.0 * norm));
  if (!need_params) return {gr, at::zeros_like(inner), at::zeros_like(outer), at::zeros_like(gain)};
  const at::Tensor grad_mask = energy * (grad.to(at::kDouble).view({B, 1, 1, 1}) * norm);
  auto [gi, go, gg] = band_param_grads(grad_mask, m, p, mask);
  return {gr, gi, go, gg};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CPU, m) {
  m.impl("spectral_band_mse", &spectral_band_mse_cpu);
  m.impl("_spectral_band_mse_backward", &spectral_band_mse_backward_cpu);
}

}  // namespace specdiff::cpu
