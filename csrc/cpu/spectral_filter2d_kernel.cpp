#include <ATen/ATen.h>
#include <torch/library.h>

#include "common/checks.h"
#include "cpu/roundtrip.h"

namespace specdiff::cpu {

namespace {

at::Tensor spectral_filter2d_cpu(const at::Tensor& x, const at::Tensor& weight) {
  return roundtrip_forward(x, plane_weight(weight, x));
}

// Sums the float64 plane-group gradient over the dims weight broadcasts in, back to weight's shape.
at::Tensor reduce_to_weight(const at::Tensor& acc, const PlaneWeight& pw, const at::Tensor& weight) {
  at::Tensor g = pw.complex ? at::view_as_complex(acc) : acc;
  std::vector<int64_t> s(4 - weight.dim(), 1);
  for (int64_t d : weight.sizes()) s.push_back(d);
  std::vector<int64_t> dims;
  for (int i = 2; i < 4; ++i) {
    if (s[i] == 1 && g.size(i) != 1) dims.push_back(i);
  }
  if (!dims.empty()) g = g.sum(dims, /*keepdim=*/true);
  return g.reshape(weight.sizes()).to(weight.scalar_type());
}

std::tuple<at::Tensor, at::Tensor> spectral_filter2d_backward_cpu(const at::Tensor& grad, const at::Tensor& x,
                                                                  const at::Tensor& weight,
                                                                  std::array<bool, 2> mask) {
  check_real_image(grad, "grad");
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.scalar_type() == x.scalar_type(),
              "specdiff: grad must match x in shape and dtype");
  const PlaneWeight pw = plane_weight(weight, x);
  auto [gx, acc] = roundtrip_backward(grad, x, pw, mask[0], mask[1]);
  if (!mask[0]) gx = at::zeros(x.sizes(), x.options());
  at::Tensor gw = mask[1] ? reduce_to_weight(acc, pw, weight) : at::zeros(weight.sizes(), weight.options());
  return {gx, gw};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CPU, m) {
  m.impl("spectral_filter2d", &spectral_filter2d_cpu);
  m.impl("_spectral_filter2d_backward", &spectral_filter2d_backward_cpu);
}

}  // namespace specdiff::cpu
