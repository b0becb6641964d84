// Driver of the fused FFT round trip over all planes of a tensor (cpu/lanes/roundtrip.h), shared by
// spectral_filter2d, spectral_band_filter2d and spectral_band_mse. Sizes whose prime factors exceed kMaxRadix take
// ATen's FFT instead (roundtrip_fused).
#pragma once

#include <ATen/core/Tensor.h>

#include <tuple>

#include "common/plane_weight.h"

namespace specdiff::cpu {

// Whether planes (or grids) of H x W run through the fused lane FFT (else ATen's FFT).
bool roundtrip_fused(int64_t H, int64_t W);

// Weights are PlaneWeight (common/plane_weight.h) in x's dtype; weight gradients come accumulated in float64 with
// the layout of w.data, before the reduction to the caller's weight shape.
//
// `grid` {H', W'} >= x's {H, W}, or empty for x's size, is the transform size (torch.fft's `s`): the planes are
// zero-padded at the end to it, and the outputs cropped back to {H, W}; the weight lives on the grid.
//
// A weight with R = w.responses > 1 gives each plane of x R responses: the forward's output [B, R C, H, W] holds
// irfft2(w[:, c R + j] . rfft2(x[:, c])) in channel c R + j, and `grad` has that shape; x is transformed once.

// irfft2(w . rfft2(x)).
at::Tensor roundtrip_forward(const at::Tensor& x, const PlaneWeight& w, at::IntArrayRef grid = {});

// The backward: grad_x = irfft2(conj(w) . rfft2(grad)).
at::Tensor roundtrip_backward_input(const at::Tensor& grad, const PlaneWeight& w, at::IntArrayRef grid = {});

// grad_weight = D rfft2(grad) conj(rfft2(x)) summed over the planes of each weight slice (D = 2 on interior
// columns, 1 on the DC and Nyquist columns).
at::Tensor roundtrip_weight_grad(const at::Tensor& grad, const at::Tensor& x, const PlaneWeight& w,
                                 at::IntArrayRef grid = {});

// Both in one pass over grad and x.
std::tuple<at::Tensor, at::Tensor> roundtrip_backward(const at::Tensor& grad, const at::Tensor& x,
                                                      const PlaneWeight& w, at::IntArrayRef grid = {});

// Whether keeping x's spectrum for the weight gradient pays on an H x W grid: the plain backward holds two half
// spectra of a block of planes in its scratch (x's and the upstream gradient's), and where the two do not fit the
// core's L2 (cpu_caches) its column pass misses on both; reading the kept spectrum instead halves that and saves a
// transform. Smaller grids transform x again faster than they move its spectrum. Fused grids only.
bool roundtrip_keeps_spectra(int64_t H, int64_t W);

// roundtrip_forward(x, w) and the spectra its backward can start from: rfft2(x, grid) unnormalized, as contiguous
// [B, C, 2, W'//2+1, H'] (real parts, then imaginary; cpu/lanes/roundtrip.h). One filter per channel (R = 1).
std::tuple<at::Tensor, at::Tensor> roundtrip_forward_saving(const at::Tensor& x, const PlaneWeight& w,
                                                            at::IntArrayRef grid = {});

// roundtrip_backward (need_x) or roundtrip_weight_grad (grad_x undefined) from the saved spectra of x instead of x.
std::tuple<at::Tensor, at::Tensor> roundtrip_backward_saved(const at::Tensor& grad, const at::Tensor& spectra,
                                                            const PlaneWeight& w, bool need_x,
                                                            at::IntArrayRef grid = {});

// Sum over channels of D |rfft2(x, "ortho")|^2, float64 [B, 1, H, W//2+1]: by Parseval its total over a sample is
// the sample's sum of squares.
at::Tensor spectral_energy(const at::Tensor& x);

// roundtrip_forward(x, w) and spectral_energy(x) in one pass over x; w must have one slice per sample
// ([B, 1, H, Wf]) so that the energy is accumulated per sample.
std::tuple<at::Tensor, at::Tensor> roundtrip_forward_with_energy(const at::Tensor& x, const PlaneWeight& w);

}  // namespace specdiff::cpu
