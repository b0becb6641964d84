// Lane-vectorized mixed-radix FFT round trip. Included once per ISA by lane_kernels_<isa>.cpp inside
// a `#pragma GCC target` region with SPECDIFF_ISA naming the namespace; everything but the exported
// kernel tables has internal linkage so the per-ISA copies never meet at link time.
//
// A lane vector V holds one value of kLanes<T> planes (SPECDIFF_VEC_BYTES: one register of the ISA, as a GCC
// vector extension type, so every butterfly compiles to whole-register SIMD for the including file's ISA). A complex vector of n
// points for a block of planes is two arrays re[n], im[n] of V. The half spectrum of a block is stored
// column-major, S[k][h] (k < W/2+1), so the column FFTs run on contiguous memory.
//
// The including file includes <algorithm>, <cmath>, <cstdint>, <limits>, <immintrin.h> (x86-64) and
// lane_kernels.h first; simd_exp.h (internal linkage) is included here, inside the ISA's target region.
#include "cpu/simd_exp.h"

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

template <typename T>
struct VecOf;
template <>
struct VecOf<float> {
  typedef float type __attribute__((vector_size(SPECDIFF_VEC_BYTES)));
};
template <>
struct VecOf<double> {
  typedef double type __attribute__((vector_size(SPECDIFF_VEC_BYTES)));
};
template <typename T>
constexpr int kLanes = SPECDIFF_VEC_BYTES / static_cast<int>(sizeof(T));
// Shuffle index vectors: integers of the element's width.
template <typename T>
struct IndexVecOf;
template <>
struct IndexVecOf<float> {
  typedef int type __attribute__((vector_size(SPECDIFF_VEC_BYTES)));
};
template <>
struct IndexVecOf<double> {
  typedef long long type __attribute__((vector_size(SPECDIFF_VEC_BYTES)));
};

// One round of an in-register P x P transpose: swaps the off-diagonal s x s sub-blocks of every 2s x 2s
// block (rows i and i + s exchange the halves selected by bit s of the column). log2(P) rounds with
// s = P/2 .. 1 transpose the whole tile.
template <typename T, int s>
inline void transpose_round(typename VecOf<T>::type* r) {
  using I = typename IndexVecOf<T>::type;
  constexpr int P = kLanes<T>;
  if constexpr (s < P) {
    I lo, hi;
    for (int j = 0; j < P; ++j) {
      lo[j] = (j & s) ? P + j - s : j;
      hi[j] = (j & s) ? P + j : j + s;
    }
    for (int i = 0; i < P; ++i) {
      if (i & s) continue;
      const typename VecOf<T>::type a = r[i], b = r[i + s];
      r[i] = __builtin_shuffle(a, b, lo);
      r[i + s] = __builtin_shuffle(a, b, hi);
    }
  }
}

template <typename T>
inline void transpose_tile(typename VecOf<T>::type* r) {
  transpose_round<T, 8>(r);
  transpose_round<T, 4>(r);
  transpose_round<T, 2>(r);
  transpose_round<T, 1>(r);
}

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
      default:
        stage_generic<T, Inv>(p.n, Ns, R, twr, twi, p.root_re + p.root_off[s], p.root_im + p.root_off[s], a, b);
    }
    const Buf<T> t = a;
    a = b;
    b = t;
  }
  return a;
}

// Stores v at p (aligned to the vector size) past the caches: a streaming store does not read the line it
// writes first.
template <typename T>
inline void stream_vector(T* p, typename VecOf<T>::type v) {
#if defined(__x86_64__) && SPECDIFF_VEC_BYTES == 64
  if constexpr (sizeof(T) == 4) _mm512_stream_ps(reinterpret_cast<float*>(p), reinterpret_cast<__m512>(v));
  else _mm512_stream_pd(reinterpret_cast<double*>(p), reinterpret_cast<__m512d>(v));
#elif defined(__x86_64__) && SPECDIFF_VEC_BYTES == 32
  if constexpr (sizeof(T) == 4) _mm256_stream_ps(reinterpret_cast<float*>(p), reinterpret_cast<__m256>(v));
  else _mm256_stream_pd(reinterpret_cast<double*>(p), reinterpret_cast<__m256d>(v));
#elif defined(__x86_64__) && SPECDIFF_VEC_BYTES == 16
  if constexpr (sizeof(T) == 4) _mm_stream_ps(reinterpret_cast<float*>(p), reinterpret_cast<__m128>(v));
  else _mm_stream_pd(reinterpret_cast<double*>(p), reinterpret_cast<__m128d>(v));
#else
  __builtin_memcpy(p, &v, sizeof(v));
#endif
}

inline void stream_fence() {
#if defined(__x86_64__)
  _mm_sfence();
#endif
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
  int64_t w0 = 0;
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

// Rows h0 and h0+1 (when < H) of the block's planes -> column-major half spectrum S[k][h].
// Two real rows ride in one complex FFT as z = a + i b; A[k] = (Z[k] + conj Z[-k]) / 2 and
// B[k] = (Z[k] - conj Z[-k]) / 2i separate them (any W, odd included).
// `staged`: the block's planes already in lane layout, [H][W] (see roundtrip), or nullptr to gather the rows.
template <typename T>
inline void rows_forward(const FftPlanView<T>& pw, const T* const* planes, int64_t sh, int64_t sw, int64_t H,
                         int64_t W, int64_t h0, Buf<T> S, int64_t ld, Buf<T> a, Buf<T> b,
                         const typename VecOf<T>::type* staged) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  const bool pair = h0 + 1 < H;
  if (staged) {
    for (int64_t w = 0; w < W; ++w) {
      a.re[w] = staged[h0 * W + w];
      a.im[w] = pair ? staged[(h0 + 1) * W + w] : V{};
    }
  }
  // The lanes read P separate plane streams, too many for the hardware prefetcher: fetch the next
  // row pair of every plane into L2 while this one is transformed. (Into L1, the planes' rows, often a
  // multiple of 4 KiB apart, compete for one set and evict each other: 2-7% slower in-process A/B.)
  if (!staged && h0 + 2 < H) {
    const int64_t rows = h0 + 3 < H ? 2 : 1;
    const int64_t span = ((W - 1) * sw + 1) * static_cast<int64_t>(sizeof(T));
    for (int l = 0; l < P; ++l) {
      for (int64_t r = 0; r < rows; ++r) {
        const char* row = reinterpret_cast<const char*>(planes[l] + (h0 + 2 + r) * sh);
        for (int64_t byte = 0; byte < span; byte += 64) __builtin_prefetch(row + byte, 0, 2);
      }
    }
  }
  if (!staged) {
    gather_row<T>(planes, h0 * sh, sw, W, a.re);
    if (pair) {
      gather_row<T>(planes, (h0 + 1) * sh, sw, W, a.im);
    } else {
      for (int64_t w = 0; w < W; ++w) a.im[w] = V{};
    }
  }
  const Buf<T> z = fft_lanes<T, false>(pw, a, b);
  const int64_t Wf = W / 2 + 1;
  for (int64_t k = 0; k < Wf; ++k) {
    const int64_t mk = (W - k) % W;
    const V zkr = z.re[k], zki = z.im[k], zmr = z.re[mk], zmi = z.im[mk];
    S.re[k * ld + h0] = T(0.5) * (zkr + zmr);
    S.im[k * ld + h0] = T(0.5) * (zki - zmi);
    if (pair) {
      S.re[k * ld + h0 + 1] = T(0.5) * (zki + zmi);
      S.im[k * ld + h0 + 1] = T(0.5) * (zmr - zkr);
    }
  }
}

// Inverse of rows_forward for rows h0, h0+1: the complex-to-real transform along W, which (like
// pocketfft and MKL) ignores the imaginary parts of the DC and Nyquist bins.
// `staged`: rows go into this lane-layout [H][W] buffer (scattered to the planes by the caller), else
// straight to the output planes.
template <typename T>
inline void rows_inverse(const FftPlanView<T>& pw, T* const* out, int count, int64_t H, int64_t W, int64_t h0,
                         Buf<T> S, int64_t ld, Buf<T> a, Buf<T> b, typename VecOf<T>::type* staged,
                         bool stream) {
  using V = typename VecOf<T>::type;
  const bool pair = h0 + 1 < H;
  const int64_t Wf = W / 2 + 1;
  const int64_t h1 = pair ? h0 + 1 : h0;
  for (int64_t k = 0; k < Wf; ++k) {
    const bool edge = k == 0 || 2 * k == W;
    const V Ar = S.re[k * ld + h0], Ai = edge ? V{} : S.im[k * ld + h0];
    const V Br = pair ? S.re[k * ld + h1] : V{};
    const V Bi = (pair && !edge) ? S.im[k * ld + h1] : V{};
    a.re[k] = Ar - Bi;
    a.im[k] = Ai + Br;
  }
  for (int64_t k = Wf; k < W; ++k) {
    const int64_t mk = W - k;
    const V Ar = S.re[mk * ld + h0], Ai = S.im[mk * ld + h0];
    const V Br = pair ? S.re[mk * ld + h1] : V{};
    const V Bi = pair ? S.im[mk * ld + h1] : V{};
    a.re[k] = Ar + Bi;
    a.im[k] = Br - Ai;
  }
  const Buf<T> z = fft_lanes<T, true>(pw, a, b);
  if (staged) {
    for (int64_t w = 0; w < W; ++w) {
      staged[h0 * W + w] = z.re[w];
      if (pair) staged[(h0 + 1) * W + w] = z.im[w];
    }
    return;
  }
  scatter_row<T>(z.re, out, count, h0 * W, W, stream);
  if (pair) scatter_row<T>(z.im, out, count, (h0 + 1) * W, W, stream);
}

template <typename T>
void roundtrip(const FftPlanView<T>& ph, const FftPlanView<T>& pw, const RoundTripBlock<T>& blk) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  const int64_t H = blk.H, W = blk.W, Wf = W / 2 + 1;
  const int64_t ld = roundtrip_column_stride(H, sizeof(V));
  const int64_t nS = Wf * ld;  // the spectra in the scratch: columns ld apart
  const int64_t nW = Wf * H;   // the weight and grad_weight lane buffers: columns H apart
  const int64_t nrow = H > W ? H : W;
  V* s = reinterpret_cast<V*>(blk.scratch);
  const Buf<T> S{s, s + nS};
  const Buf<T> X{s + 2 * nS, s + 3 * nS};
  const bool need_gw = blk.grad_weight[0] != nullptr;
  V* r = s + (need_gw ? 4 : 2) * nS;
  const Buf<T> a{r, r + nrow};
  const Buf<T> b{r + 2 * nrow, r + 3 * nrow};
  // Rows shorter than a register tile would move lane by lane: whole contiguous planes move as tiles instead,
  // through a lane-layout copy of the block (roundtrip_scratch_elems reserves it).
  V* stage = W < P ? r + 4 * nrow : nullptr;
  const auto forward_rows = [&](const T* const* planes, int64_t sh, int64_t sw, Buf<T> dst) {
    const bool tiles = stage && sh == W && sw == 1;
    if (tiles) gather_row<T>(planes, 0, 1, H * W, stage);
    for (int64_t h = 0; h < H; h += 2) {
      rows_forward<T>(pw, planes, sh, sw, H, W, h, dst, ld, a, b, tiles ? stage : nullptr);
    }
  };

  forward_rows(blk.in, blk.in_sh, blk.in_sw, S);
  if (need_gw && !blk.src_is_in) forward_rows(blk.src, blk.src_sh, blk.src_sw, X);
  const T scale = T(1) / static_cast<T>(H * W);
  const bool need_out = blk.out[0] != nullptr;
  // Per-lane weights: moved into lane layout once (unit-stride rows as register tiles), instead of P scalar
  // loads per bin; kept across blocks that use the same weight slices.
  const V *wl_re = nullptr, *wl_im = nullptr;
  if (need_out && !blk.weight_uniform && blk.weight_lanes) {
    V* wl = reinterpret_cast<V*>(blk.weight_lanes);
    if (!blk.weight_lanes_ready) {
      const int64_t sw = blk.weight_complex ? 2 : 1;
      for (int64_t h = 0; h < H; ++h) {
        gather_row<T>(blk.weight, h * Wf * sw, sw, Wf, wl + h * Wf);
        if (blk.weight_complex) gather_row<T>(blk.weight, h * Wf * sw + 1, sw, Wf, wl + nW + h * Wf);
      }
    }
    wl_re = wl;
    wl_im = blk.weight_complex ? wl + nW : nullptr;
  }
  for (int64_t k = 0; k < Wf; ++k) {
    const Buf<T> col{S.re + k * ld, S.im + k * ld};
    const Buf<T> G = fft_lanes<T, false>(ph, col, a);
    if (need_gw) {
      const Buf<T> Xk = blk.src_is_in ? G : fft_lanes<T, false>(ph, Buf<T>{X.re + k * ld, X.im + k * ld}, b);
      const T f = ((k == 0 || 2 * k == W) ? T(1) : T(2)) * scale;
      // This block's terms of grad_weight's column k, lane by lane: f G conj(X) (real part only for a real weight).
      const auto term = [&](int64_t h, V& cr, V& ci) {
        cr = f * (G.re[h] * Xk.re[h] + G.im[h] * Xk.im[h]);
        ci = f * (G.im[h] * Xk.re[h] - G.re[h] * Xk.im[h]);
      };
      // A run of blocks with the same weight slices sums its terms in lane layout first (see RoundTripBlock).
      V* lr = blk.grad_lanes ? reinterpret_cast<V*>(blk.grad_lanes) + k * H : nullptr;
      V* li = lr && blk.weight_complex ? lr + nW : nullptr;
      if (lr) {
        for (int64_t h = 0; h < H; ++h) {
          V cr, ci;
          term(h, cr, ci);
          lr[h] = blk.grad_lanes_start ? cr : lr[h] + cr;
          if (li) li[h] = blk.grad_lanes_start ? ci : li[h] + ci;
        }
      }
      // P rows at a time, transposed in registers so each lane adds a contiguous run of its column k
      // (grad_weight is column-major, [Wf][H], see RoundTripBlock) in loops the compiler vectorizes.
      for (int64_t h0 = 0; (!lr || blk.grad_lanes_flush) && h0 < H; h0 += P) {
        const int nh = static_cast<int>(H - h0 < P ? H - h0 : P);
        V cr[P], ci[P];
        for (int j = 0; j < P; ++j) {
          const int64_t h = h0 + (j < nh ? j : 0);
          if (lr) {
            cr[j] = lr[h];
            ci[j] = li ? li[h] : V{};
          } else {
            term(h, cr[j], ci[j]);
          }
        }
        transpose_tile<T>(cr);
        if (blk.weight_complex) transpose_tile<T>(ci);
        for (int l = 0; l < blk.count; ++l) {
          const T* re = reinterpret_cast<const T*>(&cr[l]);
          const T* im = reinterpret_cast<const T*>(&ci[l]);
          if (blk.weight_complex) {
            double* gw = blk.grad_weight[l] + 2 * (k * H + h0);
            for (int j = 0; j < nh; ++j) {
              gw[2 * j] += re[j];
              gw[2 * j + 1] += im[j];
            }
          } else {
            double* gw = blk.grad_weight[l] + k * H + h0;
            for (int j = 0; j < nh; ++j) gw[j] += re[j];
          }
        }
      }
    }
    if (!need_out) continue;
    const T wsign = blk.conj_weight ? T(-1) : T(1);
    for (int64_t h = 0; h < H; ++h) {
      V wr, wi;
      const int64_t off = h * Wf + k;
      if (blk.weight_uniform) {
        const T* w0 = blk.weight[0];
        wr = V{} + (blk.weight_complex ? w0[2 * off] : w0[off]) * scale;
        wi = V{} + (blk.weight_complex ? w0[2 * off + 1] * scale * wsign : T(0));
      } else if (wl_re) {
        wr = wl_re[off] * scale;
        wi = wl_im ? wl_im[off] * (scale * wsign) : V{};
      } else {
        for (int l = 0; l < P; ++l) {
          const T* wl = blk.weight[l];
          wr[l] = (blk.weight_complex ? wl[2 * off] : wl[off]) * scale;
          wi[l] = blk.weight_complex ? wl[2 * off + 1] * scale * wsign : T(0);
        }
      }
      const V gr = G.re[h], gi = G.im[h];
      G.re[h] = gr * wr - gi * wi;
      G.im[h] = gr * wi + gi * wr;
    }
    const Buf<T> other = G.re == col.re ? a : col;
    const Buf<T> Y = fft_lanes<T, true>(ph, G, other);
    if (Y.re != col.re) {
      for (int64_t h = 0; h < H; ++h) {
        col.re[h] = Y.re[h];
        col.im[h] = Y.im[h];
      }
    }
  }
  if (!need_out) return;
  const bool stream = blk.stream_out;
  for (int64_t h = 0; h < H; h += 2) rows_inverse<T>(pw, blk.out, blk.count, H, W, h, S, ld, a, b, stage, stream);
  if (stage) scatter_row<T>(stage, blk.out, blk.count, 0, H * W, stream);
  if (stream) stream_fence();
}

// ---- band weighting (see BandScaleFn in lane_kernels.h)

// Stores v at p: a streaming store (p aligned to the vector size) or an ordinary one.
template <typename T, bool kStream>
inline void store_vector(T* p, typename VecOf<T>::type v) {
  if constexpr (kStream) stream_vector<T>(p, v);
  else __builtin_memcpy(p, &v, sizeof(v));
}

// The first element from which y + j is vector-aligned (at most m): streaming stores start there.
template <typename T>
inline int64_t aligned_head(const T* y, int64_t m) {
  const int64_t misaligned = static_cast<int64_t>(reinterpret_cast<uintptr_t>(y) % SPECDIFF_VEC_BYTES);
  return std::min<int64_t>(m, misaligned == 0 ? 0 : (SPECDIFF_VEC_BYTES - misaligned) / sizeof(T));
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

// One plane of band_scale_correlate. The correlations times the derivative tables are summed in registers, in
// the working precision over blocks of kCorrelationBlock values per lane, then in double. (The loop is
// memory-bound: against a per-bin accumulator array in memory, reduced with the tables per run of planes, an
// in-process A/B measured no difference; the registers need no per-thread array and no second pass.)
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
void band_scale_correlate(const T* __restrict w, const T* const* d, const T* __restrict g, const T* __restrict s,
                          T* __restrict y, int64_t m, int64_t planes, bool stream, double* sums) {
  for (int64_t i = 0; i < planes; ++i, g += m, s += m) {
    if (y == nullptr) {
      band_scale_correlate_plane<T, false, false>(w, d, g, s, nullptr, m, sums);
      continue;
    }
    if (stream) band_scale_correlate_plane<T, true, true>(w, d, g, s, y, m, sums);
    else band_scale_correlate_plane<T, false, true>(w, d, g, s, y, m, sums);
    y += m;
  }
  if (stream && y != nullptr) stream_fence();
}

// ---- complex_norm_act (see NormActFn in lane_kernels.h)

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

// ---- Gauss's operands and their way back (see GaussSplitFn in lane_kernels.h)

template <typename T>
inline void gauss_parts(bool backward_input, T re, T im, T& a, T& b, T& c) {
  if (backward_input) {
    a = re, b = re - im, c = re + im;
  } else {
    a = re + im, b = im, c = re;
  }
}

// The pixels [p0, p1) of channels [0, C) split into whole L x L tiles, handed to tile(c0, p), and the rest (the
// pixels past the last whole tile, then the last C % L channels), handed element by element to one(c, p).
template <int L, typename Tile, typename One>
inline void for_tiles(int64_t C, int64_t p0, int64_t p1, const Tile& tile, const One& one) {
  const int64_t cend = C / L * L, pend = p0 + (p1 - p0) / L * L;
  for (int64_t c0 = 0; c0 < cend; c0 += L) {
    for (int64_t p = p0; p < pend; p += L) tile(c0, p);
  }
  for (int64_t p = pend; p < p1; ++p) {
    for (int64_t c = 0; c < cend; ++c) one(c, p);
  }
  for (int64_t p = p0; p < p1; ++p) {
    for (int64_t c = cend; c < C; ++c) one(c, p);
  }
}

template <typename T>
void gauss_split(const T* __restrict in, int64_t C, int64_t P, int64_t p0, int64_t p1, bool backward_input,
                 T* __restrict o0, T* __restrict o1, T* __restrict o2) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  const T* in_im = in + C * P;
  // A tile: L channel rows in, transposed in registers, L pixel rows of L channels out.
  const auto tile = [&](int64_t c0, int64_t p) {
    V re[L], im[L];
    for (int j = 0; j < L; ++j) {
      __builtin_memcpy(&re[j], in + (c0 + j) * P + p, sizeof(V));
      __builtin_memcpy(&im[j], in_im + (c0 + j) * P + p, sizeof(V));
    }
    transpose_tile<T>(re);
    transpose_tile<T>(im);
    for (int q = 0; q < L; ++q) {
      V a, b, c;
      gauss_parts(backward_input, re[q], im[q], a, b, c);
      const int64_t dst = (p + q) * C + c0;
      __builtin_memcpy(o0 + dst, &a, sizeof(V));
      __builtin_memcpy(o1 + dst, &b, sizeof(V));
      __builtin_memcpy(o2 + dst, &c, sizeof(V));
    }
  };
  const auto one = [&](int64_t c, int64_t p) {
    gauss_parts(backward_input, in[c * P + p], in_im[c * P + p], o0[p * C + c], o1[p * C + c], o2[p * C + c]);
  };
  for_tiles<L>(C, p0, p1, tile, one);
}

template <typename T>
void gauss_merge(const T* __restrict k, const T* __restrict u, const T* __restrict v, int64_t C, int64_t P,
                 int64_t p0, int64_t p1, T* __restrict out) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  T* out_im = out + C * P;
  const auto tile = [&](int64_t c0, int64_t p) {
    V re[L], im[L];
    for (int q = 0; q < L; ++q) {
      V vk, vu, vv;
      const int64_t src = (p + q) * C + c0;
      __builtin_memcpy(&vk, k + src, sizeof(V));
      __builtin_memcpy(&vu, u + src, sizeof(V));
      __builtin_memcpy(&vv, v + src, sizeof(V));
      re[q] = vk - vu;
      im[q] = vk - vv;
    }
    transpose_tile<T>(re);
    transpose_tile<T>(im);
    for (int j = 0; j < L; ++j) {
      __builtin_memcpy(out + (c0 + j) * P + p, &re[j], sizeof(V));
      __builtin_memcpy(out_im + (c0 + j) * P + p, &im[j], sizeof(V));
    }
  };
  const auto one = [&](int64_t c, int64_t p) {
    out[c * P + p] = k[p * C + c] - u[p * C + c];
    out_im[c * P + p] = k[p * C + c] - v[p * C + c];
  };
  for_tiles<L>(C, p0, p1, tile, one);
}

// Plane stacks [C][P] to channels_last [P][C] and back (see RelayoutFn in lane_kernels.h): a tile loads L rows
// along one layout's contiguous axis, transposes them and stores L rows along the other's.
template <typename T, bool ToChannelsLast>
void relayout(const T* __restrict in, int64_t C, int64_t P, int64_t p0, int64_t p1, T* __restrict out) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  const auto planes_at = [&](int64_t c, int64_t p) { return c * P + p; };
  const auto cl_at = [&](int64_t c, int64_t p) { return p * C + c; };
  const auto tile = [&](int64_t c0, int64_t p) {
    V r[L];
    for (int i = 0; i < L; ++i) {
      __builtin_memcpy(&r[i], in + (ToChannelsLast ? planes_at(c0 + i, p) : cl_at(c0, p + i)), sizeof(V));
    }
    transpose_tile<T>(r);
    for (int i = 0; i < L; ++i) {
      __builtin_memcpy(out + (ToChannelsLast ? cl_at(c0, p + i) : planes_at(c0 + i, p)), &r[i], sizeof(V));
    }
  };
  const auto one = [&](int64_t c, int64_t p) {
    if (ToChannelsLast) {
      out[cl_at(c, p)] = in[planes_at(c, p)];
    } else {
      out[planes_at(c, p)] = in[cl_at(c, p)];
    }
  };
  for_tiles<L>(C, p0, p1, tile, one);
}

#include "cpu/lane_winograd.h"

extern const LaneKernels<float> kernels_float{kLanes<float>,          &roundtrip<float>,
                                              &band_scale<float>,     &band_scale_correlate<float>,
                                              &norm_act<float>,       &norm_act_sums<float>,
                                              &norm_act_backward<float>, &moments<float>,
                                              &gauss_split<float>,    &gauss_merge<float>,
                                              &relayout<float, true>,  &relayout<float, false>,
                                              kWinoRows,              &winograd_conv<float>,
                                              &winograd_weight_grad<float>};
extern const LaneKernels<double> kernels_double{kLanes<double>,          &roundtrip<double>,
                                                &band_scale<double>,     &band_scale_correlate<double>,
                                                &norm_act<double>,       &norm_act_sums<double>,
                                                &norm_act_backward<double>, &moments<double>,
                                                &gauss_split<double>,    &gauss_merge<double>,
                                                &relayout<double, true>,  &relayout<double, false>,
                                                kWinoRows,               &winograd_conv<double>,
                                                &winograd_weight_grad<double>};

}  // namespace SPECDIFF_ISA
}  // namespace specdiff
