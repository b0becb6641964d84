// The analytic band (common/band.h) as a weight computed in the kernel: a policy for the fused round trip
// (roundtrip_kernel.cuh) and an elementwise kernel over a half spectrum, both reducing the parameter
// gradients per slice by a block sum.
#pragma once

#include "common/band.h"
#include "cuda/device.cuh"

namespace specdiff::cuda {

template <typename T>
struct BandWeight {
  BandKind kind;
  T temperature;
  const T* inner_p;
  const T* outer_p;
  const T* gain_p;
  int64_t inner_stride, outer_stride, gain_stride;
  const T* slice_scale;
  T scale;
  T* partial;
  int H, W;
  // The block's slice.
  T inner, outer, gain, factor;
  T acc[4];

  BandWeight(const BandArgs& a, int H_, int W_)
      : kind(static_cast<BandKind>(a.kind)),
        temperature(static_cast<T>(a.temperature)),
        inner_p(static_cast<const T*>(a.inner)),
        outer_p(static_cast<const T*>(a.outer)),
        gain_p(static_cast<const T*>(a.gain)),
        inner_stride(a.inner_stride),
        outer_stride(a.outer_stride),
        gain_stride(a.gain_stride),
        slice_scale(static_cast<const T*>(a.slice_scale)),
        scale(static_cast<T>(a.scale)),
        partial(static_cast<T*>(a.partial)),
        H(H_),
        W(W_),
        inner(0),
        outer(0),
        gain(0),
        factor(0),
        acc{} {}

  __device__ void begin(int64_t slice, int64_t, int64_t, T*) {
    inner = inner_p[slice * inner_stride];
    outer = outer_p[slice * outer_stride];
    gain = gain_p[slice * gain_stride];
    factor = slice_scale ? scale * slice_scale[slice] : scale;
    for (int j = 0; j < 4; ++j) acc[j] = T(0);
  }

  __device__ Cx<T> apply(int h, int k, Cx<T> g, Cx<T> c, bool valid) {
    const BandValue<T> v = band_value<T>(kind, band_rho<T>(h, k, H, W), inner, outer, gain, temperature);
    if (partial && valid) {
      acc[0] += c.re * v.w;
      acc[1] += c.re * v.d_inner;
      acc[2] += c.re * v.d_outer;
      acc[3] += c.re * v.d_gain;
    }
    const T w = v.w * factor;
    return {g.re * w, g.im * w};
  }

  __device__ void finish(T* scratch, int64_t slice, int64_t split, int64_t splits) {
    if (!partial) return;
    block_sum<T, 4>(acc, scratch);
    if (threadIdx.x == 0) {
      for (int j = 0; j < 4; ++j) partial[(slice * splits + split) * 4 + j] = acc[j];
    }
  }
};

// out = band * in over a contiguous half spectrum [slices][per_slice] of bins [..., H, W/2+1]; block
// (slice, split) takes a contiguous share of its slice, so each block reduces for one slice.
template <typename T, typename S>
__global__ void __launch_bounds__(kBlockThreads)
    band_spectrum_kernel(const BandSpectrumArgs a, const BandWeight<T> band) {
  const Cx<S>* in = static_cast<const Cx<S>*>(a.in);
  const Cx<S>* other = static_cast<const Cx<S>*>(a.other);
  Cx<S>* out = static_cast<Cx<S>*>(a.out);
  const int Wf = a.W / 2 + 1;
  const int64_t slice = blockIdx.x / a.splits, split = blockIdx.x % a.splits;
  const int64_t per_slice = a.numel / a.slices;
  const int64_t begin = slice * per_slice + per_slice * split / a.splits;
  const int64_t end = slice * per_slice + per_slice * (split + 1) / a.splits;
  BandWeight<T> wt = band;
  wt.begin(slice, split, a.splits, nullptr);
  for (int64_t e = begin + threadIdx.x; e < end; e += blockDim.x) {
    const int k = static_cast<int>(e % Wf);
    const int h = static_cast<int>((e / Wf) % a.H);
    const Cx<T> g = load_cx<T>(in + e);
    Cx<T> c{T(0), T(0)};
    if (other) {
      const Cx<T> x = load_cx<T>(other + e);
      c.re = (a.doubled && k != 0 && 2 * k != a.W ? T(2) : T(1)) * (g.re * x.re + g.im * x.im);
    }
    const Cx<T> y = wt.apply(h, k, g, c, true);
    if (out) store_cx(out + e, y);
  }
  wt.finish(dynamic_smem<T>(), slice, split, a.splits);
}

}  // namespace specdiff::cuda
