// Winograd's F(4x4, 3x3) complex convolution, stride 1 (cpu/complex_conv_winograd.cpp), vectorized over channels,
// over the blocks of tiles [block0, block1): one 4x4 output tile per (sample, tile row, tile column), tile_block
// tiles per block.
#pragma once

#include <cstdint>

#include "cpu/lanes/dispatch.h"

namespace specdiff {

template <typename T>
struct WinogradConv {
  const T* x;        // channels_last split input [B][H][W][2C]: the real channels, then the imaginary
  const T* u;        // transformed weights [36][3][C][Cout]: G g G^T of Wr, Wi - Wr, Wr + Wi
  const T* bias_re;  // [Cout], or nullptr
  const T* bias_im;
  T* y;              // channels_last split output [B][OH][OW][2Cout]
  int64_t B, H, W, C, Cout, OH, OW, pad_h, pad_w;
  int64_t tile_block;  // the forward's: a multiple of WinogradKernels::rows
};

// scratch: winograd_scratch_elems(C, Cout, tile_block) elements per thread. C and Cout multiples of lanes.
template <typename T>
using WinogradConvFn = void (*)(const WinogradConv<T>& conv, int64_t block0, int64_t block1, T* scratch);

inline int64_t winograd_scratch_elems(int64_t C, int64_t Cout, int64_t tile_block) {
  return 36 * tile_block * (3 * C + 2 * Cout);
}

// The weights' gradient of that convolution (conv.u, conv.bias_*, conv.y unused) from the channels_last split
// upstream gradient grad [B][OH][OW][2Cout], over the blocks [block0, block1): adds conj(V)^T dM per tile position
// into acc [36][2][C][Cout] (the real parts, then the imaginary), before G^T . G. Scratch:
// winograd_grad_scratch_elems(C, Cout, tile_block) elements.
template <typename T>
using WinogradWeightGradFn = void (*)(const WinogradConv<T>& conv, const T* grad, int64_t block0, int64_t block1,
                                      T* scratch, T* acc);

inline int64_t winograd_grad_scratch_elems(int64_t C, int64_t Cout, int64_t tile_block) {
  return 36 * tile_block * 3 * (C + Cout);
}

template <typename T>
struct WinogradKernels {
  int rows;  // the forward GEMM micro-kernel's rows: tile blocks are multiples of it
  WinogradConvFn<T> forward;
  WinogradWeightGradFn<T> weight_grad;
};

SPECDIFF_DECLARE_LANES(WinogradKernels, winograd_lanes)

}  // namespace specdiff
