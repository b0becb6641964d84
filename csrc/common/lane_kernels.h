// Interface of the lane-vectorized spectral kernels.
//
// A "block" is up to `lanes` image planes processed together: every complex value of the block
// is stored as `lanes` consecutive reals (one SIMD register of the ISA), so each butterfly of the FFT is a
// plain loop over lanes that the compiler turns into AVX2 / AVX-512 instructions. The kernels are
// compiled once per ISA (lane_kernels_{base,avx2,avx512}.cpp) and chosen at run time (cpu_isa.h).
#pragma once

#include <cstdint>

#include "common/fft_plan.h"

namespace specdiff {

constexpr int kMaxLanes = 16;  // 64-byte vectors of float

// Kernel outputs of at least this size (a quarter of a 32 MiB last-level cache, as on the machine the benchmarks
// ran on) are written with streaming stores: their pass's working set does not stay in the cache anyway, and
// skipping each output line's read-for-ownership made the passes faster (in-process A/B: band weighting
// fwd+bwd 0-9% at the 8-18 MB standard shapes; the FFT round trip fwd 4-10%, fwd+bwd 4-25% at 8-16 MiB). At
// 4.7 MB streaming made band weighting slower: smaller outputs go through the cache, where the next op finds them.
constexpr int64_t kStreamingStoreMinBytes = int64_t{8} << 20;

// One fused round trip  out = irfft2(weight . rfft2(src))  over a block of planes, and its
// backward  grad_src = irfft2(conj(weight) . rfft2(grad))  with
// grad_weight += D . rfft2(grad) . conj(rfft2(src))  (D = 2 for interior columns, 1 for the
// DC and Nyquist columns; the factor undoes the half-spectrum doubling of irfft2's adjoint).
template <typename T>
struct RoundTripBlock {
  int count;                  // valid lanes, 1..lanes; missing lanes repeat lane 0's inputs
  int64_t H, W;
  const T* in[kMaxLanes];     // plane bases of the transformed input (x forward, grad_y backward)
  int64_t in_sh, in_sw;       // element strides of `in` planes
  const T* src[kMaxLanes];    // backward with grad_weight: plane bases of x, else unused
  int64_t src_sh, src_sw;
  bool src_is_in;             // src and in are the same planes: transform once
  T* out[kMaxLanes];          // contiguous [H][W] output planes, or nullptr to skip the inverse
  bool stream_out;            // write out with streaming stores where aligned (outputs larger than the caches)
  const T* weight[kMaxLanes]; // [H][Wf] real or [H][Wf][2] complex (interleaved) per lane
  bool weight_complex;
  bool weight_uniform;        // every lane points at the same weight slice
  bool conj_weight;           // backward uses conj(weight)
  double* grad_weight[kMaxLanes];  // accumulators column-major, [W/2+1][H] (x2 if complex), or nullptr
  T* scratch;                 // roundtrip_scratch_elems(H, W) elements, 64-byte aligned
  // Per-lane (non-uniform) weights in lane layout, [H][Wf] (then the imaginary parts if complex), aligned to
  // the vector size, or nullptr to gather them bin by bin. weight_lanes_ready: it already holds this block's
  // weights (the caller built them there for an earlier block with the same weight slices).
  T* weight_lanes;
  bool weight_lanes_ready;
  // Consecutive blocks whose lanes add into the same grad_weight slices (a weight shared over the batch) sum
  // their terms here first, in lane layout, [Wf][H] (then the imaginary parts if complex), 64-byte aligned;
  // the run's last block adds the sums into grad_weight. nullptr: add each block's terms directly.
  // grad_lanes_start: this block starts the run (stores instead of adding); grad_lanes_flush: it ends it.
  T* grad_lanes;
  bool grad_lanes_start;
  bool grad_lanes_flush;
};

// Elements of scratch one thread needs for a block of size H x W.
int64_t roundtrip_scratch_elems(int64_t H, int64_t W, int lanes_per_vector);

// The distance, in lane vectors of `vector_bytes`, between the columns of the round trip's spectra in its
// scratch. The row passes write and read one bin of every column; columns a multiple of 2 KiB apart put those
// bins in one or two of the 64 sets of a 4 KiB-periodic L1, where they evict each other, so such columns get
// one vector more (at most H + 1: roundtrip_scratch_elems reserves that).
inline int64_t roundtrip_column_stride(int64_t H, int64_t vector_bytes) {
  return (H * vector_bytes) % 2048 == 0 ? H + 1 : H;
}

template <typename T>
using RoundTripFn = void (*)(const FftPlanView<T>& plan_h, const FftPlanView<T>& plan_w,
                             const RoundTripBlock<T>& block);

// Band weighting, on interleaved (re, im) values with a pair-expanded table (each bin's weight twice), of
// `planes` consecutive planes of m values that share the table: y[i m + j] = w[j] x[i m + j] for j < m.
// stream: write y with streaming stores (for outputs larger than the caches), fenced once at the end.
template <typename T>
using BandScaleFn = void (*)(const T* w, const T* x, T* y, int64_t m, int64_t planes, bool stream);

// Its backward over those planes: y[i m + j] = w[j] g[i m + j] (skipped when y is nullptr), and the band
// parameters' gradients: sums[k] += sum over i, j of g[i m + j] s[i m + j] d[k][j] for k < 3, where d are the
// pair-expanded derivative tables of the band (d inner, d outer, d gain): with interleaved values,
// g[2b] s[2b] + g[2b + 1] s[2b + 1] is the bin's correlation Re(g conj(s)).
template <typename T>
using BandScaleCorrelateFn = void (*)(const T* w, const T* const* d, const T* g, const T* s, T* y, int64_t m,
                                      int64_t planes, bool stream, double* sums);

// complex_norm_act on one sample's channel: the real and imaginary planes xr, xi of n pixels, with
// z = (c[0] xr + c[1]) + i (c[2] xi + c[3]) (batch norm and FiLM folded into one affine map per part) and
// s = σ(|z|). Forward: y = z s.
template <typename T>
using NormActFn = void (*)(const T* xr, const T* xi, const T* c, int64_t n, T* yr, T* yi);

// sums[0..3] = Σ gz_r, Σ gz_r (xr - mu[0]), Σ gz_i, Σ gz_i (xi - mu[1]) for gz = s g + z s (1 - s) Re(conj(z) g) / |z|
// (the gradient of y = z s by z, given the upstream g); centred on the channel means, so float32 sums do not
// cancel.
template <typename T>
using NormActSumsFn = void (*)(const T* xr, const T* xi, const T* gr, const T* gi, const T* c, const T* mu, int64_t n,
                               T* sums);

// gx_r = d[0] gz_r + d[1] xr + d[2], gx_i = d[3] gz_i + d[4] xi + d[5].
template <typename T>
using NormActBackwardFn = void (*)(const T* xr, const T* xi, const T* gr, const T* gi, const T* c, const T* d,
                                   int64_t n, T* gxr, T* gxi);

// out[0] = Σ (x - shift), out[1] = Σ (x - shift)^2 over n values.
template <typename T>
using MomentsFn = void (*)(const T* x, int64_t n, T shift, T* out);

// Gauss's operands of a complex convolution (complex_conv.cpp) for pixels [p0, p1) of one sample: from the split
// planes in = [re | im], [2C][P], to three channels_last parts [P][C]: (re + im, im, re), or with backward_input
// (re, re - im, re + im). Register-tile transposes.
template <typename T>
using GaussSplitFn = void (*)(const T* in, int64_t C, int64_t P, int64_t p0, int64_t p1, bool backward_input,
                              T* o0, T* o1, T* o2);

// Its way back for pixels [p0, p1): from channels_last k, u, v, [P][C], to the split planes out = [k - u | k - v],
// [2C][P].
template <typename T>
using GaussMergeFn = void (*)(const T* k, const T* u, const T* v, int64_t C, int64_t P, int64_t p0, int64_t p1,
                              T* out);

// The pixels [p0, p1) of one sample from C planes [C][P] to channels_last [P][C], and back. Register-tile
// transposes.
template <typename T>
using RelayoutFn = void (*)(const T* in, int64_t C, int64_t P, int64_t p0, int64_t p1, T* out);

// Winograd's F(4x4, 3x3) complex convolution, stride 1 (cpu/lane_winograd.h), over the blocks of tiles
// [block0, block1): one 4x4 output tile per (sample, tile row, tile column), tile_block tiles per block.
template <typename T>
struct WinogradConv {
  const T* x;        // channels_last split input [B][H][W][2C]: the real channels, then the imaginary
  const T* u;        // transformed weights [36][3][C][Cout]: G g G^T of Wr, Wi - Wr, Wr + Wi
  const T* bias_re;  // [Cout], or nullptr
  const T* bias_im;
  T* y;              // channels_last split output [B][OH][OW][2Cout]
  int64_t B, H, W, C, Cout, OH, OW, pad_h, pad_w;
  int64_t tile_block;  // the forward's: a multiple of LaneKernels::winograd_rows
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
struct LaneKernels {
  int lanes;  // planes per block: the ISA's vector width in elements of T
  RoundTripFn<T> roundtrip;
  BandScaleFn<T> band_scale;
  BandScaleCorrelateFn<T> band_scale_correlate;
  NormActFn<T> norm_act;
  NormActSumsFn<T> norm_act_sums;
  NormActBackwardFn<T> norm_act_backward;
  MomentsFn<T> moments;
  GaussSplitFn<T> gauss_split;
  GaussMergeFn<T> gauss_merge;
  RelayoutFn<T> planes_to_channels_last;
  RelayoutFn<T> channels_last_to_planes;
  int winograd_rows;  // the GEMM micro-kernel's rows
  WinogradConvFn<T> winograd_conv;
  WinogradWeightGradFn<T> winograd_weight_grad;
};

#define SPECDIFF_DECLARE_ISA(ns)                    \
  namespace ns {                                    \
  extern const LaneKernels<float> kernels_float;    \
  extern const LaneKernels<double> kernels_double;  \
  }
SPECDIFF_DECLARE_ISA(isa_base)
SPECDIFF_DECLARE_ISA(isa_avx2)
SPECDIFF_DECLARE_ISA(isa_avx512)
#undef SPECDIFF_DECLARE_ISA

}  // namespace specdiff
