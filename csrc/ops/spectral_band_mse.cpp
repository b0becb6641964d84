#include <torch/library.h>

// Per-sample spectrally weighted MSE of a residual r [B, C, H, W] through Parseval, without an inverse FFT:
// loss[b] = sum over the full spectrum of band(rho) |rfft2(r_b, "ortho")|^2 / (C H W); band == 1 gives the MSE.
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def(
      "spectral_band_mse(Tensor residual, Tensor inner, Tensor outer, Tensor gain, float temperature, str kind) "
      "-> Tensor");
  m.def(
      "_spectral_band_mse_backward(Tensor grad, Tensor residual, Tensor inner, Tensor outer, Tensor gain, "
      "float temperature, str kind, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)");
}
