// Layout changes of the complex convolutions' operands (cpu/complex_conv_gauss.cpp, cpu/complex_conv_winograd.cpp),
// for the pixels [p0, p1) of one sample, through register-tile transposes: between the split planes [2C][P] (the
// contiguous layout, P = H W pixels) and channels_last [P][C].
#pragma once

#include <cstdint>

#include "cpu/lanes/dispatch.h"

namespace specdiff {

// Gauss's three operands from the split planes in = [re | im] to three channels_last parts [P][C]: (re + im, im, re)
// for the forward (GaussSplitFn `forward`), (re, re - im, re + im) for the backward's input (`adjoint`).
template <typename T>
using GaussSplitFn = void (*)(const T* in, int64_t C, int64_t P, int64_t p0, int64_t p1, T* o0, T* o1, T* o2);

// Their way back: from channels_last k, u, v, [P][C], to the split planes out = [k - u | k - v], [2C][P].
template <typename T>
using GaussMergeFn = void (*)(const T* k, const T* u, const T* v, int64_t C, int64_t P, int64_t p0, int64_t p1,
                              T* out);

// C planes [C][P] to channels_last [P][C], or back.
template <typename T>
using RelayoutFn = void (*)(const T* in, int64_t C, int64_t P, int64_t p0, int64_t p1, T* out);

template <typename T>
struct ConvLayoutKernels {
  GaussSplitFn<T> gauss_split_forward;
  GaussSplitFn<T> gauss_split_adjoint;
  GaussMergeFn<T> gauss_merge;
  RelayoutFn<T> planes_to_channels_last;
  RelayoutFn<T> channels_last_to_planes;
};

SPECDIFF_DECLARE_LANES(ConvLayoutKernels, conv_layout_lanes)

}  // namespace specdiff
