// spectral_conv2d's lane kernels (spectra.h), for the ISA of the including translation unit (see vec.h). The
// transforms are the FFT round trip's phases (roundtrip_impl.h, included first by the per-ISA unit): store runs
// phase 1 and the column transforms and writes the block's half spectrum out; load_inverse reads one in and runs the
// inverse column transforms and phase 3.
#pragma once

#include "cpu/lanes/roundtrip_impl.h"
#include "cpu/lanes/spectra.h"

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

// Lane l of v to spec[l][at] (l < count), one vector store when the lanes' spectra are adjacent.
template <typename T>
inline void put_lanes(const SpectraBlock<T>& blk, int64_t at, typename VecOf<T>::type v) {
  if (blk.contiguous) {
    __builtin_memcpy(blk.spec[0] + at, &v, sizeof(v));
    return;
  }
  T lane[kLanes<T>];
  __builtin_memcpy(lane, &v, sizeof(v));
  for (int l = 0; l < blk.count; ++l) blk.spec[l][at] = lane[l];
}

// The inverse of put_lanes; spare lanes read as zero.
template <typename T>
inline typename VecOf<T>::type get_lanes(const SpectraBlock<T>& blk, int64_t at) {
  typename VecOf<T>::type v;
  if (blk.contiguous) {
    __builtin_memcpy(&v, blk.spec[0] + at, sizeof(v));
    return v;
  }
  T lane[kLanes<T>] = {};
  for (int l = 0; l < blk.count; ++l) lane[l] = blk.spec[l][at];
  __builtin_memcpy(&v, lane, sizeof(v));
  return v;
}

template <typename T>
void spectra_store(const RoundTripGeometry<T>& g, const SpectraBlock<T>& blk) {
  const RoundTripScratch<T> m(g, blk.scratch);
  const int64_t H = g.H, Wf = g.W / 2 + 1, ld = g.ld;
  rows_to_spectrum<T>(g, blk.in, g.in_sh, g.in_sw, m.S, m);
  for (int64_t k = 0; k < Wf; ++k) {
    const Buf<T> G = fft_lanes<T, false>(g.cols, m.column(m.S, k, ld), m.a);
    for (int64_t h = 0; h < H; ++h) {
      const int64_t at = (h * Wf + k) * blk.bin_stride;
      put_lanes<T>(blk, at, G.re[h]);
      put_lanes<T>(blk, at + blk.imag_offset, G.im[h]);
    }
  }
}

template <typename T>
void spectra_load_inverse(const RoundTripGeometry<T>& g, const SpectraBlock<T>& blk) {
  const RoundTripScratch<T> m(g, blk.scratch);
  const int64_t H = g.H, Wf = g.W / 2 + 1, ld = g.ld;
  for (int64_t k = 0; k < Wf; ++k) {
    const Buf<T> col = m.column(m.S, k, ld);
    for (int64_t h = 0; h < H; ++h) {
      const int64_t at = (h * Wf + k) * blk.bin_stride;
      col.re[h] = get_lanes<T>(blk, at);
      col.im[h] = get_lanes<T>(blk, at + blk.imag_offset);
    }
    column_fft<T, true>(g, col, m.a);
  }
  RoundTripBlock<T> out{};
  out.count = blk.count;
  for (int l = 0; l < kMaxLanes; ++l) out.out[l] = blk.out[l];
  spectrum_to_rows<T>(g, out, m.S, m);
}

// Rows i0 .. i0 + R - 1 of C, columns j0 .. j0 + lanes - 1: R x 2 accumulators in registers over the whole sum.
// Each product goes into its accumulator on its own, one fused multiply-add each (four per complex product): written
// as acc += ar br - ai bi, the compiler rounds the difference first and adds it, a multiply, a fused multiply-add and
// an add for every two products (gcc 12). With kConj, B's imaginary part enters with its sign flipped
// in the four updates instead of being negated.
template <typename T, bool kConj, int R>
inline void gemm_tile(int64_t i0, int64_t j0, int64_t k, T alpha, const SplitMatrix<T>& A, const T* br, const T* bi,
                      int64_t ldb, T* cr, T* ci, int64_t ldc) {
  using V = typename VecOf<T>::type;
  V accr[R], acci[R];
  for (int r = 0; r < R; ++r) accr[r] = acci[r] = V{};
  for (int64_t l = 0; l < k; ++l) {
    V bre, bim;
    __builtin_memcpy(&bre, br + l * ldb + j0, sizeof(V));
    __builtin_memcpy(&bim, bi + l * ldb + j0, sizeof(V));
    for (int r = 0; r < R; ++r) {
      const int64_t at = (i0 + r) * A.rs + l * A.cs;
      const T ar = A.re[at], ai = A.im[at];
      accr[r] += ar * bre;
      acci[r] += ai * bre;
      if constexpr (kConj) {
        accr[r] += ai * bim;
        acci[r] -= ar * bim;
      } else {
        accr[r] -= ai * bim;
        acci[r] += ar * bim;
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    const V yr = alpha * accr[r], yi = alpha * acci[r];
    __builtin_memcpy(cr + (i0 + r) * ldc + j0, &yr, sizeof(V));
    __builtin_memcpy(ci + (i0 + r) * ldc + j0, &yi, sizeof(V));
  }
}

template <typename T, bool kConj>
void complex_gemm(int64_t m, int64_t n, int64_t k, T alpha, SplitMatrix<T> A, const T* br, const T* bi, int64_t ldb,
                  T* cr, T* ci, int64_t ldc) {
  constexpr int P = kLanes<T>;
  constexpr int R = 4;
  int64_t j0 = 0;
  for (; j0 + P <= n; j0 += P) {
    int64_t i0 = 0;
    for (; i0 + R <= m; i0 += R) gemm_tile<T, kConj, R>(i0, j0, k, alpha, A, br, bi, ldb, cr, ci, ldc);
    for (; i0 < m; ++i0) gemm_tile<T, kConj, 1>(i0, j0, k, alpha, A, br, bi, ldb, cr, ci, ldc);
  }
  for (int64_t i = 0; i < m; ++i) {  // the columns past the last whole vector
    for (int64_t j = j0; j < n; ++j) {
      T sr = 0, si = 0;
      for (int64_t l = 0; l < k; ++l) {
        const int64_t at = i * A.rs + l * A.cs;
        const T ar = A.re[at], ai = A.im[at], bre = br[l * ldb + j], bim = kConj ? -bi[l * ldb + j] : bi[l * ldb + j];
        sr += ar * bre - ai * bim;
        si += ar * bim + ai * bre;
      }
      cr[i * ldc + j] = alpha * sr;
      ci[i * ldc + j] = alpha * si;
    }
  }
}

// One dot product per (i, j) along the rows, vectorized over l.
template <typename T>
void row_dots(int64_t m, int64_t n, int64_t len, const T* a_re, const T* a_im, int64_t lda, const T* b, int64_t ldb,
              T* c_re, T* c_im, int64_t ldc) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  for (int64_t i = 0; i < m; ++i) {
    const T* ar = a_re + i * lda;
    const T* ai = a_im + i * lda;
    for (int64_t j = 0; j < n; ++j) {
      const T* bj = b + j * ldb;
      V sr{}, si{};
      int64_t l = 0;
      for (; l + P <= len; l += P) {
        V vr, vi, vb;
        __builtin_memcpy(&vr, ar + l, sizeof(V));
        __builtin_memcpy(&vi, ai + l, sizeof(V));
        __builtin_memcpy(&vb, bj + l, sizeof(V));
        sr += vr * vb;
        si += vi * vb;
      }
      T tr = 0, ti = 0;
      for (; l < len; ++l) {
        tr += ar[l] * bj[l];
        ti += ai[l] * bj[l];
      }
      for (int p = 0; p < P; ++p) {
        tr += sr[p];
        ti += si[p];
      }
      c_re[i * ldc + j] = tr;
      c_im[i * ldc + j] = ti;
    }
  }
}

}  // namespace

extern const SpectraKernels<float> spectra_lanes_float{
    .lanes = kLanes<float>,
    .store = &spectra_store<float>,
    .load_inverse = &spectra_load_inverse<float>,
    .gemm = &complex_gemm<float, false>,
    .gemm_conj = &complex_gemm<float, true>,
    .row_dots = &row_dots<float>,
};
extern const SpectraKernels<double> spectra_lanes_double{
    .lanes = kLanes<double>,
    .store = &spectra_store<double>,
    .load_inverse = &spectra_load_inverse<double>,
    .gemm = &complex_gemm<double, false>,
    .gemm_conj = &complex_gemm<double, true>,
    .row_dots = &row_dots<double>,
};

}  // namespace SPECDIFF_ISA
}  // namespace specdiff
