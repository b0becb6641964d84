#include <torch/library.h>

// y = irfft2(rfft2(x, s, norm="ortho") * weight, s, norm="ortho")[..., :H, :W]; s (default (H, W)) is the
// transform size, x zero-padded at the end to it; weight real or complex, broadcastable to [B, C, s0, s1//2+1],
// or with k C channels: k responses per channel of x, output [B, k C, H, W] (channel c k + j from channel c).
// The backward returns (grad_x, grad_weight) with grad_weight reduced to weight's shape; output_mask skips an
// unneeded one (it is returned as zeros).
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def("spectral_filter2d(Tensor x, Tensor weight, int[]? s=None) -> Tensor");
  m.def(
      "_spectral_filter2d_backward(Tensor grad, Tensor x, Tensor weight, bool[2] output_mask, int[]? s=None) "
      "-> (Tensor, Tensor)");
}
