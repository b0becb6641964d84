#include <torch/library.h>

// Complex 2-D convolution on the split layout: x = [B, 2*Cin, H, W] holds the real parts in channels
// [0, Cin) and the imaginary parts in [Cin, 2*Cin); weight_re/weight_im are [Cout, Cin/groups, kh, kw].
// y = (Wr + i Wi) * (xr + i xi) + (br + i bi) = [conv(xr,Wr) - conv(xi,Wi) + br ; conv(xr,Wi) + conv(xi,Wr) + bi],
// shape [B, 2*Cout, H', W'] in x's memory format (channels_last when x is, else contiguous). The backward
// returns (grad_x, grad_weight_re, grad_weight_im, grad_bias_re, grad_bias_im) with the bias grads of shape
// [Cout]; output_mask = (x, weights, biases) skips unneeded ones (returned as zeros).
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def(
      "complex_conv2d(Tensor x, Tensor weight_re, Tensor weight_im, Tensor? bias_re, Tensor? bias_im, "
      "int[2] stride, int[2] padding, int[2] dilation, int groups) -> Tensor");
  m.def(
      "_complex_conv2d_backward(Tensor grad, Tensor x, Tensor weight_re, Tensor weight_im, int[2] stride, "
      "int[2] padding, int[2] dilation, int groups, bool[3] output_mask) -> (Tensor, Tensor, Tensor, Tensor, Tensor)");
}
