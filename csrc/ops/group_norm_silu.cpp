#include <torch/library.h>

// Group norm followed by SiLU in one op: for x = [B, C, *] with C split into `groups` groups of C / groups
// consecutive channels, h = (x - mean) * rstd * weight + bias with the biased statistics of each (sample, group),
// y = h sigmoid(h) (weight, bias: [C]). Returns (y, mean, rstd), mean and rstd [B, groups]. The backward returns
// (grad_x, grad_weight, grad_bias) from the saved statistics; output_mask = (x, weight and bias) skips unneeded
// ones (returned as zeros).
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def("group_norm_silu(Tensor x, Tensor weight, Tensor bias, int groups, float eps) -> (Tensor, Tensor, Tensor)");
  m.def(
      "_group_norm_silu_backward(Tensor grad, Tensor x, Tensor weight, Tensor bias, Tensor mean, Tensor rstd, "
      "int groups, bool[2] output_mask) -> (Tensor, Tensor, Tensor)");
}
