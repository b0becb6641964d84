// The FFT round trip's lane kernels (roundtrip.h), for the ISA of the including translation unit (see vec.h).
//
// The half spectrum of a block is stored column-major, S[k][h] (k < W/2+1), so the column FFTs run on contiguous
// memory. Every entry point is the same three phases, composed at compile time: the row transforms of the input
// into S (rows_to_spectrum), one pass over the columns (column_pass: transform along H, optionally correlate,
// optionally weight and transform back), and the inverse row transforms into the output (spectrum_to_rows).
#pragma once

#include "cpu/lanes/fft.h"
#include "cpu/lanes/roundtrip.h"
#include "cpu/lanes/vec.h"

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

// The thread's scratch for one block, carved per roundtrip_scratch_elems.
template <typename T>
struct RoundTripScratch {
  Buf<T> S, X;  // the block's half spectrum and (cross-correlating entries) the correlated input's
  Buf<T> a, b;  // one row (or column) being transformed, ping-pong
  typename VecOf<T>::type* stage;  // W < lanes: the block's planes in lane layout [H][W], else nullptr
  Buf<T> A;     // the *_multi entries' third half spectrum (scratch sized with multi, else past its end)

  RoundTripScratch(const RoundTripGeometry<T>& g, T* scratch) {
    using V = typename VecOf<T>::type;
    const int64_t nS = (g.W / 2 + 1) * g.ld, nrow = g.H > g.W ? g.H : g.W;
    V* s = reinterpret_cast<V*>(scratch);
    S = Buf<T>{s, s + nS};
    X = Buf<T>{s + 2 * nS, s + 3 * nS};
    V* r = s + 4 * nS;
    a = Buf<T>{r, r + nrow};
    b = Buf<T>{r + 2 * nrow, r + 3 * nrow};
    stage = g.W < kLanes<T> ? r + 4 * nrow : nullptr;
    V* t = r + 4 * nrow + (stage ? g.H * g.W : 0);
    A = Buf<T>{t, t + nS};
  }

  Buf<T> column(Buf<T> spectrum, int64_t k, int64_t ld) const { return {spectrum.re + k * ld, spectrum.im + k * ld}; }
};

// Rows h0 and h0+1 (when < ph), already in a.re and a.im, -> columns of the half spectrum S[k][h]. Two real rows
// ride in one complex FFT as z = a + i b; A[k] = (Z[k] + conj Z[-k]) / 2 and B[k] = (Z[k] - conj Z[-k]) / 2i
// separate them (any W, odd included).
template <typename T>
inline void row_pair_spectrum(const RoundTripGeometry<T>& g, int64_t h0, Buf<T> S, Buf<T> a, Buf<T> b) {
  using V = typename VecOf<T>::type;
  const bool pair = h0 + 1 < g.ph;
  const int64_t W = g.W, Wf = W / 2 + 1, ld = g.ld;
  const Buf<T> z = fft_lanes<T, false>(g.rows, a, b);
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

// Phase 1: the planes (strides sh, sw) -> the block's half spectrum S. Rows shorter than a register tile would
// move lane by lane, so contiguous planes of such rows move as whole-plane tiles through the stage instead. Rows
// and columns of the grid beyond the planes' extent are zeros.
template <typename T>
inline void rows_to_spectrum(const RoundTripGeometry<T>& g, const T* const* planes, int64_t sh, int64_t sw,
                             Buf<T> S, const RoundTripScratch<T>& m) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  const int64_t H = g.H, W = g.W, ph = g.ph, pw = g.pw, Wf = W / 2 + 1, ld = g.ld;
  const Buf<T> a = m.a, b = m.b;
  if (ph < H) {
    for (int64_t k = 0; k < Wf; ++k) {
      for (int64_t h = ph; h < H; ++h) S.re[k * ld + h] = S.im[k * ld + h] = V{};
    }
  }
  if (m.stage && sh == pw && sw == 1) {
    gather_row<T>(planes, 0, 1, ph * pw, m.stage);
    for (int64_t h0 = 0; h0 < ph; h0 += 2) {
      const bool pair = h0 + 1 < ph;
      for (int64_t w = 0; w < W; ++w) {
        a.re[w] = w < pw ? m.stage[h0 * pw + w] : V{};
        a.im[w] = pair && w < pw ? m.stage[(h0 + 1) * pw + w] : V{};
      }
      row_pair_spectrum<T>(g, h0, S, a, b);
    }
    return;
  }
  const int64_t span = ((pw - 1) * sw + 1) * static_cast<int64_t>(sizeof(T));
  for (int64_t h0 = 0; h0 < ph; h0 += 2) {
    // The lanes read P separate plane streams, too many for the hardware prefetcher: fetch the next row pair
    // of every plane into L2 while this one is transformed (into L1, rows a multiple of the L1's set period
    // apart would evict each other; docs/cpu_kernels.md).
    for (int64_t r = h0 + 2; r < ph && r < h0 + 4; ++r) {
      for (int l = 0; l < P; ++l) {
        const char* row = reinterpret_cast<const char*>(planes[l] + r * sh);
        for (int64_t byte = 0; byte < span; byte += 64) __builtin_prefetch(row + byte, 0, 2);
      }
    }
    gather_row<T>(planes, h0 * sh, sw, pw, a.re);
    if (h0 + 1 < ph) {
      gather_row<T>(planes, (h0 + 1) * sh, sw, pw, a.im);
    } else {
      for (int64_t w = 0; w < pw; ++w) a.im[w] = V{};
    }
    for (int64_t w = pw; w < W; ++w) a.re[w] = a.im[w] = V{};
    row_pair_spectrum<T>(g, h0, S, a, b);
  }
}

// Phase 3: the inverse of phase 1, the complex-to-real transform along W (which, like pocketfft and MKL, ignores
// the imaginary parts of the DC and Nyquist bins), of the rows within the planes' extent, into the block's
// contiguous output planes (their first pw columns).
template <typename T>
inline void spectrum_to_rows(const RoundTripGeometry<T>& g, const RoundTripBlock<T>& blk, Buf<T> S,
                             const RoundTripScratch<T>& m) {
  using V = typename VecOf<T>::type;
  const int64_t W = g.W, Wf = W / 2 + 1, ld = g.ld, ph = g.ph, pw = g.pw;
  const Buf<T> a = m.a, b = m.b;
  for (int64_t h0 = 0; h0 < ph; h0 += 2) {
    const bool pair = h0 + 1 < ph;
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
    const Buf<T> z = fft_lanes<T, true>(g.rows, a, b);
    if (m.stage) {
      for (int64_t w = 0; w < pw; ++w) {
        m.stage[h0 * pw + w] = z.re[w];
        if (pair) m.stage[(h0 + 1) * pw + w] = z.im[w];
      }
      continue;
    }
    scatter_row<T>(z.re, blk.out, blk.count, h0 * pw, pw, g.stream_out);
    if (pair) scatter_row<T>(z.im, blk.out, blk.count, (h0 + 1) * pw, pw, g.stream_out);
  }
  if (m.stage) scatter_row<T>(m.stage, blk.out, blk.count, 0, ph * pw, g.stream_out);
  if (g.stream_out) stream_fence();
}

// What a column pass adds to the block's sums: nothing, D G conj(X) of the transformed input G and the correlated
// input X, or D |G|^2.
enum class Correlation { none, cross, self };

// sums[k] += D G conj(X) / (H W) for column k of the transformed input G and of the correlated input X (both
// transformed along H); the imaginary parts only for complex weights.
template <typename T>
inline void correlate_column(const RoundTripGeometry<T>& g, T* sums, int64_t k, Buf<T> G, Buf<T> X) {
  using V = typename VecOf<T>::type;
  const int64_t H = g.H, W = g.W, nW = (W / 2 + 1) * H;
  const T f = ((k == 0 || 2 * k == W) ? T(1) : T(2)) / static_cast<T>(H * W);
  V* sr = reinterpret_cast<V*>(sums) + k * H;
  for (int64_t h = 0; h < H; ++h) sr[h] += f * (G.re[h] * X.re[h] + G.im[h] * X.im[h]);
  if (g.weight_complex) {
    V* si = sr + nW;
    for (int64_t h = 0; h < H; ++h) si[h] += f * (G.im[h] * X.re[h] - G.re[h] * X.im[h]);
  }
}

// dst = src . W[:, k] / (H W) for column k (transformed along H); dst may be src.
template <typename T>
inline void weigh_column(const RoundTripGeometry<T>& g, const BlockWeight<T>& w, int64_t k, Buf<T> src,
                         Buf<T> dst) {
  using V = typename VecOf<T>::type;
  const int64_t H = g.H, Wf = g.W / 2 + 1, nW = Wf * H;
  const T scale = T(1) / static_cast<T>(H * g.W), isign = w.imag_sign * scale;
  const V* wl_re = reinterpret_cast<const V*>(w.lanes);
  const V* wl_im = wl_re && g.weight_complex ? wl_re + nW : nullptr;
  for (int64_t h = 0; h < H; ++h) {
    V wr, wi;
    const int64_t off = h * Wf + k;
    if (w.slice) {
      wr = V{} + (g.weight_complex ? w.slice[2 * off] : w.slice[off]) * scale;
      wi = V{} + (g.weight_complex ? w.slice[2 * off + 1] * isign : T(0));
    } else {
      wr = wl_re[off] * scale;
      wi = wl_im ? wl_im[off] * isign : V{};
    }
    const V gr = src.re[h], gi = src.im[h];
    dst.re[h] = gr * wr - gi * wi;
    dst.im[h] = gr * wi + gi * wr;
  }
}

// A column through the FFT along H (kInverse: the inverse), in place; tmp is the ping-pong buffer.
template <typename T, bool kInverse>
inline void column_fft(const RoundTripGeometry<T>& g, Buf<T> col, Buf<T> tmp) {
  const Buf<T> y = fft_lanes<T, kInverse>(g.cols, col, tmp);
  if (y.re != col.re) {
    for (int64_t h = 0; h < g.H; ++h) {
      col.re[h] = y.re[h];
      col.im[h] = y.im[h];
    }
  }
}

// Where a column pass's correlated spectrum X comes from, or where it puts the transformed input's: X transformed in
// the scratch (from blk.src), X read from the saved spectra, or the input's spectrum G stored to them.
enum class Saved { none, load, store };

// Column k of every lane's saved spectrum [2][Wf][H] <-> H lane vectors (real, imaginary).
template <typename T>
inline void store_spectrum_column(const RoundTripGeometry<T>& g, const RoundTripBlock<T>& blk, int64_t k, Buf<T> G) {
  const int64_t H = g.H, half = (g.W / 2 + 1) * H;
  scatter_row<T>(G.re, blk.spectra, blk.count, k * H, H, g.stream_spectra);
  scatter_row<T>(G.im, blk.spectra, blk.count, half + k * H, H, g.stream_spectra);
}

template <typename T>
inline Buf<T> load_spectrum_column(const RoundTripGeometry<T>& g, const RoundTripBlock<T>& blk, int64_t k,
                                   Buf<T> dst) {
  const int64_t H = g.H, half = (g.W / 2 + 1) * H;
  gather_row<T>(blk.spectra, k * H, 1, H, dst.re);
  gather_row<T>(blk.spectra, half + k * H, 1, H, dst.im);
  return dst;
}

// Phase 2: every column k of S through the FFT along H (G), the correlation into the block's sums, and, with
// kInverse, the weight and the inverse FFT along H back into S's column.
template <typename T, Correlation kCorr, bool kInverse, Saved kSaved = Saved::none>
inline void column_pass(const RoundTripGeometry<T>& g, const RoundTripBlock<T>& blk, const RoundTripScratch<T>& m) {
  using V = typename VecOf<T>::type;
  const int64_t H = g.H, W = g.W, Wf = W / 2 + 1, ld = g.ld;
  for (int64_t k = 0; k < Wf; ++k) {
    const Buf<T> col = m.column(m.S, k, ld);
    const Buf<T> G = fft_lanes<T, false>(g.cols, col, m.a);
    if constexpr (kSaved == Saved::store) store_spectrum_column<T>(g, blk, k, G);
    if constexpr (kCorr == Correlation::self) {
      const T f = ((k == 0 || 2 * k == W) ? T(1) : T(2)) / static_cast<T>(H * W);
      V* sr = reinterpret_cast<V*>(blk.sums) + k * H;
      for (int64_t h = 0; h < H; ++h) sr[h] += f * (G.re[h] * G.re[h] + G.im[h] * G.im[h]);
    } else if constexpr (kCorr == Correlation::cross) {
      const Buf<T> X = kSaved == Saved::load ? load_spectrum_column<T>(g, blk, k, m.b)
                                             : fft_lanes<T, false>(g.cols, m.column(m.X, k, ld), m.b);
      correlate_column<T>(g, blk.sums, k, G, X);
    }
    if constexpr (kInverse) {
      weigh_column<T>(g, blk.weight, k, G, G);
      const Buf<T> Y = fft_lanes<T, true>(g.cols, G, G.re == col.re ? m.a : col);
      if (Y.re != col.re) {
        for (int64_t h = 0; h < H; ++h) {
          col.re[h] = Y.re[h];
          col.im[h] = Y.im[h];
        }
      }
    }
  }
  if constexpr (kSaved == Saved::store) {
    if (g.stream_spectra) stream_fence();
  }
}

// Response j's weight (see RoundTripBlock::weight_step).
template <typename T>
inline BlockWeight<T> response_weight(const RoundTripBlock<T>& blk, int j) {
  BlockWeight<T> w = blk.weight;
  if (w.slice) {
    w.slice += j * blk.weight_step;
  } else {
    w.lanes += j * blk.weight_step;
  }
  return w;
}

// Every single-response entry point (roundtrip.h): the input's rows into S (and, for a cross-correlation with no saved
// spectra, the correlated input's into X), one column pass, and with kInverse the rows back into the output.
template <typename T, Correlation kCorr, bool kInverse, Saved kSaved = Saved::none>
void roundtrip_entry(const RoundTripGeometry<T>& g, const RoundTripBlock<T>& blk) {
  const RoundTripScratch<T> m(g, blk.scratch);
  rows_to_spectrum<T>(g, blk.in, g.in_sh, g.in_sw, m.S, m);
  if constexpr (kCorr == Correlation::cross && kSaved != Saved::load) {
    rows_to_spectrum<T>(g, blk.src, g.src_sh, g.src_sw, m.X, m);
  }
  column_pass<T, kCorr, kInverse, kSaved>(g, blk, m);
  if constexpr (kInverse) spectrum_to_rows<T>(g, blk, m.S, m);
}

// One forward transform of the input into X, then per response the weight, the inverse transform and its output.
template <typename T>
void roundtrip_forward_multi(const RoundTripGeometry<T>& g, const RoundTripBlock<T>& blk) {
  const RoundTripScratch<T> m(g, blk.scratch);
  const int64_t Wf = g.W / 2 + 1, ld = g.ld;
  rows_to_spectrum<T>(g, blk.in, g.in_sh, g.in_sw, m.X, m);
  for (int64_t k = 0; k < Wf; ++k) column_fft<T, false>(g, m.column(m.X, k, ld), m.a);
  RoundTripBlock<T> out = blk;
  for (int j = 0; j < blk.responses; ++j) {
    const BlockWeight<T> w = response_weight(blk, j);
    for (int64_t k = 0; k < Wf; ++k) {
      const Buf<T> col = m.column(m.S, k, ld);
      weigh_column<T>(g, w, k, m.column(m.X, k, ld), col);
      column_fft<T, true>(g, col, m.a);
    }
    for (int l = 0; l < kLanes<T>; ++l) out.out[l] = blk.out[l] ? blk.out[l] + j * blk.out_step : nullptr;
    spectrum_to_rows<T>(g, out, m.S, m);
  }
}

// The responses' inputs in_j (upstream gradients) one after another through the forward transform: kSums
// correlates each with the correlated input (transformed once, into X) into sums_j; kOut sums W_j . rfft2(in_j)
// in A and transforms the total back into the output.
template <typename T, bool kOut, bool kSums>
void roundtrip_reduce_multi(const RoundTripGeometry<T>& g, const RoundTripBlock<T>& blk) {
  const RoundTripScratch<T> m(g, blk.scratch);
  const int64_t H = g.H, Wf = g.W / 2 + 1, ld = g.ld;
  if constexpr (kSums) {
    rows_to_spectrum<T>(g, blk.src, g.src_sh, g.src_sw, m.X, m);
    for (int64_t k = 0; k < Wf; ++k) column_fft<T, false>(g, m.column(m.X, k, ld), m.a);
  }
  const T* in[kMaxLanes];
  for (int j = 0; j < blk.responses; ++j) {
    for (int l = 0; l < kLanes<T>; ++l) in[l] = blk.in[l] + j * blk.in_step;
    rows_to_spectrum<T>(g, in, g.in_sh, g.in_sw, m.S, m);
    const BlockWeight<T> w = response_weight(blk, j);
    for (int64_t k = 0; k < Wf; ++k) {
      const Buf<T> G = fft_lanes<T, false>(g.cols, m.column(m.S, k, ld), m.a);
      if constexpr (kSums) correlate_column<T>(g, blk.sums + j * blk.sums_step, k, G, m.column(m.X, k, ld));
      if constexpr (kOut) {
        const Buf<T> acc = m.column(m.A, k, ld);
        if (j == 0) {
          weigh_column<T>(g, w, k, G, acc);
        } else {
          weigh_column<T>(g, w, k, G, G);
          for (int64_t h = 0; h < H; ++h) {
            acc.re[h] += G.re[h];
            acc.im[h] += G.im[h];
          }
        }
        if (j + 1 == blk.responses) column_fft<T, true>(g, acc, m.a);  // the total, while the column is in L1
      }
    }
  }
  if constexpr (kOut) spectrum_to_rows<T>(g, blk, m.A, m);
}

// Per-lane weights into lane layout (see BlockWeight): unit-stride rows move as register tiles.
template <typename T>
void roundtrip_gather_weight(const RoundTripGeometry<T>& g, const T* const* slices, T* lanes) {
  using V = typename VecOf<T>::type;
  const int64_t H = g.H, Wf = g.W / 2 + 1, nW = H * Wf, sw = g.weight_complex ? 2 : 1;
  V* wl = reinterpret_cast<V*>(lanes);
  for (int64_t h = 0; h < H; ++h) {
    gather_row<T>(slices, h * Wf * sw, sw, Wf, wl + h * Wf);
    if (g.weight_complex) gather_row<T>(slices, h * Wf * sw + 1, sw, Wf, wl + nW + h * Wf);
  }
}

// P rows of a column at a time, transposed in registers, so each lane adds a run of its column k of grad
// ([H][Wf], the weight's layout).
template <typename T>
void roundtrip_flush_sums(const RoundTripGeometry<T>& g, T* sums, int count, double* const* grad) {
  using V = typename VecOf<T>::type;
  constexpr int P = kLanes<T>;
  const int64_t H = g.H, Wf = g.W / 2 + 1, nW = Wf * H;
  V* sr = reinterpret_cast<V*>(sums);
  V* si = g.weight_complex ? sr + nW : nullptr;
  for (int64_t k = 0; k < Wf; ++k) {
    for (int64_t h0 = 0; h0 < H; h0 += P) {
      const int nh = static_cast<int>(H - h0 < P ? H - h0 : P);
      V cr[P], ci[P];
      for (int j = 0; j < P; ++j) {
        const int64_t at = k * H + h0 + (j < nh ? j : 0);
        cr[j] = sr[at];
        ci[j] = si ? si[at] : V{};
      }
      transpose_tile<T>(cr);
      if (si) transpose_tile<T>(ci);
      for (int l = 0; l < count; ++l) {
        const T* re = reinterpret_cast<const T*>(&cr[l]);
        const T* im = reinterpret_cast<const T*>(&ci[l]);
        if (si) {
          double* gw = grad[l] + 2 * (h0 * Wf + k);
          for (int j = 0; j < nh; ++j) {
            gw[2 * j * Wf] += re[j];
            gw[2 * j * Wf + 1] += im[j];
          }
        } else {
          double* gw = grad[l] + h0 * Wf + k;
          for (int j = 0; j < nh; ++j) gw[j * Wf] += re[j];
        }
      }
    }
  }
  for (int64_t i = 0; i < (si ? 2 : 1) * nW; ++i) sr[i] = V{};
}

}  // namespace

extern const RoundTripKernels<float> roundtrip_lanes_float{
    .lanes = kLanes<float>,
    .forward = &roundtrip_entry<float, Correlation::none, true>,
    .backward = &roundtrip_entry<float, Correlation::cross, true>,
    .weight_grad = &roundtrip_entry<float, Correlation::cross, false>,
    .energy = &roundtrip_entry<float, Correlation::self, false>,
    .forward_energy = &roundtrip_entry<float, Correlation::self, true>,
    .forward_save = &roundtrip_entry<float, Correlation::none, true, Saved::store>,
    .backward_saved = &roundtrip_entry<float, Correlation::cross, true, Saved::load>,
    .weight_grad_saved = &roundtrip_entry<float, Correlation::cross, false, Saved::load>,
    .forward_multi = &roundtrip_forward_multi<float>,
    .backward_multi = &roundtrip_reduce_multi<float, true, true>,
    .input_grad_multi = &roundtrip_reduce_multi<float, true, false>,
    .weight_grad_multi = &roundtrip_reduce_multi<float, false, true>,
    .gather_weight = &roundtrip_gather_weight<float>,
    .flush_sums = &roundtrip_flush_sums<float>,
};
extern const RoundTripKernels<double> roundtrip_lanes_double{
    .lanes = kLanes<double>,
    .forward = &roundtrip_entry<double, Correlation::none, true>,
    .backward = &roundtrip_entry<double, Correlation::cross, true>,
    .weight_grad = &roundtrip_entry<double, Correlation::cross, false>,
    .energy = &roundtrip_entry<double, Correlation::self, false>,
    .forward_energy = &roundtrip_entry<double, Correlation::self, true>,
    .forward_save = &roundtrip_entry<double, Correlation::none, true, Saved::store>,
    .backward_saved = &roundtrip_entry<double, Correlation::cross, true, Saved::load>,
    .weight_grad_saved = &roundtrip_entry<double, Correlation::cross, false, Saved::load>,
    .forward_multi = &roundtrip_forward_multi<double>,
    .backward_multi = &roundtrip_reduce_multi<double, true, true>,
    .input_grad_multi = &roundtrip_reduce_multi<double, true, false>,
    .weight_grad_multi = &roundtrip_reduce_multi<double, false, true>,
    .gather_weight = &roundtrip_gather_weight<double>,
    .flush_sums = &roundtrip_flush_sums<double>,
};

}  // namespace SPECDIFF_ISA
}  // namespace specdiff
