// Driver shared by complex_conv2d and complex_conv_transpose2d: the complex convolution on the split layout
// [B, 2C, H, W] as ONE real convolution with the block weight [[Wr, -Wi], [Wi, Wr]] (oneDNN on CPU).
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <tuple>
#include <vector>

namespace specdiff::cpu {

struct ComplexConvParams {
  std::vector<int64_t> stride, padding, dilation, output_padding;  // output_padding: {0, 0} unless transposed
  int64_t groups;
  bool transposed;
};

// TORCH_CHECKs every argument; the message names the argument and the expected shape or dtype.
void check_complex_conv(const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
                        const std::optional<at::Tensor>& bias_re, const std::optional<at::Tensor>& bias_im,
                        const ComplexConvParams& p);

at::Tensor complex_conv_forward(const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
                                const std::optional<at::Tensor>& bias_re, const std::optional<at::Tensor>& bias_im,
                                const ComplexConvParams& p);

// (grad_x, grad_weight_re, grad_weight_im, grad_bias_re, grad_bias_im); mask = (x, weights, biases), an
// unneeded gradient is returned as zeros.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> complex_conv_backward(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
    const ComplexConvParams& p, std::array<bool, 3> mask);

}  // namespace specdiff::cpu
