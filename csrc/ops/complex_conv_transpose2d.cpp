#include <torch/library.h>

// Complex 2-D transposed convolution on the split layout: x = [B, 2*Cin, H, W] (real half first),
// weight_re/weight_im are [Cin, Cout/groups, kh, kw] as for conv_transpose2d;
// y = [ct(xr,Wr) - ct(xi,Wi) + br ; ct(xr,Wi) + ct(xi,Wr) + bi], shape [B, 2*Cout, H', W'] with
// H' = (H-1)*stride - 2*padding + dilation*(kh-1) + output_padding + 1, in x's memory format. The backward
// mirrors _complex_conv2d_backward.
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def(
      "complex_conv_transpose2d(Tensor x, Tensor weight_re, Tensor weight_im, Tensor? bias_re, Tensor? bias_im, "
      "int[2] stride, int[2] padding, int[2] output_padding, int groups, int[2] dilation) -> Tensor");
  m.def(
      "_complex_conv_transpose2d_backward(Tensor grad, Tensor x, Tensor weight_re, Tensor weight_im, "
      "int[2] stride, int[2] padding, int[2] output_padding, int groups, int[2] dilation, bool[3] output_mask) "
      "-> (Tensor, Tensor, Tensor, Tensor, Tensor)");
}
