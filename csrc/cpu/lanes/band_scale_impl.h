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

template <typename T, bool kStream>
void band_scale_run(const T* w, const T* x, T* y, int64_t m, int64_t planes) {
  if (equally_aligned<T>(m)) {
    for (; planes >= 2; planes -= 2, x += 2 * m, y += 2 * m) band_scale_planes<T, 2, kStream>(w, x, y, m);
  }
  for (; planes > 0; --planes, x += m, y += m) band_scale_planes<T, 1, kStream>(w, x, y, m);
}

template <typename T>
void band_scale(const T* __restrict w, const T* __restrict x, T* __restrict y, int64_t m, int64_t planes,
                bool stream) {
  if (stream) {
    band_scale_run<T, true>(w, x, y, m, planes);
    stream_fence();
  } else {
    band_scale_run<T, false>(w, x, y, m, planes);
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

    // One vector of values j..j+P: c = g s (summed over `products` planes), added times each table.
    void add(V c, V v0, V v1, V v2, int products = 1) {
      a0 += c * v0;
      a1 += c * v1;
      a2 += c * v2;
      pending += products;
    }
    void add2(V c, V v0, V v1, V v2, V e, V u0, V u1, V u2, int products = 1) {
      add(c, v0, v1, v2, products);
      b0 += e * u0;
      b1 += e * u1;
      b2 += e * u2;
      pending += products;
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

// The backward's pass over kPlanes (1 or 2) planes at once, with (kOut) or without the spectrum's gradient
// y = gain shape g, shape = d[2] (the band's derivative by its gain, the band over its gain): every vector of the three
// tables is loaded once for all kPlanes planes, and no table of the band itself is read. The vectors j and j + P
// take one set of sums each. y and y + m are equally aligned (the caller's check).
template <typename T, int kPlanes, bool kStream, bool kOut>
void band_correlate_planes(T gain, const T* const* d, const T* __restrict g, const T* __restrict s,
                           T* __restrict y, int64_t m, BandSums<T>& acc) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  const T* __restrict d0 = d[0];
  const T* __restrict d1 = d[1];
  const T* __restrict d2 = d[2];
  auto scalar = [&](int64_t j0, int64_t j1) {
    for (int64_t i = 0; i < kPlanes; ++i) {
      for (int64_t j = j0; j < j1; ++j) {
        if constexpr (kOut) y[i * m + j] = gain * d2[j] * g[i * m + j];
        acc.add_scalar(static_cast<double>(g[i * m + j]) * static_cast<double>(s[i * m + j]), d0[j], d1[j], d2[j]);
      }
    }
  };
  // c = g s at plane offset o, value j, with y = w g written on the way.
  auto product = [&](int64_t o, int64_t j, V w) SPECDIFF_TILE_INLINE_LAMBDA {
    V vg, vs;
    __builtin_memcpy(&vg, g + o + j, sizeof(V));
    __builtin_memcpy(&vs, s + o + j, sizeof(V));
    if constexpr (kOut) store_vector<T, kStream>(y + o + j, w * vg);
    return vg * vs;
  };
  auto tables = [&](int64_t j, V& v0, V& v1, V& v2) SPECDIFF_TILE_INLINE_LAMBDA {
    __builtin_memcpy(&v0, d0 + j, sizeof(V));
    __builtin_memcpy(&v1, d1 + j, sizeof(V));
    __builtin_memcpy(&v2, d2 + j, sizeof(V));
  };
  // The planes' products at j, which share the tables, added before the multiplies by them: three fused multiply-adds
  // per vector of values whatever kPlanes is. Each sum carries kPlanes products and counts so towards the fold into
  // double.
  auto products = [&](int64_t j, V w) SPECDIFF_TILE_INLINE_LAMBDA {
    V c = product(0, j, w);
    if constexpr (kPlanes == 2) c += product(m, j, w);
    return c;
  };
  const V vgain = V{} + gain;
  const int64_t head = kStream ? aligned_head(y, m) : 0;
  scalar(0, head);
  typename BandSums<T>::Lanes lanes = acc.take();
  int64_t j = head;
  for (; j + 2 * P <= m; j += 2 * P) {
    V v0, v1, v2, u0, u1, u2;
    tables(j, v0, v1, v2);
    tables(j + P, u0, u1, u2);
    const V c = products(j, vgain * v2), e = products(j + P, vgain * u2);
    lanes.add2(c, v0, v1, v2, e, u0, u1, u2, kPlanes);
    acc.fold_full(lanes);
  }
  if (j + P <= m) {
    V v0, v1, v2;
    tables(j, v0, v1, v2);
    lanes.add(products(j, vgain * v2), v0, v1, v2, kPlanes);
    acc.fold_full(lanes);
    j += P;
  }
  acc.put(lanes);
  scalar(j, m);
}

// The planes in pairs where the pair's outputs are equally aligned (m a whole number of vectors), the last one or
// all of them alone otherwise.
template <typename T, bool kStream, bool kOut>
void band_correlate_run(T gain, const T* const* d, const T* g, const T* s, T* y, int64_t m, int64_t planes,
                        double* sums) {
  BandSums<T> acc(sums);
  const int64_t step = kOut ? m : 0;
  if (equally_aligned<T>(m)) {
    for (; planes >= 2; planes -= 2, g += 2 * m, s += 2 * m, y += 2 * step) {
      band_correlate_planes<T, 2, kStream, kOut>(gain, d, g, s, y, m, acc);
    }
  }
  for (; planes > 0; --planes, g += m, s += m, y += step) {
    band_correlate_planes<T, 1, kStream, kOut>(gain, d, g, s, y, m, acc);
  }
}

template <typename T>
void band_correlate(const T* const* d, const T* __restrict g, const T* __restrict s, int64_t m, int64_t planes,
                    double* sums) {
  band_correlate_run<T, false, false>(T(0), d, g, s, nullptr, m, planes, sums);
}

template <typename T>
void band_scale_correlate(T gain, const T* const* d, const T* __restrict g, const T* __restrict s, T* __restrict y,
                          int64_t m, int64_t planes, bool stream, double* sums) {
  if (stream) {
    band_correlate_run<T, true, true>(gain, d, g, s, y, m, planes, sums);
    stream_fence();
  } else {
    band_correlate_run<T, false, true>(gain, d, g, s, y, m, planes, sums);
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
