// Driver of the fused FFT round trip over all planes of a tensor, shared by spectral_filter2d and
// the analytic-band real-space op.
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

#include "common/plane_weight.h"

namespace specdiff::cpu {

// PlaneWeight (common/plane_weight.h) in x's dtype.

at::Tensor roundtrip_forward(const at::Tensor& x, const PlaneWeight& w);

// grad_x (or an undefined tensor) and grad_weight accumulated in float64 with the layout of w.data
// (or undefined), without reduction to the caller's weight shape.
std::tuple<at::Tensor, at::Tensor> roundtrip_backward(const at::Tensor& grad, const at::Tensor& x,
                                                      const PlaneWeight& w, bool need_x, bool need_w);

// Sum over channels of D |rfft2(x, "ortho")|^2 (D as in the backward), float64 [B, 1, H, W//2+1]:
// by Parseval its total over a sample is the sample's sum of squares.
at::Tensor spectral_energy(const at::Tensor& x);

// roundtrip_forward(x, w) and spectral_energy(x) in one pass over x; w must have one slice per sample
// ([B, 1, H, Wf]) so that the energy is accumulated per sample.
std::tuple<at::Tensor, at::Tensor> roundtrip_forward_with_energy(const at::Tensor& x, const PlaneWeight& w);

}  // namespace specdiff::cpu
