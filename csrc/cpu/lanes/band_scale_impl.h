// The band-weighting lane kernels (band_scale.h), for the ISA of the including translation unit (see vec.h).
#pragma once

#include "cpu/lanes/band_scale.h"
#include "cpu/lanes/vec.h"

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

template <typename T, bool kStream>
void band_scale_plane(const T* __restrict w, const T* __restrict x, T* __restrict y, int64_t m) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  const int64_t head = kStream ? aligned_head(y, m) : 0;
  for (int64_t j = 0; j < head; ++j) y[j] = w[j] * x[j];
  int64_t j = head;
  for (; j + P <= m; j += P) {
    V vw, vx;
    __builtin_memcpy(&vw, w + j, sizeof(V));
    __builtin_memcpy(&vx, x + j, sizeof(V));
    store_vector<T, kStream>(y + j, vw * vx);
  }
  for (; j < m; ++j) y[j] = w[j] * x[j];
}

template <typename T>
void band_scale(const T* __restrict w, const T* __restrict x, T* __restrict y, int64_t m, int64_t planes,
                bool stream) {
  for (int64_t i = 0; i < planes; ++i, x += m, y += m) {
    if (stream) band_scale_plane<T, true>(w, x, y, m);
    else band_scale_plane<T, false>(w, x, y, m);
  }
  if (stream) stream_fence();
}

// One plane of the correlation, with (kOut) or without the scaled output. The correlations times the derivative
// tables are summed in registers, in the working precision over blocks of kCorrelationBlock values per lane, then
// in double: no per-thread array and no second pass (the loop is memory-bound; docs/cpu_kernels.md).
template <typename T, bool kStream, bool kOut>
void band_scale_correlate_plane(const T* __restrict w, const T* const* d, const T* __restrict g,
                                const T* __restrict s, T* __restrict y, int64_t m, double* sums) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  constexpr int64_t kCorrelationBlock = 64;
  const T* __restrict d0 = d[0];
  const T* __restrict d1 = d[1];
  const T* __restrict d2 = d[2];
  auto scalar = [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      if constexpr (kOut) y[j] = w[j] * g[j];
      const double c = static_cast<double>(g[j]) * static_cast<double>(s[j]);
      sums[0] += c * d0[j];
      sums[1] += c * d1[j];
      sums[2] += c * d2[j];
    }
  };
  const int64_t head = kStream ? aligned_head(y, m) : 0;
  scalar(0, head);
  int64_t j = head;
  while (j + P <= m) {
    V a0 = V{}, a1 = V{}, a2 = V{};
    const int64_t block_end = std::min(m, j + kCorrelationBlock * P);
    for (; j + P <= block_end; j += P) {
      V vg, vs, v0, v1, v2;
      __builtin_memcpy(&vg, g + j, sizeof(V));
      __builtin_memcpy(&vs, s + j, sizeof(V));
      if constexpr (kOut) {
        V vw;
        __builtin_memcpy(&vw, w + j, sizeof(V));
        store_vector<T, kStream>(y + j, vw * vg);
      }
      __builtin_memcpy(&v0, d0 + j, sizeof(V));
      __builtin_memcpy(&v1, d1 + j, sizeof(V));
      __builtin_memcpy(&v2, d2 + j, sizeof(V));
      const V c = vg * vs;
      a0 += c * v0;
      a1 += c * v1;
      a2 += c * v2;
    }
    for (int k = 0; k < P; ++k) {
      sums[0] += static_cast<double>(a0[k]);
      sums[1] += static_cast<double>(a1[k]);
      sums[2] += static_cast<double>(a2[k]);
    }
  }
  scalar(j, m);
}

template <typename T>
void band_correlate(const T* const* d, const T* __restrict g, const T* __restrict s, int64_t m, int64_t planes,
                    double* sums) {
  for (int64_t i = 0; i < planes; ++i, g += m, s += m) {
    band_scale_correlate_plane<T, false, false>(nullptr, d, g, s, nullptr, m, sums);
  }
}

template <typename T>
void band_scale_correlate(const T* __restrict w, const T* const* d, const T* __restrict g, const T* __restrict s,
                          T* __restrict y, int64_t m, int64_t planes, bool stream, double* sums) {
  for (int64_t i = 0; i < planes; ++i, g += m, s += m, y += m) {
    if (stream) band_scale_correlate_plane<T, true, true>(w, d, g, s, y, m, sums);
    else band_scale_correlate_plane<T, false, true>(w, d, g, s, y, m, sums);
  }
  if (stream) stream_fence();
}

}  // namespace

extern const BandScaleKernels<float> band_scale_lanes_float{
    .scale = &band_scale<float>,
    .correlate = &band_correlate<float>,
    .scale_correlate = &band_scale_correlate<float>,
};
extern const BandScaleKernels<double> band_scale_lanes_double{
    .scale = &band_scale<double>,
    .correlate = &band_correlate<double>,
    .scale_correlate = &band_scale_correlate<double>,
};

}  // namespace SPECDIFF_ISA
}  // namespace specdiff
