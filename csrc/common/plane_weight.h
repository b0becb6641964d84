// A filter weight broadcastable to the half spectrum [B, C, H, W//2+1], laid out per plane group; shared by
// the CPU and CUDA implementations of spectral_filter2d.
#pragma once

#include <ATen/core/Tensor.h>

#include <vector>

namespace specdiff {

// data: contiguous [Bw, Cw, H, Wf] (real) or [Bw, Cw, H, Wf, 2] (complex as pairs), Bw in {1, B}, Cw in {1, C, R C}.
// responses R > 1 (Cw = R C, a depth multiplier like a grouped convolution's): every plane of channel c of x has R
// filters, slices c R .. c R + R - 1, and R outputs.
struct PlaneWeight {
  at::Tensor data;
  bool complex;
  int64_t responses = 1;
};

// spectral_filter2d's transform size `s`: empty (x's size) or two sizes at least x's height and width.
std::vector<int64_t> filter_grid(const at::Tensor& x, at::OptionalIntArrayRef s);

// R, the filters per channel of x [B, C, H, W]: weight's channel dim (dim -3) over C when it is a multiple R > 1 of
// C, else 1 (the rule of specdiff/ops/spectral_filter2d.py filter_responses).
int64_t filter_responses(const at::Tensor& x, const at::Tensor& weight);

// Checks that weight (rank 1..4) broadcasts to [B, C, H, W//2+1] of x without growing, or has R C channels (R
// responses per channel), and lays it out per plane group in `real` (complex weights in its complex counterpart).
// Dtype rules are the caller's. With a transform grid {H', W'} (a zero-padded round trip) the half spectrum is the
// grid's, [B, C, H', W'//2+1].
PlaneWeight plane_weight(const at::Tensor& weight, const at::Tensor& x, at::ScalarType real,
                         at::IntArrayRef grid = {});

// spectral_filter2d's backward: grad must have the forward output's shape, [B, R C, H, W], and x's dtype.
void check_filter_grad(const at::Tensor& grad, const at::Tensor& x, const PlaneWeight& w);

// x [B, C, H, W] with each channel repeated w.responses times ([B, R C, H, W], channel c R + j = c), and its
// adjoint: g [B, R C, H, W] summed over each channel's R responses. Both return their input when R = 1.
at::Tensor repeat_responses(const at::Tensor& x, const PlaneWeight& w);
at::Tensor sum_responses(const at::Tensor& g, const PlaneWeight& w);

// D of the half spectrum: 2 for the interior columns, 1 for DC and (even W) Nyquist; shape [W/2+1].
at::Tensor half_spectrum_doubling(int64_t W, const at::TensorOptions& options);

// The weight gradient from the half spectra G of the upstream gradient and X of x ([B, C, H, Wf]):
// D G conj(X) summed over the planes of each group, laid out like pw.data (in G's real dtype).
at::Tensor spectra_grad_weight(const at::Tensor& G, const at::Tensor& X, const PlaneWeight& pw, int64_t W);

// Sums a plane-group gradient (laid out like pw.data) over the dims the caller's weight broadcasts in, back
// to weight's shape and dtype.
at::Tensor reduce_to_weight(const at::Tensor& acc, const PlaneWeight& pw, const at::Tensor& weight);

}  // namespace specdiff
