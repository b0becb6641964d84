// Pointwise (1x1, stride 1, unpadded) complex convolution on the contiguous split layout as batched GEMMs with
// Gauss's three real products per complex product, forward and backward.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <tuple>

namespace specdiff::cpu {

// Whether this torch exports a BLAS for dtype and the sizes fit its 32-bit arguments (pixels: H * W of a plane;
// channels: the larger of the complex input and output channel counts).
bool pointwise_available(at::ScalarType dtype, int64_t pixels, int64_t channels);

// y[b, g] = W_g x[b, g] + bias per (sample, group): x [B, 2*Cin, H, W] contiguous, weights [Cout, Cin/groups, 1, 1].
at::Tensor pointwise_forward(const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
                             const std::optional<at::Tensor>& bias_re, const std::optional<at::Tensor>& bias_im,
                             int64_t groups);

// (grad_x, grad_weight_re, grad_weight_im, grad_bias_re, grad_bias_im); mask = (x, weights, biases), an
// unneeded gradient is returned as zeros.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> pointwise_backward(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
    int64_t groups, std::array<bool, 3> mask);

}  // namespace specdiff::cpu
