// The analytic band's tables (fill, shared by every band op) and the band weighting of interleaved (re, im) half
// spectra by a pair-expanded table (each bin's weight twice), the lane kernels of spectral_band_weight. A weighting
// call covers `planes` consecutive planes of m values that share one table.
#pragma once

#include <cstdint>

#include "common/band.h"
#include "cpu/lanes/dispatch.h"

namespace specdiff {

// y[i m + j] = w[j] x[i m + j] for j < m. stream: write y with streaming stores (outputs larger than the caches),
// fenced once at the end. plane_pairs: two planes per loop where m is a whole number of vectors, each vector of the
// table loaded once for both (band_planes_in_pairs, cpu/band_mask.h, says when).
template <typename T>
using BandScaleFn = void (*)(const T* w, const T* x, T* y, int64_t m, int64_t planes, bool stream,
                             bool plane_pairs);

// sums[k] += sum over i, j of g[i m + j] s[i m + j] d[k][j] for k < 3, where d are the pair-expanded derivative
// tables of the band (d inner, d outer, d gain): with interleaved values, g[2b] s[2b] + g[2b + 1] s[2b + 1] is the
// bin's correlation Re(g conj(s)). plane_pairs: two planes per loop where m is a whole number of vectors, each vector
// of the tables loaded once for both (band_planes_in_pairs, cpu/band_mask.h, says when).
template <typename T>
using BandCorrelateFn = void (*)(const T* const* d, const T* g, const T* s, int64_t m, int64_t planes,
                                 bool plane_pairs, double* sums);

// Both at once, reading g once: y = gain d[2] g (the spectrum's gradient: d[2], the derivative by the gain, is the
// band over its gain, so the band's own table is not read) and the sums.
template <typename T>
using BandScaleCorrelateFn = void (*)(T gain, const T* const* d, const T* g, const T* s, T* y, int64_t m,
                                      int64_t planes, bool stream, bool plane_pairs, double* sums);

// One band's parameters (common/band.h's band_value).
template <typename T>
struct BandShape {
  BandKind kind;
  T inner, outer, gain, temperature;
};

// The band's tables on an H x Wf half spectrum from rho, the bins' radii on rows 0..H/2 (rows h and H - h have the
// same |fy|, so the other rows repeat them): tables[0] = the band and tables[1..3] = its derivatives by inner, outer
// and gain, each where given (null: not written); each value twice (H x Wf x 2) with `pairs`. scratch:
// band_fill_scratch values.
template <typename T>
using BandFillFn = void (*)(const BandShape<T>& band, const T* rho, int64_t H, int64_t Wf, bool pairs,
                            T* const* tables, T* scratch);

inline int64_t band_fill_scratch(int64_t H, int64_t Wf) { return 4 * (H / 2 + 1) * Wf; }

template <typename T>
struct BandScaleKernels {
  BandFillFn<T> fill;
  BandScaleFn<T> scale;
  BandCorrelateFn<T> correlate;
  BandScaleCorrelateFn<T> scale_correlate;
};

SPECDIFF_DECLARE_LANES(BandScaleKernels, band_scale_lanes)

}  // namespace specdiff
