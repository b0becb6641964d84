// The complex_norm_act and group_norm_silu lane kernels (norm_act.h), for the ISA of the including translation unit (see vec.h):
// plain loops the compiler vectorizes (`omp simd`), with exp in plain arithmetic (simd_exp.h), and the SiLU loops on
// explicit lane vectors (vec.h).
#pragma once

#include <algorithm>

#include "cpu/lanes/norm_act.h"
#include "cpu/lanes/vec.h"
#include "cpu/simd_exp.h"

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

template <typename T>
inline T sigmoid_of_modulus(T zr, T zi, T& r) {
  r = std::sqrt(zr * zr + zi * zi);
  return T(1) / (T(1) + cpu::simd_exp(-r));
}

// gz = s g + z s (1 - s) Re(conj(z) g) / |z|; the second term is 0 at z = 0, where |z| is clamped.
template <typename T>
inline void modulus_silu_grad(T zr, T zi, T gr, T gi, T& gzr, T& gzi) {
  T r;
  const T s = sigmoid_of_modulus(zr, zi, r);
  const T tiny = std::numeric_limits<T>::min();
  const T k = (zr * gr + zi * gi) * s * (T(1) - s) / (r > tiny ? r : tiny);
  gzr = s * gr + zr * k;
  gzi = s * gi + zi * k;
}

template <typename T>
void norm_act(const T* __restrict xr, const T* __restrict xi, const T* c, int64_t n, T* __restrict yr,
              T* __restrict yi) {
  const T ar = c[0], kr = c[1], ai = c[2], ki = c[3];
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T zr = ar * xr[j] + kr, zi = ai * xi[j] + ki;
    T r;
    const T s = sigmoid_of_modulus(zr, zi, r);
    yr[j] = zr * s;
    yi[j] = zi * s;
  }
}

template <typename T>
void norm_act_sums(const T* __restrict xr, const T* __restrict xi, const T* __restrict gr, const T* __restrict gi,
                   const T* c, const T* mu, int64_t n, T* sums) {
  const T ar = c[0], kr = c[1], ai = c[2], ki = c[3], mr = mu[0], mi = mu[1];
  T sgr = 0, sxgr = 0, sgi = 0, sxgi = 0;
#pragma omp simd reduction(+ : sgr, sxgr, sgi, sxgi)
  for (int64_t j = 0; j < n; ++j) {
    T gzr, gzi;
    modulus_silu_grad(ar * xr[j] + kr, ai * xi[j] + ki, gr[j], gi[j], gzr, gzi);
    sgr += gzr;
    sxgr += gzr * (xr[j] - mr);
    sgi += gzi;
    sxgi += gzi * (xi[j] - mi);
  }
  sums[0] = sgr;
  sums[1] = sxgr;
  sums[2] = sgi;
  sums[3] = sxgi;
}

template <typename T>
void norm_act_backward(const T* __restrict xr, const T* __restrict xi, const T* __restrict gr, const T* __restrict gi,
                       const T* c, const T* d, int64_t n, T* __restrict gxr, T* __restrict gxi) {
  const T ar = c[0], kr = c[1], ai = c[2], ki = c[3];
  const T d0 = d[0], d1 = d[1], d2 = d[2], d3 = d[3], d4 = d[4], d5 = d[5];
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    T gzr, gzi;
    modulus_silu_grad(ar * xr[j] + kr, ai * xi[j] + ki, gr[j], gi[j], gzr, gzi);
    gxr[j] = d0 * gzr + d1 * xr[j] + d2;
    gxi[j] = d3 * gzi + d4 * xi[j] + d5;
  }
}

// The SiLU loops run on explicit lane vectors (vec.h: exp, a reciprocal estimate instead of a division, and the
// tail as one part vector whose zero lanes add nothing to the sums): written as `omp simd` loops like the others,
// gcc split them at exp's clamp and divided twice per vector, and group_norm_silu was slower than ATen's group_norm
// and silu on an AVX2 core (docs/cpu_kernels.md).
template <typename T>
void silu(const T* __restrict x, const T* c, int64_t n, T* __restrict y) {
  using V = typename VecOf<T>::type;
  const T a = c[0], k = c[1];
  for_each_vector<T>(n, [&](int64_t j, int64_t m) SPECDIFF_TILE_INLINE_LAMBDA {
    const V z = a * load_lanes<T>(x + j, m) + k;
    store_lanes<T>(y + j, z * sigmoid<T>(z), m);
  });
}

// gz = g s (1 + z (1 - s)), s = σ(z).
template <typename T>
void silu_sums(const T* __restrict x, const T* __restrict g, const T* c, T mu, int64_t n, T* __restrict gz_out,
               T* sums) {
  using V = typename VecOf<T>::type;
  const T a = c[0], k = c[1];
  V sg{}, sxg{};
  for_each_vector<T>(n, [&](int64_t j, int64_t m) SPECDIFF_TILE_INLINE_LAMBDA {
    const V xv = load_lanes<T>(x + j, m), z = a * xv + k, s = sigmoid<T>(z);
    const V gz = load_lanes<T>(g + j, m) * s * (T(1) + z * (T(1) - s));
    store_lanes<T>(gz_out + j, gz, m);
    sg += gz;
    sxg += gz * (xv - mu);
  });
  sums[0] = lane_sum<T>(sg);
  sums[1] = lane_sum<T>(sxg);
}

template <typename T>
void silu_backward(const T* __restrict x, const T* __restrict gz, const T* d, int64_t n, T* __restrict gx) {
  const T d0 = d[0], d1 = d[1], d2 = d[2];
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) gx[j] = d0 * gz[j] + d1 * x[j] + d2;
}

template <typename T>
void moments(const T* __restrict x, int64_t n, T shift, T* out) {
  T s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
  for (int64_t j = 0; j < n; ++j) {
    const T v = x[j] - shift;
    s1 += v;
    s2 += v * v;
  }
  out[0] = s1;
  out[1] = s2;
}

}  // namespace

extern const NormActKernels<float> norm_act_lanes_float{
    .moments = &moments<float>,
    .forward = &norm_act<float>,
    .backward_sums = &norm_act_sums<float>,
    .backward = &norm_act_backward<float>,
    .silu = &silu<float>,
    .silu_sums = &silu_sums<float>,
    .silu_backward = &silu_backward<float>,
};
extern const NormActKernels<double> norm_act_lanes_double{
    .moments = &moments<double>,
    .forward = &norm_act<double>,
    .backward_sums = &norm_act_sums<double>,
    .backward = &norm_act_backward<double>,
    .silu = &silu<double>,
    .silu_sums = &silu_sums<double>,
    .silu_backward = &silu_backward<double>,
};

}  // namespace SPECDIFF_ISA
}  // namespace specdiff
