#include <torch/library.h>

// A convolution computed in frequency with K learned global bases:
// y = irfft2(sum_c M[:, c] * rfft2(x[:, c], s, norm="ortho"), s, norm="ortho")[..., :H, :W] with the per-bin mixing
// M[o, c] = sum_j basis[j] * taps[j, o, c]; x [B, C_in, H, W] real, basis [K, s0, s1//2+1] complex, taps
// [K, C_out, C_in] real, s (default (H, W)) the transform size, x zero-padded at the end to it. The backward returns
// (grad_x, grad_basis, grad_taps); output_mask skips an unneeded one (it is returned as zeros).
//
// The saved-spectrum pair, which the autograd uses on the CPU when the bases or the taps need their gradient and the
// lane FFT computes the grid: _spectral_conv2d_saving returns y and X = rfft2(x, s) (unnormalized) as real
// [s0, s1//2+1, B, 2, C_in] (at each bin a sample's C_in real parts, then its imaginary ones);
// _spectral_conv2d_backward_saved takes that X in place of x, so the backward transforms only the upstream gradient.
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def("spectral_conv2d(Tensor x, Tensor basis, Tensor taps, int[]? s=None) -> Tensor");
  m.def(
      "_spectral_conv2d_backward(Tensor grad, Tensor x, Tensor basis, Tensor taps, bool[3] output_mask, "
      "int[]? s=None) -> (Tensor, Tensor, Tensor)");
  m.def("_spectral_conv2d_saving(Tensor x, Tensor basis, Tensor taps, int[]? s=None) -> (Tensor, Tensor)");
  m.def(
      "_spectral_conv2d_backward_saved(Tensor grad, Tensor spectra, Tensor basis, Tensor taps, bool[3] output_mask, "
      "int[]? s=None) -> (Tensor, Tensor, Tensor)");
}
