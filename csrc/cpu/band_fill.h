// The analytic band (common/band.h) over many bins at once, in loops the compiler vectorizes: libm's exp
// stays a scalar call inside a SIMD loop, which made filling a band table cost more than applying it.
#pragma once

#include <cstdint>

#include "common/band.h"
#include "cpu/simd_exp.h"

namespace specdiff::cpu {

// Fills w[j] = band(rho[j]) and, when di is given, the derivatives by inner, outer and gain (band_value's
// formulas) for j < n.
template <typename T>
void band_fill(BandKind kind, const T* rho, int64_t n, T inner, T outer, T gain, T temperature, T* w, T* di,
               T* dout, T* dg) {
  if (kind == BandKind::radial) {
    for (int64_t j = 0; j < n; ++j) w[j] = gain * rho[j];
    if (di) {
      for (int64_t j = 0; j < n; ++j) {
        di[j] = T(0);
        dout[j] = T(0);
        dg[j] = rho[j];
      }
    }
    return;
  }
  if (!di) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T a = T(1) / (T(1) + simd_exp(-temperature * (rho[j] - inner)));
      const T c = T(1) / (T(1) + simd_exp(-temperature * (rho[j] - outer)));
      w[j] = gain * a * (T(1) - c);
    }
    return;
  }
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T a = T(1) / (T(1) + simd_exp(-temperature * (rho[j] - inner)));
    const T c = T(1) / (T(1) + simd_exp(-temperature * (rho[j] - outer)));
    const T shape = a * (T(1) - c);
    w[j] = gain * shape;
    di[j] = -gain * temperature * a * (T(1) - a) * (T(1) - c);
    dout[j] = gain * temperature * a * c * (T(1) - c);
    dg[j] = shape;
  }
}

}  // namespace specdiff::cpu
