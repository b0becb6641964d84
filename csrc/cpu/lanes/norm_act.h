// The elementwise loops of complex_norm_act (cpu/complex_norm_act_kernel.cpp): one sample's complex channel at a
// time, its real and imaginary planes xr, xi of n pixels, with z = (c[0] xr + c[1]) + i (c[2] xi + c[3]) (batch
// norm and FiLM folded into one affine map per part) and s = σ(|z|).
#pragma once

#include <cstdint>

#include "cpu/lanes/dispatch.h"

namespace specdiff {

// y = z s.
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

template <typename T>
struct NormActKernels {
  MomentsFn<T> moments;
  NormActFn<T> forward;
  NormActSumsFn<T> backward_sums;
  NormActBackwardFn<T> backward;
};

SPECDIFF_DECLARE_LANES(NormActKernels, norm_act_lanes)

}  // namespace specdiff
