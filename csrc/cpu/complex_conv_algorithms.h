// The algorithms of the complex convolutions, one file each, behind the one chooser (choose_algorithm in
// cpu/complex_conv.cpp, as PyTorch's select_conv_backend in aten/src/ATen/native/ConvUtils.h):
//
//   block     complex_conv_block.cpp     ONE oneDNN convolution with the block weight [[Wr, -Wi], [Wi, Wr]]
//   gauss     complex_conv_gauss.cpp     Gauss's three products as three channels_last oneDNN convolutions
//   winograd  complex_conv_winograd.cpp  Winograd's F(4x4, 3x3) with Gauss's products, per-ISA lane kernels
//   gemm      complex_conv_gemm.cpp      pointwise convolutions as per-sample BLAS GEMMs with Gauss's products
//
// Each takes checked arguments (check_complex_conv) and returns the output, or the five gradients (grad_x,
// grad_weight_re, grad_weight_im, grad_bias_re, grad_bias_im; an unneeded one as zeros), with x's layout `fmt`
// (io_memory_format) where it has one. Measurements behind the choice: docs/cpu_kernels.md.
#pragma once

#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>

#include <algorithm>
#include <array>
#include <optional>
#include <tuple>
#include <vector>

#include "cpu/complex_conv.h"
#include "cpu/workspace.h"

namespace specdiff::cpu {

using ConvGrads = std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>;
using OptionalTensor = std::optional<at::Tensor>;

// ---- Shared by the algorithms (complex_conv.cpp)

int64_t out_channels(const at::Tensor& weight_re, const ComplexConvParams& p);

// t (contiguous) in channels_last, or (channels_last) back in the contiguous layout, as a fresh tensor: one pass of
// the lane kernels' register-tile transposes (lanes/conv_layout.h).
at::Tensor relayout(const at::Tensor& t, bool to_channels_last);

// An uninitialised channels_last tensor of `sizes` (NCHW) viewing the calling thread's call_workspace for `slot`
// (cpu/workspace.h): an intermediate that must not leave the op.
at::Tensor channels_last_scratch(CallSlot slot, at::IntArrayRef sizes, const at::TensorOptions& options);

// t in channels_last, an intermediate: t itself when it is already, a relayout into the slot's scratch from the
// contiguous layout, else through ATen.
at::Tensor to_channels_last(const at::Tensor& t, CallSlot slot);

// Runs fn(b, p0, p1) over every sample b and range of at most 256 of its P pixels, in parallel: the tasks of the
// layout-changing passes.
template <typename F>
void for_pixel_chunks(int64_t B, int64_t P, const F& fn) {
  constexpr int64_t kChunk = 256;
  const int64_t chunks = (P + kChunk - 1) / kChunk;
  at::parallel_for(0, B * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / chunks, p0 = task % chunks * kChunk;
      fn(b, p0, std::min(P, p0 + kChunk));
    }
  });
}

// ---- The algorithms

at::Tensor block_forward(const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi, const OptionalTensor& br,
                         const OptionalTensor& bi, const ComplexConvParams& p, at::MemoryFormat fmt);
ConvGrads block_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi,
                         const ComplexConvParams& p, std::array<bool, 3> mask, at::MemoryFormat fmt);

at::Tensor gauss_forward(const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi, const OptionalTensor& br,
                         const OptionalTensor& bi, const ComplexConvParams& p, at::MemoryFormat fmt);
ConvGrads gauss_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi,
                         const ComplexConvParams& p, std::array<bool, 3> mask, at::MemoryFormat fmt);

// Winograd's form serves 3x3 convolutions of stride 1, no dilation, one group, padding at most 2 and channels in
// multiples of 16.
bool winograd_fits(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p);
// The 4x4 output tiles of the convolution (Winograd's form computes whole tiles).
int64_t winograd_tiles(const at::Tensor& x, const ComplexConvParams& p);
at::Tensor winograd_forward(const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi, const OptionalTensor& br,
                            const OptionalTensor& bi, const ComplexConvParams& p, at::MemoryFormat fmt);
ConvGrads winograd_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi,
                            const ComplexConvParams& p, std::array<bool, 3> mask, at::MemoryFormat fmt);

// The GEMM form serves pointwise convolutions (1x1, stride 1, unpadded, not transposed) on the contiguous layout
// where this torch exports a BLAS for the dtype and the sizes fit its 32-bit arguments.
bool gemm_fits(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p, at::MemoryFormat fmt);
at::Tensor gemm_forward(const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi, const OptionalTensor& br,
                        const OptionalTensor& bi, const ComplexConvParams& p);
ConvGrads gemm_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi,
                        const ComplexConvParams& p, std::array<bool, 3> mask);

}  // namespace specdiff::cpu
