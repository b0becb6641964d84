// The band-weighting lane kernels (band_scale.h), for the ISA of the including translation unit (see vec.h).
#pragma once

#include <algorithm>
#include <type_traits>

#include "cpu/lanes/band_scale.h"
#include "cpu/lanes/vec.h"
#include "cpu/simd_exp.h"

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

// w[j] = band(rho[j]) and, when di is given, the derivatives by inner, outer and gain (band_value's formulas) for
// j < n, in loops the compiler vectorizes for this ISA: libm's exp would stay a scalar call inside a SIMD loop.
template <typename T>
void band_values(const BandShape<T>& b, const T* __restrict rho, int64_t n, T* __restrict w, T* __restrict di,
                 T* __restrict dout, T* __restrict dg) {
  const T inner = b.inner, outer = b.outer, gain = b.gain, temperature = b.temperature;
  if (b.kind == BandKind::radial) {
    for (int64_t j = 0; j < n; ++j) w[j] = gain * rho[j];
    if (di) {
      std::fill_n(di, n, T(0));
      std::fill_n(dout, n, T(0));
      std::copy_n(rho, n, dg);
    }
    return;
  }
  if (!di) {
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T a = T(1) / (T(1) + cpu::simd_exp(-temperature * (rho[j] - inner)));
      const T c = T(1) / (T(1) + cpu::simd_exp(-temperature * (rho[j] - outer)));
      w[j] = gain * a * (T(1) - c);
    }
    return;
  }
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T a = T(1) / (T(1) + cpu::simd_exp(-temperature * (rho[j] - inner)));
    const T c = T(1) / (T(1) + cpu::simd_exp(-temperature * (rho[j] - outer)));
    const T shape = a * (T(1) - c);
    w[j] = gain * shape;
    di[j] = -gain * temperature * a * (T(1) - a) * (T(1) - c);
    dout[j] = gain * temperature * a * c * (T(1) - c);
    dg[j] = shape;
  }
}

// The values of rows 0..H/2 (scratch) written out to all H rows of each table asked for, each twice with `pairs`: one
// pass over the table.
template <typename T>
void band_fill(const BandShape<T>& band, const T* rho, int64_t H, int64_t Wf, bool pairs, T* const* tables,
               T* scratch) {
  const int64_t half = (H / 2 + 1) * Wf;
  const bool derivatives = tables[1] || tables[2] || tables[3];
  band_values<T>(band, rho, half, scratch, derivatives ? scratch + half : nullptr,
                 derivatives ? scratch + 2 * half : nullptr, derivatives ? scratch + 3 * half : nullptr);
  for (int t = 0; t < 4; ++t) {
    if (!tables[t]) continue;
    const T* __restrict src = scratch + t * half;
    T* __restrict dst = tables[t];
    for (int64_t h = 0; h < H; ++h) {
      const T* __restrict row = src + (2 * h <= H ? h : H - h) * Wf;
      if (pairs) {
        T* __restrict out = dst + 2 * h * Wf;
        for (int64_t k = 0; k < Wf; ++k) {
          out[2 * k] = row[k];
          out[2 * k + 1] = row[k];
        }
      } else {
        std::copy_n(row, Wf, dst + h * Wf);
      }
    }
  }
}

// Whether consecutive planes of m values start equally aligned to the vector size, so that two of them can share a
// loop (streaming stores start at one aligned position for both).
template <typename T>
inline bool equally_aligned(int64_t m) {
  return (m * static_cast<int64_t>(sizeof(T))) % SPECDIFF_VEC_BYTES == 0;
}

// kPlanes (1 or 2) planes weighted by one table, each vector of it loaded once for all of them; the second plane at
// offset m, equally aligned (the caller's check).
template <typename T, int kPlanes, bool kStream>
void band_scale_planes(const T* __restrict w, const T* __restrict x, T* __restrict y, int64_t m) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  auto scalar = [&](int64_t j0, int64_t j1) {
    for (int64_t i = 0; i < kPlanes; ++i) {
      for (int64_t j = j0; j < j1; ++j) y[i * m + j] = w[j] * x[i * m + j];
    }
  };
  const int64_t head = kStream ? aligned_head(y, m) : 0;
  scalar(0, head);
  int64_t j = head;
  for (; j + P <= m; j += P) {
    V vw;
    __builtin_memcpy(&vw, w + j, sizeof(V));
    for (int i = 0; i < kPlanes; ++i) {
      V vx;
      __builtin_memcpy(&vx, x + i * m + j, sizeof(V));
      store_vector<T, kStream>(y + i * m + j, vw * vx);
    }
  }
  scalar(j, m);
}

// The planes one after another, or two at a time with plane_pairs where they are equally aligned.
template <typename T, bool kStream>
void band_scale_run(const T* w, const T* x, T* y, int64_t m, int64_t planes, bool plane_pairs) {
  if (plane_pairs && equally_aligned<T>(m)) {
    for (; planes >= 2; planes -= 2, x += 2 * m, y += 2 * m) band_scale_planes<T, 2, kStream>(w, x, y, m);
  }
  for (; planes > 0; --planes, x += m, y += m) band_scale_planes<T, 1, kStream>(w, x, y, m);
}

template <typename T>
void band_scale(const T* __restrict w, const T* __restrict x, T* __restrict y, int64_t m, int64_t planes,
                bool stream, bool plane_pairs) {
  if (stream) {
    band_scale_run<T, true>(w, x, y, m, planes, plane_pairs);
    stream_fence();
  } else {
    band_scale_run<T, false>(w, x, y, m, planes, plane_pairs);
  }
}

// A vector of doubles as wide (in lanes) as a lane vector of T: the double-precision accumulator of one.
template <typename T>
struct WideSumOf;
template <>
struct WideSumOf<float> {
  typedef double type __attribute__((vector_size(2 * SPECDIFF_VEC_BYTES)));
};
template <>
struct WideSumOf<double> {
  using type = VecOf<double>::type;
};

// The backward's pass over a run of planes that share the derivative tables, with (kOut) or without the spectrum's
// gradient y = gain shape g, shape = d[2] (the band's derivative by its gain, the band over its gain, so the band's
// own table is not read), adding the correlations into sums[0..3).
//
// With `plane_pairs`, where equally aligned (m a whole number of vectors), two planes share a loop: every vector of
// the three tables is loaded once for both, and their products g s are added before the multiplies by the tables
// (three fused multiply-adds per vector of values whatever the number of planes). The caller asks for pairs when the
// tables do not fit the L1 (band_planes_in_pairs): smaller tables cost nothing to read again, and two interleaved
// planes read memory slower than one plane after another.
//
// The sums are six plain local vectors of this function, two sets of three (the vectors j and j + P take one set
// each, so each set's FMA waits on its own previous one), carried from plane to plane in the working precision until
// the two sets hold kCorrelationBlock products per lane between them, then lane by lane into vectors of doubles, and
// across the lanes once, when the run ends (docs/cpu_kernels.md). They are not members of an aggregate: gcc kept such
// an aggregate on the stack, and each FMA went through memory.
template <typename T, bool kStream, bool kOut>
void band_correlate_run(T gain, const T* const* d, const T* g, const T* s, T* y, int64_t m, int64_t planes,
                        bool plane_pairs, double* sums) {
  using V = typename VecOf<T>::type;
  using D = typename WideSumOf<T>::type;
  constexpr int P = kLanes<T>;
  constexpr int kCorrelationBlock = 64;
  const T* __restrict d0 = d[0];
  const T* __restrict d1 = d[1];
  const T* __restrict d2 = d[2];
  const V vgain = V{} + gain;
  V a0{}, a1{}, a2{}, b0{}, b1{}, b2{};
  D total0{}, total1{}, total2{};
  int pending = 0;
  auto fold = [&]() SPECDIFF_TILE_INLINE_LAMBDA {
    total0 += __builtin_convertvector(a0, D) + __builtin_convertvector(b0, D);
    total1 += __builtin_convertvector(a1, D) + __builtin_convertvector(b1, D);
    total2 += __builtin_convertvector(a2, D) + __builtin_convertvector(b2, D);
    a0 = a1 = a2 = b0 = b1 = b2 = V{};
    pending = 0;
  };
  auto tables = [&](int64_t j, V& v0, V& v1, V& v2) SPECDIFF_TILE_INLINE_LAMBDA {
    __builtin_memcpy(&v0, d0 + j, sizeof(V));
    __builtin_memcpy(&v1, d1 + j, sizeof(V));
    __builtin_memcpy(&v2, d2 + j, sizeof(V));
  };
  // kPlanes (planes_tag's value, 1 or 2) planes at gp, sp and yp, the second at offset m.
  auto correlate = [&](auto planes_tag, const T* __restrict gp, const T* __restrict sp,
                       T* __restrict yp) SPECDIFF_TILE_INLINE_LAMBDA {
    constexpr int kPlanes = decltype(planes_tag)::value;
    auto scalar = [&](int64_t j0, int64_t j1) {
      for (int64_t i = 0; i < kPlanes; ++i) {
        for (int64_t j = j0; j < j1; ++j) {
          if constexpr (kOut) yp[i * m + j] = gain * d2[j] * gp[i * m + j];
          const double c = static_cast<double>(gp[i * m + j]) * static_cast<double>(sp[i * m + j]);
          sums[0] += c * d0[j];
          sums[1] += c * d1[j];
          sums[2] += c * d2[j];
        }
      }
    };
    // The planes' summed products g s at j, with y = w g written on the way.
    auto products = [&](int64_t j, V w) SPECDIFF_TILE_INLINE_LAMBDA {
      V c{};
      for (int i = 0; i < kPlanes; ++i) {
        V vg, vs;
        __builtin_memcpy(&vg, gp + i * m + j, sizeof(V));
        __builtin_memcpy(&vs, sp + i * m + j, sizeof(V));
        if constexpr (kOut) store_vector<T, kStream>(yp + i * m + j, w * vg);
        c += vg * vs;
      }
      return c;
    };
    const int64_t head = kStream ? aligned_head(yp, m) : 0;
    scalar(0, head);
    int64_t j = head;
    for (; j + 2 * P <= m; j += 2 * P) {
      V v0, v1, v2, u0, u1, u2;
      tables(j, v0, v1, v2);
      tables(j + P, u0, u1, u2);
      const V c = products(j, vgain * v2), e = products(j + P, vgain * u2);
      a0 += c * v0;
      a1 += c * v1;
      a2 += c * v2;
      b0 += e * u0;
      b1 += e * u1;
      b2 += e * u2;
      pending += 2 * kPlanes;
      if (pending >= kCorrelationBlock) fold();
    }
    if (j + P <= m) {
      V v0, v1, v2;
      tables(j, v0, v1, v2);
      const V c = products(j, vgain * v2);
      a0 += c * v0;
      a1 += c * v1;
      a2 += c * v2;
      pending += kPlanes;
      if (pending >= kCorrelationBlock) fold();
      j += P;
    }
    scalar(j, m);
  };
  const int64_t step = kOut ? m : 0;
  if (plane_pairs && equally_aligned<T>(m)) {
    for (; planes >= 2; planes -= 2, g += 2 * m, s += 2 * m, y += 2 * step) {
      correlate(std::integral_constant<int, 2>{}, g, s, y);
    }
  }
  for (; planes > 0; --planes, g += m, s += m, y += step) correlate(std::integral_constant<int, 1>{}, g, s, y);
  fold();
  for (int k = 0; k < P; ++k) {
    sums[0] += total0[k];
    sums[1] += total1[k];
    sums[2] += total2[k];
  }
}

template <typename T>
void band_correlate(const T* const* d, const T* __restrict g, const T* __restrict s, int64_t m, int64_t planes,
                    bool plane_pairs, double* sums) {
  band_correlate_run<T, false, false>(T(0), d, g, s, nullptr, m, planes, plane_pairs, sums);
}

template <typename T>
void band_scale_correlate(T gain, const T* const* d, const T* __restrict g, const T* __restrict s, T* __restrict y,
                          int64_t m, int64_t planes, bool stream, bool plane_pairs, double* sums) {
  if (stream) {
    band_correlate_run<T, true, true>(gain, d, g, s, y, m, planes, plane_pairs, sums);
    stream_fence();
  } else {
    band_correlate_run<T, false, true>(gain, d, g, s, y, m, planes, plane_pairs, sums);
  }
}

}  // namespace

extern const BandScaleKernels<float> band_scale_lanes_float{
    .fill = &band_fill<float>,
    .scale = &band_scale<float>,
    .correlate = &band_correlate<float>,
    .scale_correlate = &band_scale_correlate<float>,
};
extern const BandScaleKernels<double> band_scale_lanes_double{
    .fill = &band_fill<double>,
    .scale = &band_scale<double>,
    .correlate = &band_correlate<double>,
    .scale_correlate = &band_scale_correlate<double>,
};

}  // namespace SPECDIFF_ISA
}  // namespace specdiff
