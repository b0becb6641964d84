// The elementwise loops of the fused norm + activation ops.
// complex_norm_act (cpu/complex_norm_act_kernel.cpp): one sample's complex channel at a time, its real and
// imaginary planes xr, xi of n pixels, with z = (c[0] xr + c[1]) + i (c[2] xi + c[3]) (batch norm and FiLM folded
// into one affine map per part) and s = σ(|z|).
// group_norm_silu (cpu/group_norm_silu_kernel.cpp): one (sample, channel) plane x of n values at a time, with
// z = c[0] x + c[1] (group norm folded into one affine map) and s = σ(z).
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

// y = z s.
template <typename T>
using SiluFn = void (*)(const T* x, const T* c, int64_t n, T* y);

// gz = g s (1 + z (1 - s)) (the gradient of y = z s by z, given the upstream g), and sums[0..1] = Σ gz,
// Σ gz (x - mu), centred on the group mean.
template <typename T>
using SiluSumsFn = void (*)(const T* x, const T* g, const T* c, T mu, int64_t n, T* gz, T* sums);

// gx = d[0] gz + d[1] x + d[2].
template <typename T>
using SiluBackwardFn = void (*)(const T* x, const T* gz, const T* d, int64_t n, T* gx);

template <typename T>
struct NormActKernels {
  MomentsFn<T> moments;
  NormActFn<T> forward;
  NormActSumsFn<T> backward_sums;
  NormActBackwardFn<T> backward;
  SiluFn<T> silu;
  SiluSumsFn<T> silu_sums;
  SiluBackwardFn<T> silu_backward;
};

SPECDIFF_DECLARE_LANES(NormActKernels, norm_act_lanes)

}  // namespace specdiff
