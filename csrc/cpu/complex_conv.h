// The complex convolution on the split layout [B, 2C, H, W] (real half first), shared by complex_conv2d and
// complex_conv_transpose2d: checks, the choice of algorithm (complex_conv_algorithms.h) and the call.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace specdiff::cpu {

struct ComplexConvParams {
  std::vector<int64_t> stride, padding, dilation, output_padding;  // output_padding: {0, 0} unless transposed
  int64_t groups;
  bool transposed;
};

enum class ConvAlgorithm { block, gauss, gemm, winograd };

// The one chooser: which algorithm runs a convolution of x by weights shaped like weight_re whose output (and grad_x)
// has layout fmt (conv_memory_format(x)), unless set_conv_algorithm forced one. Operands holding inf or NaN take
// the block form whatever this says (complex_conv_forward / _backward check their values).
ConvAlgorithm choose_algorithm(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p,
                               at::MemoryFormat fmt);
at::MemoryFormat conv_memory_format(const at::Tensor& x);
const char* conv_algorithm_name(ConvAlgorithm a);

// Forces "block", "gauss", "gemm" or "winograd" for every later call ("auto": choose_algorithm decides), for tests
// and benchmarks; returns the previous setting.
std::string set_conv_algorithm(const std::string& name);

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
