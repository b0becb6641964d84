#include <torch/library.h>

// Weights a complex half spectrum spec [B, C, H, W//2+1] of images of width `width` by the analytic
// band of `kind` ("radial": gain * rho; "bandpass": gain * sigmoid(T(rho - inner)) * (1 - sigmoid(T(rho -
// outer)))), computed in the kernel from the true FFT frequencies. inner/outer/gain are 0-d or [B].
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def(
      "spectral_band_weight(Tensor spec, Tensor inner, Tensor outer, Tensor gain, float temperature, int width, "
      "str kind) -> Tensor");
  m.def(
      "_spectral_band_weight_backward(Tensor grad, Tensor spec, Tensor inner, Tensor outer, Tensor gain, "
      "float temperature, int width, str kind, bool[4] output_mask) -> (Tensor, Tensor, Tensor, Tensor)");
}
