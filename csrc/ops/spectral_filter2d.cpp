#include <torch/library.h>

// y = irfft2(rfft2(x, s, norm="ortho") * weight, s, norm="ortho")[..., :H, :W]; s (default (H, W)) is the
// transform size, x zero-padded at the end to it; weight real or complex, broadcastable to [B, C, s0, s1//2+1],
// or with k C channels: k responses per channel of x, output [B, k C, H, W] (channel c k + j from channel c).
// The backward returns (grad_x, grad_weight) with grad_weight reduced to weight's shape; output_mask skips an
// unneeded one (it is returned as zeros).
//
// The saved-spectrum pair, which the autograd uses on the CPU when the weight needs its gradient and x has one
// filter per channel: _spectral_filter2d_saving returns y and X = rfft2(x, s) (unnormalized) as real
// [B, C, 2, s1//2+1, s0] (X's real parts, then its imaginary ones, each transposed: bins of one column contiguous);
// _spectral_filter2d_backward_saved takes that X in place of x, so the backward transforms only the upstream
// gradient.
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def("spectral_filter2d(Tensor x, Tensor weight, int[]? s=None) -> Tensor");
  m.def(
      "_spectral_filter2d_backward(Tensor grad, Tensor x, Tensor weight, bool[2] output_mask, int[]? s=None) "
      "-> (Tensor, Tensor)");
  m.def("_spectral_filter2d_saving(Tensor x, Tensor weight, int[]? s=None) -> (Tensor, Tensor)");
  m.def(
      "_spectral_filter2d_backward_saved(Tensor grad, Tensor spectra, Tensor weight, bool[2] output_mask, "
      "int[]? s=None) -> (Tensor, Tensor)");
}
