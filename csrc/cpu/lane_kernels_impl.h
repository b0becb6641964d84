// Lane-vectorized mixed-radix FFT round trip. Included once per ISA by lane_kernels_<isa>.cpp inside
// a `#pragma GCC target` region with SPECDIFF_ISA naming the namespace; everything but the exported
// kernel tables has internal linkage so the per-ISA copies never meet at link time.
//
// Data layout: a complex vector of n points for a block of P planes is two arrays re[n][P], im[n][P].
// The half spectrum of a block is stored column-major, S[k][h][P] (k < W/2+1), so the column FFTs
// run on contiguous memory.
//
// No includes here: the including file includes <cmath>, <cstdint> and lane_kernels.h first.

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

template <typename T, int P>
struct Ptr2 {
  T* re;
  T* im;
};

// Stockham autosort stage (Van Loan, "Computational Frameworks for the FFT", 1992, sec. 1.7):
// y[(q*Ns*R + k) + r*Ns] = sum_m x[(q*Ns + k) + m*n/R] w^(m k) e^(-2 pi i m r / R).
template <typename T, int P, bool Inv, int R>
inline void stage_fixed(int n, int Ns, const T* __restrict twr, const T* __restrict twi, const T* __restrict xr,
                        const T* __restrict xi, T* __restrict yr, T* __restrict yi) {
  const int m = n / R;
  const T sgn = Inv ? T(1) : T(-1);  // sign of the imaginary unit in the kernel exp(sgn 2 pi i / R)
  for (int q = 0; q < m / Ns; ++q) {
    for (int k = 0; k < Ns; ++k) {
      const int j = q * Ns + k;
      const int d = q * Ns * R + k;
      T vr[R][P], vi[R][P];
      for (int r = 0; r < R; ++r) {
        const T* sr = xr + static_cast<int64_t>(j + r * m) * P;
        const T* si = xi + static_cast<int64_t>(j + r * m) * P;
        if (r == 0 || k == 0) {
          for (int l = 0; l < P; ++l) {
            vr[r][l] = sr[l];
            vi[r][l] = si[l];
          }
        } else {
          const T wr = twr[k * (R - 1) + r - 1];
          const T wi = Inv ? -twi[k * (R - 1) + r - 1] : twi[k * (R - 1) + r - 1];
          for (int l = 0; l < P; ++l) {
            vr[r][l] = sr[l] * wr - si[l] * wi;
            vi[r][l] = sr[l] * wi + si[l] * wr;
          }
        }
      }
      T* o0r = yr + static_cast<int64_t>(d) * P;
      T* o0i = yi + static_cast<int64_t>(d) * P;
      const int64_t st = static_cast<int64_t>(Ns) * P;
      if constexpr (R == 2) {
        for (int l = 0; l < P; ++l) {
          const T ar = vr[0][l], ai = vi[0][l], br = vr[1][l], bi = vi[1][l];
          o0r[l] = ar + br;
          o0i[l] = ai + bi;
          o0r[st + l] = ar - br;
          o0i[st + l] = ai - bi;
        }
      } else if constexpr (R == 3) {
        const T c = T(0.86602540378443864676) * sgn;  // sgn * sin(pi/3)
        for (int l = 0; l < P; ++l) {
          const T sr_ = vr[1][l] + vr[2][l], si_ = vi[1][l] + vi[2][l];
          const T dr = vr[1][l] - vr[2][l], di = vi[1][l] - vi[2][l];
          const T mr = vr[0][l] - T(0.5) * sr_, mi = vi[0][l] - T(0.5) * si_;
          // t = (v1 - v2) * (i * c)
          const T tr = -c * di, ti = c * dr;
          o0r[l] = vr[0][l] + sr_;
          o0i[l] = vi[0][l] + si_;
          o0r[st + l] = mr + tr;
          o0i[st + l] = mi + ti;
          o0r[2 * st + l] = mr - tr;
          o0i[2 * st + l] = mi - ti;
        }
      } else {  // R == 4
        for (int l = 0; l < P; ++l) {
          const T a0r = vr[0][l] + vr[2][l], a0i = vi[0][l] + vi[2][l];
          const T a1r = vr[0][l] - vr[2][l], a1i = vi[0][l] - vi[2][l];
          const T a2r = vr[1][l] + vr[3][l], a2i = vi[1][l] + vi[3][l];
          const T dr = vr[1][l] - vr[3][l], di = vi[1][l] - vi[3][l];
          // a3 = (v1 - v3) * (sgn i)
          const T a3r = -sgn * di, a3i = sgn * dr;
          o0r[l] = a0r + a2r;
          o0i[l] = a0i + a2i;
          o0r[st + l] = a1r + a3r;
          o0i[st + l] = a1i + a3i;
          o0r[2 * st + l] = a0r - a2r;
          o0i[2 * st + l] = a0i - a2i;
          o0r[3 * st + l] = a1r - a3r;
          o0i[3 * st + l] = a1i - a3i;
        }
      }
    }
  }
}

// Any radix up to kMaxRadix: a direct O(R^2) DFT per butterfly.
template <typename T, int P, bool Inv>
inline void stage_generic(int n, int Ns, int R, const T* __restrict twr, const T* __restrict twi,
                          const T* __restrict rootr, const T* __restrict rooti, const T* __restrict xr,
                          const T* __restrict xi, T* __restrict yr, T* __restrict yi) {
  const int m = n / R;
  T vr[kMaxRadix][P], vi[kMaxRadix][P];
  for (int q = 0; q < m / Ns; ++q) {
    for (int k = 0; k < Ns; ++k) {
      const int j = q * Ns + k;
      const int d = q * Ns * R + k;
      for (int r = 0; r < R; ++r) {
        const T* sr = xr + static_cast<int64_t>(j + r * m) * P;
        const T* si = xi + static_cast<int64_t>(j + r * m) * P;
        const T wr = (r == 0 || k == 0) ? T(1) : twr[k * (R - 1) + r - 1];
        T wi = (r == 0 || k == 0) ? T(0) : twi[k * (R - 1) + r - 1];
        if (Inv) wi = -wi;
        for (int l = 0; l < P; ++l) {
          vr[r][l] = sr[l] * wr - si[l] * wi;
          vi[r][l] = sr[l] * wi + si[l] * wr;
        }
      }
      for (int u = 0; u < R; ++u) {
        T accr[P], acci[P];
        for (int l = 0; l < P; ++l) {
          accr[l] = vr[0][l];
          acci[l] = vi[0][l];
        }
        for (int r = 1; r < R; ++r) {
          const int e = (r * u) % R;
          const T cr = rootr[e];
          const T ci = Inv ? -rooti[e] : rooti[e];
          for (int l = 0; l < P; ++l) {
            accr[l] += vr[r][l] * cr - vi[r][l] * ci;
            acci[l] += vr[r][l] * ci + vi[r][l] * cr;
          }
        }
        T* or_ = yr + static_cast<int64_t>(d + u * Ns) * P;
        T* oi_ = yi + static_cast<int64_t>(d + u * Ns) * P;
        for (int l = 0; l < P; ++l) {
          or_[l] = accr[l];
          oi_[l] = acci[l];
        }
      }
    }
  }
}

// Unnormalized FFT (forward: exp(-2 pi i jk/n); inverse: exp(+...)) of P lanes, ping-ponging between
// a and b; returns the buffer that holds the result.
template <typename T, int P, bool Inv>
inline Ptr2<T, P> fft_lanes(const FftPlanView<T>& p, Ptr2<T, P> a, Ptr2<T, P> b) {
  for (int s = 0; s < p.nstages; ++s) {
    const int R = p.radix[s], Ns = p.ns[s];
    const T* twr = p.tw_re + p.tw_off[s];
    const T* twi = p.tw_im + p.tw_off[s];
    switch (R) {
      case 4:
        stage_fixed<T, P, Inv, 4>(p.n, Ns, twr, twi, a.re, a.im, b.re, b.im);
        break;
      case 2:
        stage_fixed<T, P, Inv, 2>(p.n, Ns, twr, twi, a.re, a.im, b.re, b.im);
        break;
      case 3:
        stage_fixed<T, P, Inv, 3>(p.n, Ns, twr, twi, a.re, a.im, b.re, b.im);
        break;
      default:
        stage_generic<T, P, Inv>(p.n, Ns, R, twr, twi, p.root_re + p.root_off[s], p.root_im + p.root_off[s],
                                 a.re, a.im, b.re, b.im);
    }
    const Ptr2<T, P> t = a;
    a = b;
    b = t;
  }
  return a;
}

template <typename T, int P>
inline void copy_lanes(Ptr2<T, P> dst, Ptr2<T, P> src, int64_t n) {
  if (dst.re == src.re) return;
  for (int64_t i = 0; i < n * P; ++i) {
    dst.re[i] = src.re[i];
    dst.im[i] = src.im[i];
  }
}

// Rows h0 and h1 (h1 may equal H: absent) of the block's planes -> columns of the half spectrum S.
// Two real rows ride in one complex FFT as z = a + i b; A[k] = (Z[k] + conj Z[-k]) / 2 and
// B[k] = (Z[k] - conj Z[-k]) / 2i separate them (any W, odd included).
template <typename T, int P>
inline void rows_forward(const FftPlanView<T>& pw, const T* const* planes, int64_t sh, int64_t sw, int64_t H,
                         int64_t W, int64_t h0, Ptr2<T, P> S, Ptr2<T, P> a, Ptr2<T, P> b) {
  const int64_t h1 = h0 + 1;
  const bool pair = h1 < H;
  for (int64_t w = 0; w < W; ++w) {
    for (int l = 0; l < P; ++l) {
      const T* base = planes[l] + w * sw;
      a.re[w * P + l] = base[h0 * sh];
      a.im[w * P + l] = pair ? base[h1 * sh] : T(0);
    }
  }
  const Ptr2<T, P> z = fft_lanes<T, P, false>(pw, a, b);
  const int64_t Wf = W / 2 + 1;
  for (int64_t k = 0; k < Wf; ++k) {
    const int64_t mk = (W - k) % W;
    const T* zkr = z.re + k * P;
    const T* zki = z.im + k * P;
    const T* zmr = z.re + mk * P;
    const T* zmi = z.im + mk * P;
    T* A_re = S.re + (k * H + h0) * P;
    T* A_im = S.im + (k * H + h0) * P;
    for (int l = 0; l < P; ++l) {
      A_re[l] = T(0.5) * (zkr[l] + zmr[l]);
      A_im[l] = T(0.5) * (zki[l] - zmi[l]);
    }
    if (pair) {
      T* B_re = A_re + P;
      T* B_im = A_im + P;
      for (int l = 0; l < P; ++l) {
        B_re[l] = T(0.5) * (zki[l] + zmi[l]);
        B_im[l] = T(0.5) * (zmr[l] - zkr[l]);
      }
    }
  }
}

// Inverse of rows_forward for rows h0, h1: the complex-to-real transform along W, which (like
// pocketfft and MKL) ignores the imaginary parts of the DC and Nyquist bins.
template <typename T, int P>
inline void rows_inverse(const FftPlanView<T>& pw, T* const* out, int count, int64_t H, int64_t W, int64_t h0,
                         Ptr2<T, P> S, Ptr2<T, P> a, Ptr2<T, P> b) {
  const int64_t h1 = h0 + 1;
  const bool pair = h1 < H;
  const int64_t Wf = W / 2 + 1;
  for (int64_t k = 0; k < Wf; ++k) {
    const bool edge = k == 0 || 2 * k == W;
    const T* Ar = S.re + (k * H + h0) * P;
    const T* Ai = S.im + (k * H + h0) * P;
    const T* Br = Ar + P;
    const T* Bi = Ai + P;
    T* zr = a.re + k * P;
    T* zi = a.im + k * P;
    for (int l = 0; l < P; ++l) {
      const T ai = edge ? T(0) : Ai[l];
      const T br = pair ? Br[l] : T(0);
      const T bi = (pair && !edge) ? Bi[l] : T(0);
      zr[l] = Ar[l] - bi;
      zi[l] = ai + br;
    }
  }
  for (int64_t k = Wf; k < W; ++k) {
    const int64_t mk = W - k;
    const T* Ar = S.re + (mk * H + h0) * P;
    const T* Ai = S.im + (mk * H + h0) * P;
    const T* Br = Ar + P;
    const T* Bi = Ai + P;
    T* zr = a.re + k * P;
    T* zi = a.im + k * P;
    for (int l = 0; l < P; ++l) {
      const T br = pair ? Br[l] : T(0);
      const T bi = pair ? Bi[l] : T(0);
      zr[l] = Ar[l] + bi;
      zi[l] = br - Ai[l];
    }
  }
  const Ptr2<T, P> z = fft_lanes<T, P, true>(pw, a, b);
  for (int l = 0; l < count; ++l) {
    T* o0 = out[l] + h0 * W;
    for (int64_t w = 0; w < W; ++w) o0[w] = z.re[w * P + l];
    if (pair) {
      T* o1 = out[l] + h1 * W;
      for (int64_t w = 0; w < W; ++w) o1[w] = z.im[w * P + l];
    }
  }
}

template <typename T>
void roundtrip(const FftPlanView<T>& ph, const FftPlanView<T>& pw, const RoundTripBlock<T>& blk) {
  constexpr int P = lanes<T>;
  const int64_t H = blk.H, W = blk.W, Wf = W / 2 + 1;
  const int64_t nS = Wf * H * P;
  const int64_t nrow = (H > W ? H : W) * P;
  T* s = blk.scratch;
  const Ptr2<T, P> S{s, s + nS};
  const Ptr2<T, P> X{s + 2 * nS, s + 3 * nS};
  const bool need_gw = blk.grad_weight[0] != nullptr;
  T* r = s + (need_gw ? 4 : 2) * nS;
  const Ptr2<T, P> a{r, r + nrow};
  const Ptr2<T, P> b{r + 2 * nrow, r + 3 * nrow};

  for (int64_t h = 0; h < H; h += 2) rows_forward<T, P>(pw, blk.in, blk.in_sh, blk.in_sw, H, W, h, S, a, b);
  if (need_gw) {
    for (int64_t h = 0; h < H; h += 2) rows_forward<T, P>(pw, blk.src, blk.src_sh, blk.src_sw, H, W, h, X, a, b);
  }
  const T scale = T(1) / static_cast<T>(H * W);
  const bool need_out = blk.out[0] != nullptr;
  for (int64_t k = 0; k < Wf; ++k) {
    const Ptr2<T, P> col{S.re + k * H * P, S.im + k * H * P};
    const Ptr2<T, P> G = fft_lanes<T, P, false>(ph, col, a);
    if (need_gw) {
      const Ptr2<T, P> xcol{X.re + k * H * P, X.im + k * H * P};
      const Ptr2<T, P> Xk = fft_lanes<T, P, false>(ph, xcol, b);
      const double dk = (k == 0 || 2 * k == W) ? 1.0 : 2.0;
      for (int l = 0; l < blk.count; ++l) {
        double* gw = blk.grad_weight[l];
        for (int64_t h = 0; h < H; ++h) {
          const double gr = G.re[h * P + l], gi = G.im[h * P + l];
          const double xr = Xk.re[h * P + l], xi = Xk.im[h * P + l];
          const double f = dk * static_cast<double>(scale);
          if (blk.weight_complex) {
            gw[2 * (h * Wf + k)] += f * (gr * xr + gi * xi);
            gw[2 * (h * Wf + k) + 1] += f * (gi * xr - gr * xi);
          } else {
            gw[h * Wf + k] += f * (gr * xr + gi * xi);
          }
        }
      }
    }
    if (!need_out) continue;
    for (int64_t h = 0; h < H; ++h) {
      T wr[P], wi[P];
      if (blk.weight_complex) {
        for (int l = 0; l < P; ++l) {
          wr[l] = blk.weight[l][2 * (h * Wf + k)] * scale;
          wi[l] = blk.weight[l][2 * (h * Wf + k) + 1] * scale;
        }
        if (blk.conj_weight) {
          for (int l = 0; l < P; ++l) wi[l] = -wi[l];
        }
      } else {
        for (int l = 0; l < P; ++l) {
          wr[l] = blk.weight[l][h * Wf + k] * scale;
          wi[l] = T(0);
        }
      }
      T* gr = G.re + h * P;
      T* gi = G.im + h * P;
      for (int l = 0; l < P; ++l) {
        const T re = gr[l] * wr[l] - gi[l] * wi[l];
        const T im = gr[l] * wi[l] + gi[l] * wr[l];
        gr[l] = re;
        gi[l] = im;
      }
    }
    const Ptr2<T, P> other = G.re == col.re ? a : col;
    const Ptr2<T, P> Y = fft_lanes<T, P, true>(ph, G, other);
    copy_lanes<T, P>(col, Y, H);
  }
  if (!need_out) return;
  for (int64_t h = 0; h < H; h += 2) rows_inverse<T, P>(pw, blk.out, blk.count, H, W, h, S, a, b);
}

}  // namespace

extern const LaneKernels<float> kernels_float{&roundtrip<float>};
extern const LaneKernels<double> kernels_double{&roundtrip<double>};

}  // namespace SPECDIFF_ISA
}  // namespace specdiff
