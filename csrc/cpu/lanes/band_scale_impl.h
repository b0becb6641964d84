// The band-weighting lane kernels (band_scale.h), for the ISA of the including translation unit (see vec.h).
#pragma once

#include <algorithm>

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

// The values of rows 0..H/2 (scratch) written out to all H rows, each twice with `pairs`: one pass over the table.
template <typename T>
void band_fill(const BandShape<T>& band, const T* rho, int64_t H, int64_t Wf, bool pairs, T* const* tables,
               T* scratch) {
  const int64_t half = (H / 2 + 1) * Wf;
  const int count = tables[1] ? 4 : 1;
  band_values<T>(band, rho, half, scratch, tables[1] ? scratch + half : nullptr,
                 tables[1] ? scratch + 2 * half : nullptr, tables[1] ? scratch + 3 * half : nullptr);
  for (int t = 0; t < count; ++t) {
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

// The correlation sums of a run of planes that share the derivative tables. They are summed in registers, in the
// working precision over blocks of kCorrelationBlock vectors per lane (the registers carry over from one plane to
// the next, so small planes do not pay a horizontal sum each), then lane by lane into double vectors, and across
// the lanes once, when the run ends: no per-thread array and no second pass (docs/cpu_kernels.md).
template <typename T>
class BandSums {
 public:
  using V = typename VecOf<T>::type;
  static constexpr int kCorrelationBlock = 64;
  using D = typename WideSumOf<T>::type;

  // The sums in registers: a plane's loop works on a local copy (take, then put back), whose address never escapes,
  // so the compiler keeps it in registers. Summed into this object's own members, they were stored back to memory
  // after every store to the output (a float store may alias them), which held the AVX2 backward at up to twice
  // an add's time (AMD EPYC Zen 3). Two sets of sums, each vector of a pair into its own: one set's three
  // sums wait on the previous vector's FMA latency.
  struct Lanes {
    V a0{}, a1{}, a2{}, b0{}, b1{}, b2{};
    int pending = 0;

    // One vector of values j..j+P: c = g s, added times each table.
    void add(V c, V v0, V v1, V v2) {
      a0 += c * v0;
      a1 += c * v1;
      a2 += c * v2;
      ++pending;
    }
    void add2(V c, V v0, V v1, V v2, V e, V u0, V u1, V u2) {
      add(c, v0, v1, v2);
      b0 += e * u0;
      b1 += e * u1;
      b2 += e * u2;
      ++pending;
    }
  };

  explicit BandSums(double* sums) : sums_(sums) {}
  ~BandSums() {
    fold(lanes_);
    for (int k = 0; k < kLanes<T>; ++k) {
      sums_[0] += total0_[k];
      sums_[1] += total1_[k];
      sums_[2] += total2_[k];
    }
  }

  Lanes take() const { return lanes_; }
  void put(const Lanes& lanes) { lanes_ = lanes; }
  // Adds the registers into the double totals once a block is full.
  void fold_full(Lanes& lanes) {
    if (lanes.pending >= kCorrelationBlock) fold(lanes);
  }
  // One value, straight to double.
  void add_scalar(double c, T v0, T v1, T v2) {
    sums_[0] += c * v0;
    sums_[1] += c * v1;
    sums_[2] += c * v2;
  }

 private:
  void fold(Lanes& lanes) {
    total0_ += __builtin_convertvector(lanes.a0, D) + __builtin_convertvector(lanes.b0, D);
    total1_ += __builtin_convertvector(lanes.a1, D) + __builtin_convertvector(lanes.b1, D);
    total2_ += __builtin_convertvector(lanes.a2, D) + __builtin_convertvector(lanes.b2, D);
    lanes = Lanes{};
  }

  double* sums_;
  Lanes lanes_;
  D total0_{}, total1_{}, total2_{};
};

// One plane of the correlation, with (kOut) or without the scaled output y = w g.
template <typename T, bool kStream, bool kOut>
void band_scale_correlate_plane(const T* __restrict w, const T* const* d, const T* __restrict g,
                                const T* __restrict s, T* __restrict y, int64_t m, BandSums<T>& acc) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  const T* __restrict d0 = d[0];
  const T* __restrict d1 = d[1];
  const T* __restrict d2 = d[2];
  auto scalar = [&](int64_t j0, int64_t j1) {
    for (int64_t j = j0; j < j1; ++j) {
      if constexpr (kOut) y[j] = w[j] * g[j];
      acc.add_scalar(static_cast<double>(g[j]) * static_cast<double>(s[j]), d0[j], d1[j], d2[j]);
    }
  };
  // c = g s at j..j+P, with y = w g written on the way, and the three tables there.
  auto load = [&](int64_t j, V& c, V& v0, V& v1, V& v2) SPECDIFF_TILE_INLINE_LAMBDA {
    V vg, vs;
    __builtin_memcpy(&vg, g + j, sizeof(V));
    __builtin_memcpy(&vs, s + j, sizeof(V));
    if constexpr (kOut) {
      V vw;
      __builtin_memcpy(&vw, w + j, sizeof(V));
      store_vector<T, kStream>(y + j, vw * vg);
    }
    c = vg * vs;
    __builtin_memcpy(&v0, d0 + j, sizeof(V));
    __builtin_memcpy(&v1, d1 + j, sizeof(V));
    __builtin_memcpy(&v2, d2 + j, sizeof(V));
  };
  const int64_t head = kStream ? aligned_head(y, m) : 0;
  scalar(0, head);
  typename BandSums<T>::Lanes lanes = acc.take();
  int64_t j = head;
  for (; j + 2 * P <= m; j += 2 * P) {
    V c, v0, v1, v2, e, u0, u1, u2;
    load(j, c, v0, v1, v2);
    load(j + P, e, u0, u1, u2);
    lanes.add2(c, v0, v1, v2, e, u0, u1, u2);
    acc.fold_full(lanes);
  }
  if (j + P <= m) {
    V c, v0, v1, v2;
    load(j, c, v0, v1, v2);
    lanes.add(c, v0, v1, v2);
    acc.fold_full(lanes);
    j += P;
  }
  acc.put(lanes);
  scalar(j, m);
}

template <typename T>
void band_correlate(const T* const* d, const T* __restrict g, const T* __restrict s, int64_t m, int64_t planes,
                    double* sums) {
  BandSums<T> acc(sums);
  for (int64_t i = 0; i < planes; ++i, g += m, s += m) {
    band_scale_correlate_plane<T, false, false>(nullptr, d, g, s, nullptr, m, acc);
  }
}

template <typename T>
void band_scale_correlate(const T* __restrict w, const T* const* d, const T* __restrict g, const T* __restrict s,
                          T* __restrict y, int64_t m, int64_t planes, bool stream, double* sums) {
  BandSums<T> acc(sums);
  for (int64_t i = 0; i < planes; ++i, g += m, s += m, y += m) {
    if (stream) band_scale_correlate_plane<T, true, true>(w, d, g, s, y, m, acc);
    else band_scale_correlate_plane<T, false, true>(w, d, g, s, y, m, acc);
  }
  if (stream) stream_fence();
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
