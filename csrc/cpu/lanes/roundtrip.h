// The fused FFT round trip over a block of planes (one plane per lane of the ISA's vector):
// out = irfft2(weight . rfft2(in, "ortho"), "ortho"), with the two "ortho" scalings folded into one 1 / (H W), and
// the correlations its backward and the band MSE need, summed per bin. Entry points (RoundTripKernels):
//
//   forward         out = irfft2(W . rfft2(in))
//   backward        out = irfft2(W . rfft2(in)) and sums += D rfft2(in) conj(rfft2(src)) / (H W)
//   weight_grad     sums += D rfft2(in) conj(rfft2(src)) / (H W)
//   energy          sums += D |rfft2(in)|^2 / (H W)
//   forward_energy  out = irfft2(W . rfft2(in)) and sums += D |rfft2(in)|^2 / (H W)
//   forward_save    out = irfft2(W . rfft2(in)), and rfft2(in) to `spectra`
//   backward_saved  out = irfft2(W . rfft2(in)) and sums += D rfft2(in) conj(X) / (H W), X read from `spectra`
//   weight_grad_saved  sums += D rfft2(in) conj(X) / (H W), X read from `spectra`
//
// and, for R > 1 responses per input plane (spectral_filter2d's depth multiplier, RoundTripBlock::responses):
//
//   forward_multi      out_j = irfft2(W_j . rfft2(in))                        j < R, one forward transform
//   backward_multi     out = irfft2(sum_j W_j . rfft2(in_j)) and sums_j += D rfft2(in_j) conj(rfft2(src)) / (H W)
//   input_grad_multi   out = irfft2(sum_j W_j . rfft2(in_j))                  one inverse transform
//   weight_grad_multi  sums_j += D rfft2(in_j) conj(rfft2(src)) / (H W)       src transformed once
//
// D = 2 for the interior columns of the half spectrum, 1 for the DC and Nyquist columns (it undoes the half
// spectrum's doubling in irfft2's adjoint, and makes a half-spectrum sum of |X|^2 Parseval's full one). The
// backward passes conj(W) (BlockWeight::imag_sign = -1). The half spectra of a block live only in the thread's
// scratch: nothing is written to memory between the transforms. The *_save / *_saved entries keep the forward's
// spectrum X = rfft2(x) (unnormalized) for the backward, which then reads X instead of transforming x again: per
// plane, [2][W/2+1][H] (real parts, then imaginary; column k's H bins contiguous, the order the column pass
// visits them).
//
// The transform grid H x W may exceed the planes' extent ph x pw (a zero-padded round trip, spectral_filter2d's
// `s`): the inputs count as zero beyond their extent, and the outputs are the grid's top-left ph x pw crop.
#pragma once

#include <cstdint>

#include "common/fft_plan.h"
#include "cpu/lanes/dispatch.h"

namespace specdiff {

constexpr int kMaxLanes = 16;  // 64-byte vectors of float

// What every block of one call shares; the caller computes it once, before its parallel loop.
template <typename T>
struct RoundTripGeometry {
  FftPlanView<T> rows;     // the transform along W
  FftPlanView<T> cols;     // the transform along H
  int64_t H, W;            // the transform grid
  int64_t ph, pw;          // the planes' extent, <= H, W: inputs are zero beyond it, outputs its top-left crop
  int64_t ld;              // lane vectors between the columns of a spectrum in the scratch (roundtrip_column_stride)
  int64_t in_sh, in_sw;    // element strides of the transformed planes (x forward, grad_y backward)
  int64_t src_sh, src_sw;  // of the correlated planes (x in the backward)
  bool weight_complex;     // weights [H][Wf][2] (interleaved) and complex sums, else [H][Wf] and real sums
  bool stream_out;         // write outputs with streaming stores where aligned (outputs larger than the caches)
  bool stream_spectra;     // the same for forward_save's spectra
};

// A block's weight: one slice for every lane, or per-lane slices in lane layout (RoundTripKernels::gather_weight).
template <typename T>
struct BlockWeight {
  const T* slice;  // [H][Wf] real or [H][Wf][2] complex, shared by all lanes; nullptr when `lanes` is given
  const T* lanes;  // [H][Wf] lane vectors (then the imaginary parts, [H][Wf], when complex), vector-aligned
  T imag_sign;     // 1, or -1 to multiply by conj(weight)
};

template <typename T>
struct RoundTripBlock {
  int count;                // valid lanes, 1..lanes; the spare lanes repeat lane 0's planes
  const T* in[kMaxLanes];   // plane bases of the transformed input
  const T* src[kMaxLanes];  // plane bases of the correlated input (backward, weight_grad)
  T* out[kMaxLanes];        // contiguous [ph][pw] output planes (forward, backward, forward_energy)
  T* spectra[kMaxLanes];    // saved spectra [2][Wf][H] (forward_save writes, the *_saved entries read them)
  BlockWeight<T> weight;    // (forward, backward, forward_energy)
  T* sums;                  // lane-layout sums [Wf][H] (then the imaginary parts, [Wf][H], when complex), vector-aligned
  T* scratch;               // roundtrip_scratch_elems(H, W, lanes, responses > 1) elements, vector-aligned
  // The *_multi entry points: response j reads in[l] + j in_step (the R upstream gradients of a plane) or writes
  // out[l] + j out_step, weighs with the weight's slice or lanes advanced by j weight_step, and sums into
  // sums + j sums_step.
  int responses;
  int64_t in_step, out_step, weight_step, sums_step;
};

template <typename T>
using RoundTripFn = void (*)(const RoundTripGeometry<T>& g, const RoundTripBlock<T>& block);

// lanes = the per-lane weight slices slices[l] in lane layout (see BlockWeight).
template <typename T>
using GatherWeightFn = void (*)(const RoundTripGeometry<T>& g, const T* const* slices, T* lanes);

// grad[l] += lane l of sums for l < count, then sums = 0. grad[l]: float64 [H][Wf] (x2, interleaved, when complex),
// the weight's layout.
template <typename T>
using FlushSumsFn = void (*)(const RoundTripGeometry<T>& g, T* sums, int count, double* const* grad);

template <typename T>
struct RoundTripKernels {
  int lanes;  // planes per block: the ISA's vector width in elements of T
  RoundTripFn<T> forward;
  RoundTripFn<T> backward;
  RoundTripFn<T> weight_grad;
  RoundTripFn<T> energy;
  RoundTripFn<T> forward_energy;
  RoundTripFn<T> forward_save;
  RoundTripFn<T> backward_saved;
  RoundTripFn<T> weight_grad_saved;
  RoundTripFn<T> forward_multi;
  RoundTripFn<T> backward_multi;
  RoundTripFn<T> input_grad_multi;
  RoundTripFn<T> weight_grad_multi;
  GatherWeightFn<T> gather_weight;
  FlushSumsFn<T> flush_sums;
};

SPECDIFF_DECLARE_LANES(RoundTripKernels, roundtrip_lanes)

// Elements of scratch one thread needs for blocks of H x W planes (the correlating entry points included; `multi`:
// the *_multi entry points, which keep a third half spectrum).
inline int64_t roundtrip_scratch_elems(int64_t H, int64_t W, int lanes_per_vector, bool multi = false) {
  const int64_t Wf = W / 2 + 1;
  const int64_t rows = H > W ? H : W;
  const int64_t staged = W < lanes_per_vector ? H * W : 0;  // whole-plane staging of short rows
  const int64_t spectra = multi ? 6 : 4;
  return (spectra * Wf * (H + 1) + 4 * rows + staged) * lanes_per_vector;  // columns at most H + 1 apart
}

// The distance, in lane vectors of `vector_bytes`, between the columns of a spectrum in the scratch. The row passes
// write and read one bin of every column; columns a multiple of half the L1's set period (its size over its ways)
// apart put those bins in one or two sets, where they evict each other, so such columns get one vector more.
inline int64_t roundtrip_column_stride(int64_t H, int64_t vector_bytes, int64_t l1_set_period) {
  const int64_t half = l1_set_period / 2;
  return half > 0 && (H * vector_bytes) % half == 0 ? H + 1 : H;
}

}  // namespace specdiff
