// The lane-vectorized mixed-radix Stockham FFT and the moves between image rows and lane layout, shared by the
// FFT round trip (roundtrip_impl.h). Per-ISA code: see vec.h. A complex vector of n points for a block of planes is
// two arrays re[n], im[n] of lane vectors.
#pragma once

#include "common/fft_plan.h"
#include "cpu/lanes/vec.h"

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

template <typename T>
struct Buf {
  typename VecOf<T>::type* re;
  typename VecOf<T>::type* im;
};

// In-place 4-point DFT with kernel exp(sgn 2 pi i / 4) of v[0], v[st], v[2 st], v[3 st]; output k goes to
// v[2 k st] ... in the order the radix-8 step reads it (st = 2), or natural order (st = 1).
template <typename T>
inline void dft4(T sgn, typename VecOf<T>::type* vr, typename VecOf<T>::type* vi, int st) {
  using V = typename VecOf<T>::type;
  const V a0r = vr[0] + vr[2 * st], a0i = vi[0] + vi[2 * st];
  const V a1r = vr[0] - vr[2 * st], a1i = vi[0] - vi[2 * st];
  const V a2r = vr[st] + vr[3 * st], a2i = vi[st] + vi[3 * st];
  const V a3r = -sgn * (vi[st] - vi[3 * st]), a3i = sgn * (vr[st] - vr[3 * st]);  // (v1 - v3) * (sgn i)
  vr[0] = a0r + a2r;
  vi[0] = a0i + a2i;
  vr[st] = a1r + a3r;
  vi[st] = a1i + a3i;
  vr[2 * st] = a0r - a2r;
  vi[2 * st] = a0i - a2i;
  vr[3 * st] = a1r - a3r;
  vi[3 * st] = a1i - a3i;
}

// Stockham autosort stage (Van Loan, "Computational Frameworks for the FFT", 1992, sec. 1.7):
// y[q*Ns*R + k + r*Ns] = sum_m x[q*Ns + k + m*n/R] w^(m k) e^(-+2 pi i m r / R), k < Ns.
template <typename T, bool Inv, int R>
inline void stage_fixed(int n, int Ns, const T* __restrict twr, const T* __restrict twi, Buf<T> x, Buf<T> y) {
  using V = typename VecOf<T>::type;
  const int m = n / R;
  const T sgn = Inv ? T(1) : T(-1);  // the kernel is exp(sgn 2 pi i / R)
  for (int q = 0; q < m / Ns; ++q) {
    for (int k = 0; k < Ns; ++k) {
      const int j = q * Ns + k;
      const int d = q * Ns * R + k;
      V vr[R], vi[R];
      for (int r = 0; r < R; ++r) {
        vr[r] = x.re[j + r * m];
        vi[r] = x.im[j + r * m];
      }
      if (k != 0) {
        for (int r = 1; r < R; ++r) {
          const T wr = twr[k * (R - 1) + r - 1];
          const T wi = Inv ? -twi[k * (R - 1) + r - 1] : twi[k * (R - 1) + r - 1];
          const V t = vr[r] * wr - vi[r] * wi;
          vi[r] = vr[r] * wi + vi[r] * wr;
          vr[r] = t;
        }
      }
      if constexpr (R == 2) {
        y.re[d] = vr[0] + vr[1];
        y.im[d] = vi[0] + vi[1];
        y.re[d + Ns] = vr[0] - vr[1];
        y.im[d + Ns] = vi[0] - vi[1];
      } else if constexpr (R == 3) {
        const T c = T(0.86602540378443864676) * sgn;  // sgn * sin(pi / 3)
        const V sr = vr[1] + vr[2], si = vi[1] + vi[2];
        const V mr = vr[0] - T(0.5) * sr, mi = vi[0] - T(0.5) * si;
        const V tr = -c * (vi[1] - vi[2]), ti = c * (vr[1] - vr[2]);  // (v1 - v2) * (i c)
        y.re[d] = vr[0] + sr;
        y.im[d] = vi[0] + si;
        y.re[d + Ns] = mr + tr;
        y.im[d + Ns] = mi + ti;
        y.re[d + 2 * Ns] = mr - tr;
        y.im[d + 2 * Ns] = mi - ti;
      } else if constexpr (R == 5) {
        // With t1 = v1 + v4, t2 = v2 + v3, t3 = v1 - v4, t4 = v2 - v3 and w = exp(sgn 2 pi i / 5):
        // y0 = v0 + t1 + t2, y1,4 = a1 +- b1, y2,3 = a2 +- b2 with a1 = v0 + c1 t1 + c2 t2, a2 = v0 + c2 t1 + c1 t2,
        // b1 = sgn i (s1 t3 + s2 t4), b2 = sgn i (s2 t3 - s1 t4) (c_k = cos(2 pi k / 5), s_k = sin(2 pi k / 5)).
        const T c1 = T(0.30901699437494742410), c2 = T(-0.80901699437494742410);
        const T s1 = T(0.95105651629515357212) * sgn, s2 = T(0.58778525229247312917) * sgn;
        const V t1r = vr[1] + vr[4], t1i = vi[1] + vi[4], t2r = vr[2] + vr[3], t2i = vi[2] + vi[3];
        const V t3r = vr[1] - vr[4], t3i = vi[1] - vi[4], t4r = vr[2] - vr[3], t4i = vi[2] - vi[3];
        const V a1r = vr[0] + c1 * t1r + c2 * t2r, a1i = vi[0] + c1 * t1i + c2 * t2i;
        const V a2r = vr[0] + c2 * t1r + c1 * t2r, a2i = vi[0] + c2 * t1i + c1 * t2i;
        const V b1r = -(s1 * t3i + s2 * t4i), b1i = s1 * t3r + s2 * t4r;  // i (s1 t3 + s2 t4), sgn in s1, s2
        const V b2r = -(s2 * t3i - s1 * t4i), b2i = s2 * t3r - s1 * t4r;
        y.re[d] = vr[0] + t1r + t2r;
        y.im[d] = vi[0] + t1i + t2i;
        y.re[d + Ns] = a1r + b1r;
        y.im[d + Ns] = a1i + b1i;
        y.re[d + 2 * Ns] = a2r + b2r;
        y.im[d + 2 * Ns] = a2i + b2i;
        y.re[d + 3 * Ns] = a2r - b2r;
        y.im[d + 3 * Ns] = a2i - b2i;
        y.re[d + 4 * Ns] = a1r - b1r;
        y.im[d + 4 * Ns] = a1i - b1i;
      } else if constexpr (R == 4) {
        dft4<T>(sgn, vr, vi, 1);
        for (int r = 0; r < 4; ++r) {
          y.re[d + r * Ns] = vr[r];
          y.im[d + r * Ns] = vi[r];
        }
      } else {  // R == 8: two 4-point DFTs of the even and odd inputs, then one radix-2 step
        dft4<T>(sgn, vr, vi, 2);
        dft4<T>(sgn, vr + 1, vi + 1, 2);
        const T c = T(0.70710678118654752440);
        for (int u = 0; u < 4; ++u) {
          const V er = vr[2 * u], ei = vi[2 * u], orr = vr[2 * u + 1], oi = vi[2 * u + 1];
          V tr, ti;  // t = exp(sgn 2 pi i u / 8) * odd[u]
          if (u == 0) {
            tr = orr;
            ti = oi;
          } else if (u == 1) {  // c (1 + sgn i)
            tr = c * (orr - sgn * oi);
            ti = c * (oi + sgn * orr);
          } else if (u == 2) {  // sgn i
            tr = -sgn * oi;
            ti = sgn * orr;
          } else {  // c (-1 + sgn i)
            tr = -c * (orr + sgn * oi);
            ti = c * (sgn * orr - oi);
          }
          y.re[d + u * Ns] = er + tr;
          y.im[d + u * Ns] = ei + ti;
          y.re[d + (u + 4) * Ns] = er - tr;
          y.im[d + (u + 4) * Ns] = ei - ti;
        }
      }
    }
  }
}

// Any radix up to kMaxRadix: a direct O(R^2) DFT per butterfly.
template <typename T, bool Inv>
inline void stage_generic(int n, int Ns, int R, const T* __restrict twr, const T* __restrict twi,
                          const T* __restrict rootr, const T* __restrict rooti, Buf<T> x, Buf<T> y) {
  using V = typename VecOf<T>::type;
  const int m = n / R;
  V vr[kMaxRadix], vi[kMaxRadix];
  for (int q = 0; q < m / Ns; ++q) {
    for (int k = 0; k < Ns; ++k) {
      const int j = q * Ns + k;
      const int d = q * Ns * R + k;
      for (int r = 0; r < R; ++r) {
        vr[r] = x.re[j + r * m];
        vi[r] = x.im[j + r * m];
        if (k != 0 && r != 0) {
          const T wr = twr[k * (R - 1) + r - 1];
          const T wi = Inv ? -twi[k * (R - 1) + r - 1] : twi[k * (R - 1) + r - 1];
          const V t = vr[r] * wr - vi[r] * wi;
          vi[r] = vr[r] * wi + vi[r] * wr;
          vr[r] = t;
        }
      }
      for (int u = 0; u < R; ++u) {
        V accr = vr[0], acci = vi[0];
        for (int r = 1; r < R; ++r) {
          const int e = (r * u) % R;
          const T cr = rootr[e];
          const T ci = Inv ? -rooti[e] : rooti[e];
          accr += vr[r] * cr - vi[r] * ci;
          acci += vr[r] * ci + vi[r] * cr;
        }
        y.re[d + u * Ns] = accr;
        y.im[d + u * Ns] = acci;
      }
    }
  }
}

// Unnormalized FFT (forward exp(-2 pi i jk/n), inverse exp(+2 pi i jk/n)), ping-ponging between a and b;
// returns the buffer that holds the result.
template <typename T, bool Inv>
inline Buf<T> fft_lanes(const FftPlanView<T>& p, Buf<T> a, Buf<T> b) {
  for (int s = 0; s < p.nstages; ++s) {
    const int R = p.radix[s], Ns = p.ns[s];
    const T* twr = p.tw_re + p.tw_off[s];
    const T* twi = p.tw_im + p.tw_off[s];
    switch (R) {
      case 8:
        stage_fixed<T, Inv, 8>(p.n, Ns, twr, twi, a, b);
        break;
      case 4:
        stage_fixed<T, Inv, 4>(p.n, Ns, twr, twi, a, b);
        break;
      case 2:
        stage_fixed<T, Inv, 2>(p.n, Ns, twr, twi, a, b);
        break;
      case 3:
        stage_fixed<T, Inv, 3>(p.n, Ns, twr, twi, a, b);
        break;
      case 5:
        stage_fixed<T, Inv, 5>(p.n, Ns, twr, twi, a, b);
        break;
      default:
        stage_generic<T, Inv>(p.n, Ns, R, twr, twi, p.root_re + p.root_off[s], p.root_im + p.root_off[s], a, b);
    }
    const Buf<T> t = a;
    a = b;
    b = t;
  }
  return a;
}

// dst[w][l] = planes[l][offset + w * sw] for w < W: one row of every plane into lane layout. Unit-stride rows
// move as P x P tiles (P vector loads, an in-register transpose, P vector stores); the rest element-wise
// through memory, since inserting lanes into a register one by one is far slower.
template <typename T>
inline void gather_row(const T* const* planes, int64_t offset, int64_t sw, int64_t W,
                       typename VecOf<T>::type* dst) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  int64_t w0 = 0;
  if (sw == 1) {
    for (; w0 + P <= W; w0 += P) {
      V tile[P];
      for (int l = 0; l < P; ++l) __builtin_memcpy(&tile[l], planes[l] + offset + w0, sizeof(V));
      transpose_tile<T>(tile);
      for (int j = 0; j < P; ++j) dst[w0 + j] = tile[j];
    }
  }
  T* d = reinterpret_cast<T*>(dst);
  for (int l = 0; l < P; ++l) {
    const T* row = planes[l] + offset;
    for (int64_t w = w0; w < W; ++w) d[w * P + l] = row[w * sw];
  }
}

// The inverse of gather_row into contiguous output rows: out[l][offset + w] = src[w][l] for the first
// `count` lanes. stream: vector-aligned tiles are written with streaming stores (the caller fences).
template <typename T>
inline void scatter_row(const typename VecOf<T>::type* src, T* const* out, int count, int64_t offset, int64_t W,
                        bool stream) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  count = count < P ? count : P;  // (<= P always; said so that the compiler sees tile[l] in bounds)
  int64_t w0 = 0;
  // A cache line holds kPerLine vectors (2 with AVX2, 4 with SSE): with streaming stores each plane's line is
  // written whole before the next plane's, since tile by tile every plane would hold a partly written line at
  // once, more than the core's write-combining buffers keep (docs/cpu_kernels.md).
  constexpr int kPerLine = SPECDIFF_VEC_BYTES < 64 ? 64 / SPECDIFF_VEC_BYTES : 1;
  if (stream && kPerLine > 1) {
    for (; w0 + kPerLine * P <= W; w0 += kPerLine * P) {
      V tile[kPerLine][P];
      for (int t = 0; t < kPerLine; ++t) {
        for (int j = 0; j < P; ++j) tile[t][j] = src[w0 + t * P + j];
        transpose_tile<T>(tile[t]);
      }
      for (int l = 0; l < count; ++l) {
        for (int t = 0; t < kPerLine; ++t) {
          T* p = out[l] + offset + w0 + t * P;
          if (reinterpret_cast<uintptr_t>(p) % SPECDIFF_VEC_BYTES == 0) stream_vector<T>(p, tile[t][l]);
          else __builtin_memcpy(p, &tile[t][l], sizeof(V));
        }
      }
    }
  }
  for (; w0 + P <= W; w0 += P) {
    V tile[P];
    for (int j = 0; j < P; ++j) tile[j] = src[w0 + j];
    transpose_tile<T>(tile);
    for (int l = 0; l < count; ++l) {
      T* p = out[l] + offset + w0;
      if (stream && reinterpret_cast<uintptr_t>(p) % SPECDIFF_VEC_BYTES == 0) stream_vector<T>(p, tile[l]);
      else __builtin_memcpy(p, &tile[l], sizeof(V));
    }
  }
  const T* s = reinterpret_cast<const T*>(src);
  for (int l = 0; l < count; ++l) {
    T* row = out[l] + offset;
    for (int64_t w = w0; w < W; ++w) row[w] = s[w * P + l];
  }
}

}  // namespace
}  // namespace SPECDIFF_ISA
}  // namespace specdiff
