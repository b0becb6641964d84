#include <ATen/ATen.h>
#include <torch/library.h>

#include "cpu/complex_conv.h"

namespace specdiff::cpu {

namespace {

ComplexConvParams conv_params(at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                              int64_t groups) {
  return {stride.vec(), padding.vec(), dilation.vec(), {0, 0}, groups, /*transposed=*/false};
}

at::Tensor complex_conv2d_cpu(const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
                              const std::optional<at::Tensor>& bias_re, const std::optional<at::Tensor>& bias_im,
                              at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation,
                              int64_t groups) {
  return complex_conv_forward(x, weight_re, weight_im, bias_re, bias_im,
                              conv_params(stride, padding, dilation, groups));
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> complex_conv2d_backward_cpu(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, int64_t groups,
    std::array<bool, 3> mask) {
  return complex_conv_backward(grad, x, weight_re, weight_im, conv_params(stride, padding, dilation, groups), mask);
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CPU, m) {
  m.impl("complex_conv2d", &complex_conv2d_cpu);
  m.impl("_complex_conv2d_backward", &complex_conv2d_backward_cpu);
}

}  // namespace specdiff::cpu
