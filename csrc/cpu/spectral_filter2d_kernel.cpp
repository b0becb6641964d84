#include <ATen/ATen.h>
#include <torch/library.h>

#include <tuple>
#include <vector>

#include "common/checks.h"
#include "common/plane_weight.h"
#include "cpu/roundtrip.h"

namespace specdiff::cpu {

namespace {

// The weight per plane group (x checked as a real image by the caller); real weights in x's dtype, complex ones in
// its complex counterpart.
PlaneWeight cpu_plane_weight(const at::Tensor& weight, const at::Tensor& x, at::IntArrayRef grid) {
  check_not_empty(x, "x", "[B, C, H, W]");
  const at::ScalarType xt = x.scalar_type(), wt = weight.scalar_type();
  TORCH_CHECK(wt == xt || wt == c10::toComplexType(xt), "specdiff: weight must be ", xt, " or ",
              c10::toComplexType(xt), " to match x, got ", wt);
  return plane_weight(weight, x, xt, grid);
}

at::Tensor spectral_filter2d_cpu(const at::Tensor& x, const at::Tensor& weight, at::OptionalIntArrayRef s) {
  check_real_image(x, "x");
  const std::vector<int64_t> grid = filter_grid(x, s);
  return roundtrip_forward(x, cpu_plane_weight(weight, x, grid), grid);
}

std::tuple<at::Tensor, at::Tensor> spectral_filter2d_backward_cpu(const at::Tensor& grad, const at::Tensor& x,
                                                                  const at::Tensor& weight, std::array<bool, 2> mask,
                                                                  at::OptionalIntArrayRef s) {
  check_real_image(grad, "grad");
  check_real_image(x, "x");
  const std::vector<int64_t> grid = filter_grid(x, s);
  const PlaneWeight pw = cpu_plane_weight(weight, x, grid);
  check_filter_grad(grad, x, pw);
  at::Tensor gx, acc;
  if (mask[0] && mask[1]) {
    std::tie(gx, acc) = roundtrip_backward(grad, x, pw, grid);
  } else if (mask[0]) {
    gx = roundtrip_backward_input(grad, pw, grid);
  } else if (mask[1]) {
    acc = roundtrip_weight_grad(grad, x, pw, grid);
  }
  if (!mask[0]) gx = at::zeros(x.sizes(), x.options());
  at::Tensor gw = mask[1] ? reduce_to_weight(acc, pw, weight) : at::zeros(weight.sizes(), weight.options());
  return {gx, gw};
}

std::tuple<at::Tensor, at::Tensor> spectral_filter2d_saving_cpu(const at::Tensor& x, const at::Tensor& weight,
                                                                 at::OptionalIntArrayRef s) {
  check_real_image(x, "x");
  const std::vector<int64_t> grid = filter_grid(x, s);
  return roundtrip_forward_saving(x, cpu_plane_weight(weight, x, grid), grid);
}

// spectra: _spectral_filter2d_saving's second output for an x shaped like grad.
std::tuple<at::Tensor, at::Tensor> spectral_filter2d_backward_saved_cpu(const at::Tensor& grad,
                                                                        const at::Tensor& spectra,
                                                                        const at::Tensor& weight,
                                                                        std::array<bool, 2> mask,
                                                                        at::OptionalIntArrayRef s) {
  check_real_image(grad, "grad");
  const std::vector<int64_t> grid = filter_grid(grad, s);
  const int64_t H = grid.empty() ? grad.size(2) : grid[0], W = grid.empty() ? grad.size(3) : grid[1];
  const std::vector<int64_t> expected{grad.size(0), grad.size(1), 2, W / 2 + 1, H};
  TORCH_CHECK(spectra.sizes() == at::IntArrayRef(expected) && spectra.scalar_type() == grad.scalar_type(),
              "specdiff: spectra must be _spectral_filter2d_saving's ", at::IntArrayRef(expected), " ",
              grad.scalar_type(), ", got ", spectra.sizes(), " ", spectra.scalar_type());
  const PlaneWeight pw = cpu_plane_weight(weight, grad, grid);
  TORCH_CHECK(pw.responses == 1, "specdiff: the saved-spectrum backward takes one filter per channel");
  at::Tensor gx, acc;
  if (mask[1]) {
    std::tie(gx, acc) = roundtrip_backward_saved(grad, spectra.contiguous(), pw, mask[0], grid);
  } else if (mask[0]) {
    gx = roundtrip_backward_input(grad, pw, grid);
  }
  if (!mask[0]) gx = at::zeros(grad.sizes(), grad.options());
  at::Tensor gw = mask[1] ? reduce_to_weight(acc, pw, weight) : at::zeros(weight.sizes(), weight.options());
  return {gx, gw};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CPU, m) {
  m.impl("spectral_filter2d", &spectral_filter2d_cpu);
  m.impl("_spectral_filter2d_backward", &spectral_filter2d_backward_cpu);
  m.impl("_spectral_filter2d_saving", &spectral_filter2d_saving_cpu);
  m.impl("_spectral_filter2d_backward_saved", &spectral_filter2d_backward_saved_cpu);
}

}  // namespace specdiff::cpu
