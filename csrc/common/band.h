// The analytic band mask and its parameter derivatives, shared by the CPU and CUDA kernels.
// Frequencies are the true FFT bins (fy = fftfreq(H), fx = rfftfreq(W)); rho = |f| / sqrt(0.5).
#pragma once

#include <cmath>
#include <cstdint>

#if defined(__CUDACC__)
#define SPECDIFF_HD __host__ __device__ __forceinline__
#else
#define SPECDIFF_HD inline
#endif

namespace specdiff {

enum class BandKind : int { radial = 0, bandpass = 1 };

template <typename T>
SPECDIFF_HD T band_rho(int64_t h, int64_t k, int64_t H, int64_t W) {
  const T fy = static_cast<T>(2 * h < H ? h : h - H) / static_cast<T>(H);
  const T fx = static_cast<T>(k) / static_cast<T>(W);
  return sqrt(fy * fy + fx * fx) * static_cast<T>(1.4142135623730950488);
}

template <typename T>
SPECDIFF_HD T band_sigmoid(T z) {
  return T(1) / (T(1) + exp(-z));
}

// Mask value and its derivatives with respect to (inner, outer, gain).
template <typename T>
struct BandValue {
  T w, d_inner, d_outer, d_gain;
};

template <typename T>
SPECDIFF_HD BandValue<T> band_value(BandKind kind, T rho, T inner, T outer, T gain, T temperature) {
  if (kind == BandKind::radial) return BandValue<T>{gain * rho, T(0), T(0), rho};
  const T a = band_sigmoid(temperature * (rho - inner));
  const T b = band_sigmoid(temperature * (rho - outer));
  const T shape = a * (T(1) - b);
  return BandValue<T>{gain * shape, -gain * temperature * a * (T(1) - a) * (T(1) - b),
                      gain * temperature * a * b * (T(1) - b), shape};
}

}  // namespace specdiff
