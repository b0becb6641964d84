#include <torch/library.h>

// Real-space round trip with the analytic band: irfft2(band(rho) * rfft2(x, "ortho"), s=(H, W), "ortho").
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def(
      "spectral_band_filter2d(Tensor x, Tensor inner, Tensor outer, Tensor gain, float temperature, str kind) "
      "-> Tensor");
  m.def(
      "_spectral_band_filter2d_backward(Tensor grad, Tensor x, Tensor inner, Tensor outer, Tensor gain, "
      "float temperature, str kind, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)");
}
