// Batched complex FFTs in shared memory, computed by one thread block.
//
// Mixed-radix Stockham autosort stages (Van Loan, "Computational Frameworks for the FFT", 1992, sec. 1.7),
// out of place between two buffers, in the same stage order as the CPU engine (cpu/lanes/fft.h).
// Every thread takes butterflies of any of the `count` sequences, so a block keeps busy whether it
// transforms 64 rows of one plane or 4 rows each of 16 small planes. Radices 2, 3 and 4 have closed-form
// butterflies; any other factor (an odd prime >= 5) is a direct DFT with one thread per output, so every
// length works and only the speed depends on its factors.
#pragma once

#include "cuda/device.cuh"

namespace specdiff::cuda {

// tw[t] = exp(-2 pi i t / n) for t < n; the inverse transform uses the conjugates.
template <typename T>
__device__ void fill_roots(Cx<T>* tw, int n) {
  for (int t = threadIdx.x; t < n; t += blockDim.x) {
    T s, c;
    sincos_pi(static_cast<T>(-2 * t) / static_cast<T>(n), &s, &c);
    tw[t] = {c, s};
  }
}

template <typename T, bool Inv>
__device__ __forceinline__ Cx<T> root(const Cx<T>* tw, int t) {
  const Cx<T> w = tw[t];
  return {w.re, Inv ? -w.im : w.im};
}

// o[u] = sum_r v_r exp(sgn 2 pi i r u / 4), sgn = -1 forward, +1 inverse.
template <typename T>
__device__ __forceinline__ void dft4(Cx<T> v0, Cx<T> v1, Cx<T> v2, Cx<T> v3, T sgn, Cx<T>* o) {
  const Cx<T> a0 = cadd(v0, v2), a1 = csub(v0, v2), a2 = cadd(v1, v3);
  const Cx<T> d = csub(v1, v3);
  const Cx<T> a3 = {-sgn * d.im, sgn * d.re};  // (v1 - v3) i sgn
  o[0] = cadd(a0, a2);
  o[1] = cadd(a1, a3);
  o[2] = csub(a0, a2);
  o[3] = csub(a1, a3);
}

// One stage with a closed-form radix R in {2, 3, 4, 8}:
// y[(j - k) R + k + u Ns] = sum_r x[j + r m] w_(Ns R)^(r k) exp(-+2 pi i r u / R),  m = n / R, k = j mod Ns.
template <typename T, bool Inv, int R>
__device__ __forceinline__ void stage_small(const Cx<T>* __restrict__ x, Cx<T>* __restrict__ y, int count, int ld, int n, int Ns,
                            const Cx<T>* tw) {
  const int m = n / R;
  const int L = n / (Ns * R);  // w_(Ns R)^e = tw[e L]
  const T sgn = Inv ? T(1) : T(-1);
  for (int i = threadIdx.x; i < count * m; i += blockDim.x) {
    const int s = i / m, j = i - s * m, k = j % Ns;
    const Cx<T>* xs = x + static_cast<int64_t>(s) * ld + j;
    Cx<T>* ys = y + static_cast<int64_t>(s) * ld + (j - k) * R + k;
    Cx<T> v[R];
#pragma unroll
    for (int r = 0; r < R; ++r) {
      v[r] = xs[r * m];
      if (r > 0 && k > 0) v[r] = cmul(v[r], root<T, Inv>(tw, r * k * L));
    }
    if constexpr (R == 2) {
      ys[0] = cadd(v[0], v[1]);
      ys[Ns] = csub(v[0], v[1]);
    } else if constexpr (R == 3) {
      const T c = T(0.86602540378443864676) * sgn;  // sgn sin(pi / 3)
      const Cx<T> sum = cadd(v[1], v[2]), dif = csub(v[1], v[2]);
      const Cx<T> mid = {v[0].re - T(0.5) * sum.re, v[0].im - T(0.5) * sum.im};
      const Cx<T> rot = {-c * dif.im, c * dif.re};  // (v1 - v2) i c
      ys[0] = cadd(v[0], sum);
      ys[Ns] = cadd(mid, rot);
      ys[2 * Ns] = csub(mid, rot);
    } else if constexpr (R == 4) {
      Cx<T> o[4];
      dft4<T>(v[0], v[1], v[2], v[3], sgn, o);
#pragma unroll
      for (int u = 0; u < 4; ++u) ys[u * Ns] = o[u];
    } else {
      // 8 = 2 x 4: the 4-point DFTs of the even and odd inputs, combined with the eighth roots w^u.
      Cx<T> e[4], o[4];
      dft4<T>(v[0], v[2], v[4], v[6], sgn, e);
      dft4<T>(v[1], v[3], v[5], v[7], sgn, o);
      const T h = T(0.70710678118654752440);
      const Cx<T> w[4] = {{T(1), T(0)}, {h, sgn * h}, {T(0), sgn}, {-h, sgn * h}};  // exp(sgn 2 pi i u / 8)
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const Cx<T> t = u == 0 ? o[0] : cmul(o[u], w[u]);
        ys[u * Ns] = cadd(e[u], t);
        ys[(u + 4) * Ns] = csub(e[u], t);
      }
    }
  }
}

// One stage of any radix R as a direct DFT, one output per thread: the twiddle and the DFT root combine
// into w_(Ns R)^(r k) exp(-2 pi i r u / R) = tw[r (k + u Ns) L mod n].
template <typename T, bool Inv>
__device__ void stage_dft(const Cx<T>* __restrict__ x, Cx<T>* __restrict__ y, int count, int ld, int n, int R,
                          int Ns, const Cx<T>* tw) {
  const int m = n / R;
  const int L = n / (Ns * R);
  for (int i = threadIdx.x; i < count * n; i += blockDim.x) {
    const int s = i / n, rem = i - s * n;
    const int u = rem / m, j = rem - u * m, k = j % Ns;
    const Cx<T>* xs = x + static_cast<int64_t>(s) * ld + j;
    const int step = (k + u * Ns) * L;  // < n
    Cx<T> acc = xs[0];
    int e = 0;
    for (int r = 1; r < R; ++r) {
      e += step;
      if (e >= n) e -= n;
      acc = cadd(acc, cmul(xs[r * m], root<T, Inv>(tw, e)));
    }
    y[static_cast<int64_t>(s) * ld + (j - k) * R + k + u * Ns] = acc;
  }
}

// Unnormalized FFTs (forward exp(-2 pi i jk/n), inverse exp(+...)) of `count` sequences of length
// f.n, sequence s at a[s * ld]. Ping-pongs between a and b and returns the one holding the result. The
// caller synchronizes before the call (a is complete); the call ends synchronized.
template <typename T, bool Inv>
__device__ Cx<T>* fft_batch(const FftFactors& f, Cx<T>* a, Cx<T>* b, int count, int ld, const Cx<T>* tw) {
  int Ns = 1;
  for (int s = 0; s < f.nstages; ++s) {
    const int R = f.radix[s];
    switch (R) {
      case 4:
        stage_small<T, Inv, 4>(a, b, count, ld, f.n, Ns, tw);
        break;
      case 2:
        stage_small<T, Inv, 2>(a, b, count, ld, f.n, Ns, tw);
        break;
      case 3:
        stage_small<T, Inv, 3>(a, b, count, ld, f.n, Ns, tw);
        break;
      default:
        stage_dft<T, Inv>(a, b, count, ld, f.n, R, Ns, tw);
    }
    __syncthreads();
    Cx<T>* t = a;
    a = b;
    b = t;
    Ns *= R;
  }
  return a;
}

// fft_batch for a power-of-two length N known at compile time: radix-8 stages, then a 4 or a 2, unrolled,
// with every index computation by a constant (shifts and masks instead of integer divisions).
template <typename T, bool Inv, int N, int Ns = 1>
__device__ __forceinline__ Cx<T>* fft_batch_pow2(Cx<T>* a, Cx<T>* b, int count, int ld, const Cx<T>* tw) {
  static_assert(N >= 1 && (N & (N - 1)) == 0, "N must be a power of two");
  if constexpr (Ns >= N) {
    return a;
  } else {
    constexpr int R = (N / Ns) % 8 == 0 ? 8 : (N / Ns) % 4 == 0 ? 4 : 2;
    stage_small<T, Inv, R>(a, b, count, ld, N, Ns, tw);
    __syncthreads();
    return fft_batch_pow2<T, Inv, N, Ns * R>(b, a, count, ld, tw);
  }
}

// fft_batch of length f.n, through fft_batch_pow2 when the caller fixed it at compile time (N > 0, N == f.n).
template <typename T, bool Inv, int N>
__device__ __forceinline__ Cx<T>* fft_sized(const FftFactors& f, Cx<T>* a, Cx<T>* b, int count, int ld,
                                            const Cx<T>* tw) {
  if constexpr (N > 0) {
    return fft_batch_pow2<T, Inv, N>(a, b, count, ld, tw);
  } else {
    return fft_batch<T, Inv>(f, a, b, count, ld, tw);
  }
}

}  // namespace specdiff::cuda
