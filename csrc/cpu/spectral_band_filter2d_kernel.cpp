#include <ATen/ATen.h>
#include <torch/library.h>

#include <tuple>

#include "common/checks.h"
#include "cpu/band_mask.h"
#include "cpu/roundtrip.h"

namespace specdiff::cpu {

namespace {

at::Tensor spectral_band_filter2d_cpu(const at::Tensor& x, const at::Tensor& inner, const at::Tensor& outer,
                                      const at::Tensor& gain, double temperature, c10::string_view kind) {
  check_real_image(x, "x");
  check_not_empty(x, "x", "[B, C, H, W]");
  const BandParams p = cpu_band(inner, outer, gain, temperature, kind, x.size(0), x, "x");
  const BandMask m = band_mask(p, x.size(0), x.size(2), x.size(3), false);
  return roundtrip_forward(x, PlaneWeight{m.w, false});
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> spectral_band_filter2d_backward_cpu(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& inner, const at::Tensor& outer,
    const at::Tensor& gain, double temperature, c10::string_view kind, std::array<bool, 4> mask) {
  check_real_image(x, "x");
  check_not_empty(x, "x", "[B, C, H, W]");
  check_real_image(grad, "grad");
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.scalar_type() == x.scalar_type(),
              "specdiff: grad must match x in shape and dtype");
  const BandParams p = cpu_band(inner, outer, gain, temperature, kind, x.size(0), x, "x");
  const bool need_params = mask[1] || mask[2] || mask[3];
  const BandMask m = band_mask(p, x.size(0), x.size(2), x.size(3), need_params);
  const PlaneWeight band{m.w, false};
  at::Tensor gx, grad_mask;
  if (mask[0] && need_params) {
    std::tie(gx, grad_mask) = roundtrip_backward(grad, x, band);
  } else if (mask[0]) {
    gx = roundtrip_backward_input(grad, band);
  } else if (need_params) {
    grad_mask = roundtrip_weight_grad(grad, x, band);
  }
  if (!mask[0]) gx = at::zeros(x.sizes(), x.options());
  if (!need_params) return {gx, at::zeros_like(inner), at::zeros_like(outer), at::zeros_like(gain)};
  auto [gi, go, gg] = band_param_grads(grad_mask, m, p, mask);
  return {gx, gi, go, gg};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CPU, m) {
  m.impl("spectral_band_filter2d", &spectral_band_filter2d_cpu);
  m.impl("_spectral_band_filter2d_backward", &spectral_band_filter2d_backward_cpu);
}

}  // namespace specdiff::cpu
