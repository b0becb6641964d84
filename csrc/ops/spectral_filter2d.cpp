#include <torch/library.h>

// y = irfft2(rfft2(x, norm="ortho") * weight, s=(H, W), norm="ortho"); weight real or complex,
// broadcastable to [B, C, H, W//2+1]. The backward returns (grad_x, grad_weight) with grad_weight
// reduced to weight's shape; output_mask skips an unneeded one (it is returned as zeros).
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def("spectral_filter2d(Tensor x, Tensor weight) -> Tensor");
  m.def("_spectral_filter2d_backward(Tensor grad, Tensor x, Tensor weight, bool[2] output_mask) -> (Tensor, Tensor)");
}
