// Winograd's F(4x4, 3x3) complex convolution (winograd.h), for the ISA of the including translation unit (see
// vec.h).
//
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016): a 4x4 output tile is
// A^T [(G g G^T) . (B^T d B)] A for the 6x6 input tile d, so the 36 products per tile and channel pair replace
// 144. Per tile position xi the products over channels are GEMMs, [tiles, Cin] x [Cin, Cout]; with Gauss's form
// (three real GEMMs for one complex product) that is 3/16 of the reference's four direct convolutions.
// A block of `tile_block` tiles is transformed, multiplied and transformed back while its operands stay in L2.
// The weights' gradient is the adjoint per position, dU = conj(V)^T dM with dM = A dY A^T of the upstream
// gradient tiles: GEMMs reducing over the tiles of a block into per-thread sums (the caller applies G^T . G).

#pragma once

#include "cpu/lanes/vec.h"
#include "cpu/lanes/winograd.h"

namespace specdiff {
namespace SPECDIFF_ISA {
namespace {

// The rows of the GEMM micro-kernel (its register tile is kWinoRows x 2 vectors): what fits the ISA's registers.
constexpr int kWinoRows = SPECDIFF_VEC_BYTES == 64 ? 12 : 6;

// r = B^T d for 6 values d[0], d[s], ... (r[0], r[rs], ...).
template <typename V>
inline void wino_input_1d(const V* d, int s, V* r, int rs) {
  const V d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s], d5 = d[5 * s];
  r[0] = 4 * d0 - 5 * d2 + d4;
  r[rs] = d3 + d4 - 4 * (d1 + d2);
  r[2 * rs] = d4 - d3 + 4 * (d1 - d2);
  r[3 * rs] = d4 - d2 + 2 * (d3 - d1);
  r[4 * rs] = d4 - d2 - 2 * (d3 - d1);
  r[5 * rs] = 4 * d1 - 5 * d3 + d5;
}

// o = A^T m for 6 values m[0], m[s], ... (o[0], o[os], ..., four of them).
template <typename V>
inline void wino_output_1d(const V* m, int s, V* o, int os) {
  const V p12 = m[s] + m[2 * s], m12 = m[s] - m[2 * s], p34 = m[3 * s] + m[4 * s], m34 = m[3 * s] - m[4 * s];
  o[0] = m[0] + p12 + p34;
  o[os] = m12 + 2 * m34;
  o[2 * os] = p12 + 4 * p34;
  o[3 * os] = m12 + 8 * m34 + m[5 * s];
}

// y = A d for the 4 values d[0], d[s], ... (y[0], y[ys], ..., six of them): the adjoint of wino_output_1d, which
// takes an upstream gradient tile to the products' gradients.
template <typename V>
inline void wino_output_adjoint_1d(const V* d, int s, V* y, int ys) {
  const V d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s];
  const V p02 = d0 + d2, p13 = d1 + d3;
  y[0] = d0;
  y[ys] = p02 + p13;
  y[2 * ys] = p02 - p13;
  y[3 * ys] = d0 + 2 * d1 + 4 * d2 + 8 * d3;
  y[4 * ys] = d0 - 2 * d1 + 4 * d2 - 8 * d3;
  y[5 * ys] = d3;
}

// How a GEMM's product p enters its two outputs c0, c1.
enum WinoStore { kStoreBoth, kAddBoth, kSubFirst, kAddFirst, kAddSecond };

// The GEMM of one tile position: c[rows][N] (op)= a(r, k) b[k][N] for k < K, with a(r, k) = a[r * rs + k * ks];
// rows a multiple of MR, N of NR vectors.
template <typename T, int MR, int NR, WinoStore Op>
inline void wino_gemm(const T* __restrict a, int64_t rs, int64_t ks, const T* __restrict b, int64_t rows, int64_t K,
                      int64_t N, T* __restrict c0, T* __restrict c1) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  for (int64_t n0 = 0; n0 < N; n0 += NR * L) {
    for (int64_t r0 = 0; r0 < rows; r0 += MR) {
      V acc[MR][NR];
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
        for (int q = 0; q < NR; ++q) acc[r][q] = V{};
      }
      const T* ar = a + r0 * rs;
      for (int64_t k = 0; k < K; ++k) {
        V bv[NR];
#pragma GCC unroll 4
        for (int q = 0; q < NR; ++q) __builtin_memcpy(&bv[q], b + k * N + n0 + q * L, sizeof(V));
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
          const T av = ar[r * rs + k * ks];
#pragma GCC unroll 4
          for (int q = 0; q < NR; ++q) acc[r][q] += av * bv[q];
        }
      }
      const auto update = [](T* c, const V& p, bool subtract) {
        V v;
        __builtin_memcpy(&v, c, sizeof(V));
        v = subtract ? v - p : v + p;
        __builtin_memcpy(c, &v, sizeof(V));
      };
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
        for (int q = 0; q < NR; ++q) {
          const int64_t at = (r0 + r) * N + n0 + q * L;
          if constexpr (Op == kStoreBoth) {
            __builtin_memcpy(c0 + at, &acc[r][q], sizeof(V));
            __builtin_memcpy(c1 + at, &acc[r][q], sizeof(V));
          }
          if constexpr (Op == kAddBoth || Op == kAddFirst || Op == kSubFirst) update(c0 + at, acc[r][q], Op == kSubFirst);
          if constexpr (Op == kAddBoth || Op == kAddSecond) update(c1 + at, acc[r][q], false);
        }
      }
    }
  }
}

template <typename T, int MR, WinoStore Op>
inline void wino_gemm_n(const T* a, int64_t rs, int64_t ks, const T* b, int64_t rows, int64_t K, int64_t N, T* c0,
                        T* c1) {
  if (N % (2 * kLanes<T>) == 0) return wino_gemm<T, MR, 2, Op>(a, rs, ks, b, rows, K, N, c0, c1);
  wino_gemm<T, MR, 1, Op>(a, rs, ks, b, rows, K, N, c0, c1);
}

// The tiles of a WinogradConv, in the order sample, tile row, tile column.
struct WinoTiles {
  int64_t per_sample, cols, count;
  template <typename T>
  explicit WinoTiles(const WinogradConv<T>& w)
      : per_sample(((w.OH + 3) / 4) * ((w.OW + 3) / 4)), cols((w.OW + 3) / 4), count(w.B * per_sample) {}
  int64_t sample(int64_t tile) const { return tile / per_sample; }
  int64_t row(int64_t tile) const { return tile % per_sample / cols * 4; }  // of its first output pixel
  int64_t col(int64_t tile) const { return tile % cols * 4; }
};

// The input transform of tiles [t_first, t_first + count) of the block into the three slots [3][36][TB][C] of
// vin: Vr + sign Vi, Vr, Vi. Rows past the last tile are zeros.
template <typename T>
void wino_input_tiles(const WinogradConv<T>& w, const WinoTiles& tiles, int64_t t_first, int64_t count, int sign,
                      T* __restrict vin) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  const int64_t C = w.C, TB = w.tile_block;
  const auto vat = [&](int j, int xi, int64_t t) { return vin + ((j * 36 + xi) * TB + t) * C; };
  for (int64_t t = count; t < TB; ++t) {
    for (int j = 0; j < 3; ++j) {
      for (int xi = 0; xi < 36; ++xi) std::fill(vat(j, xi, t), vat(j, xi, t) + C, T(0));
    }
  }
  for (int64_t t = 0; t < count; ++t) {
    const int64_t tile = t_first + t;
    const int64_t h0 = tiles.row(tile) - w.pad_h, w0 = tiles.col(tile) - w.pad_w;
    const T* xb = w.x + tiles.sample(tile) * w.H * w.W * 2 * C;
    const T* src[36];  // the tile's input pixels; nullptr in the zero padding
    for (int e = 0; e < 36; ++e) {
      const int64_t h = h0 + e / 6, v = w0 + e % 6;
      src[e] = h >= 0 && h < w.H && v >= 0 && v < w.W ? xb + (h * w.W + v) * 2 * C : nullptr;
    }
    for (int64_t c0 = 0; c0 < C; c0 += L) {
      V vr[36], vi[36], d[36], tmp[36];
      for (int part = 0; part < 2; ++part) {
#pragma GCC unroll 36
        for (int e = 0; e < 36; ++e) {
          if (src[e] != nullptr) {
            __builtin_memcpy(&d[e], src[e] + part * C + c0, sizeof(V));
          } else {
            d[e] = V{};
          }
        }
        for (int j = 0; j < 6; ++j) wino_input_1d(d + j, 6, tmp + j, 6);
        V* out = part == 0 ? vr : vi;
        for (int i = 0; i < 6; ++i) wino_input_1d(tmp + 6 * i, 1, out + 6 * i, 1);
      }
      for (int xi = 0; xi < 36; ++xi) {
        const V s = sign > 0 ? vr[xi] + vi[xi] : vr[xi] - vi[xi];
        __builtin_memcpy(vat(0, xi, t) + c0, &s, sizeof(V));
        __builtin_memcpy(vat(1, xi, t) + c0, &vr[xi], sizeof(V));
        __builtin_memcpy(vat(2, xi, t) + c0, &vi[xi], sizeof(V));
      }
    }
  }
}

template <typename T>
void winograd_conv(const WinogradConv<T>& w, int64_t block0, int64_t block1, T* __restrict scratch) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  const int64_t C = w.C, N = w.Cout, TB = w.tile_block;
  const WinoTiles tiles(w);
  // Scratch: the transformed inputs [3][36][TB][C] (re + im, re, im) and products [2][36][TB][Cout] (re, im).
  T* vin = scratch;
  T* prod = scratch + 3 * 36 * TB * C;
  const auto vat = [&](int j, int xi) { return vin + (j * 36 + xi) * TB * C; };
  const auto mat = [&](int j, int xi, int64_t t) { return prod + ((j * 36 + xi) * TB + t) * N; };
  for (int64_t block = block0; block < block1; ++block) {
    const int64_t t_first = block * TB, count = std::min(TB, tiles.count - t_first);
    wino_input_tiles(w, tiles, t_first, count, +1, vin);
    // Gauss's form per position: t1 = (Vr + Vi) U1, t2 = Vr U2, t3 = Vi U3 with U1 = Wr, U2 = Wi - Wr,
    // U3 = Wr + Wi (transformed); re = t1 - t3, im = t1 + t2.
    for (int xi = 0; xi < 36; ++xi) {
      const T* u = w.u + xi * 3 * C * N;
      T *re = mat(0, xi, 0), *im = mat(1, xi, 0);
      wino_gemm_n<T, kWinoRows, kStoreBoth>(vat(0, xi), C, 1, u, TB, C, N, re, im);
      wino_gemm_n<T, kWinoRows, kSubFirst>(vat(2, xi), C, 1, u + 2 * C * N, TB, C, N, re, im);
      wino_gemm_n<T, kWinoRows, kAddSecond>(vat(1, xi), C, 1, u + C * N, TB, C, N, re, im);
    }
    // Output transform, with the bias; pixels past the output's edge are dropped.
    for (int64_t t = 0; t < count; ++t) {
      const int64_t tile = t_first + t, h0 = tiles.row(tile), w0 = tiles.col(tile);
      const int rows = static_cast<int>(std::min<int64_t>(4, w.OH - h0));
      const int cols = static_cast<int>(std::min<int64_t>(4, w.OW - w0));
      T* yb = w.y + tiles.sample(tile) * w.OH * w.OW * 2 * N;
      for (int64_t c0 = 0; c0 < N; c0 += L) {
        for (int part = 0; part < 2; ++part) {
          V m[36], tmp[24], o[16];
          for (int xi = 0; xi < 36; ++xi) __builtin_memcpy(&m[xi], mat(part, xi, t) + c0, sizeof(V));
          for (int j = 0; j < 6; ++j) wino_output_1d(m + j, 6, tmp + j, 6);
          for (int i = 0; i < 4; ++i) wino_output_1d(tmp + 6 * i, 1, o + 4 * i, 1);
          const T* bias = part == 0 ? w.bias_re : w.bias_im;
          V bv{};
          if (bias != nullptr) __builtin_memcpy(&bv, bias + c0, sizeof(V));
          for (int i = 0; i < rows; ++i) {
            for (int j = 0; j < cols; ++j) {
              const V v = o[4 * i + j] + bv;
              __builtin_memcpy(yb + ((h0 + i) * w.OW + w0 + j) * 2 * N + part * N + c0, &v, sizeof(V));
            }
          }
        }
      }
    }
  }
}

// The weights' gradient micro-kernel runs over input channels (multiples of 16): its rows must divide 16.
constexpr int kWinoGradRows = SPECDIFF_VEC_BYTES == 64 ? 8 : 4;

template <typename T>
void winograd_weight_grad(const WinogradConv<T>& w, const T* __restrict grad, int64_t block0, int64_t block1,
                          T* __restrict scratch, T* __restrict acc) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  const int64_t C = w.C, N = w.Cout, TB = w.tile_block;
  const WinoTiles tiles(w);
  // Scratch: the transformed inputs [3][36][TB][C] (re - im, re, im) and upstream gradients [3][36][TB][Cout]
  // (re, im - re, re + im).
  T* vin = scratch;
  T* gin = scratch + 3 * 36 * TB * C;
  const auto vat = [&](int j, int xi) { return vin + (j * 36 + xi) * TB * C; };
  const auto gat = [&](int j, int xi, int64_t t) { return gin + ((j * 36 + xi) * TB + t) * N; };
  for (int64_t block = block0; block < block1; ++block) {
    const int64_t t_first = block * TB, count = std::min(TB, tiles.count - t_first);
    wino_input_tiles(w, tiles, t_first, count, -1, vin);
    // Rows past the last tile are zeros in both operands: garbage (a NaN) in either would reach the sums.
    for (int64_t t = count; t < TB; ++t) {
      for (int j = 0; j < 3; ++j) {
        for (int xi = 0; xi < 36; ++xi) std::fill(gat(j, xi, t), gat(j, xi, t) + N, T(0));
      }
    }
    // The products' gradients A dY A^T of each upstream gradient tile dY (zeros past the output's edge).
    for (int64_t t = 0; t < count; ++t) {
      const int64_t tile = t_first + t, h0 = tiles.row(tile), w0 = tiles.col(tile);
      const T* gb = grad + tiles.sample(tile) * w.OH * w.OW * 2 * N;
      for (int64_t c0 = 0; c0 < N; c0 += L) {
        V m[2][36];
        for (int part = 0; part < 2; ++part) {
          V d[16], tmp[24];
          for (int e = 0; e < 16; ++e) {
            const int64_t h = h0 + e / 4, v = w0 + e % 4;
            if (h < w.OH && v < w.OW) {
              __builtin_memcpy(&d[e], gb + (h * w.OW + v) * 2 * N + part * N + c0, sizeof(V));
            } else {
              d[e] = V{};
            }
          }
          for (int j = 0; j < 4; ++j) wino_output_adjoint_1d(d + j, 4, tmp + j, 4);  // [6][4]
          for (int i = 0; i < 6; ++i) wino_output_adjoint_1d(tmp + 4 * i, 1, m[part] + 6 * i, 1);
        }
        for (int xi = 0; xi < 36; ++xi) {
          const V re = m[0][xi], im = m[1][xi], diff = im - re, sum = re + im;
          __builtin_memcpy(gat(0, xi, t) + c0, &re, sizeof(V));
          __builtin_memcpy(gat(1, xi, t) + c0, &diff, sizeof(V));
          __builtin_memcpy(gat(2, xi, t) + c0, &sum, sizeof(V));
        }
      }
    }
    // dU = conj(V)^T dM in Gauss's form: t1 = (Vr - Vi)^T Gr, t2 = Vr^T (Gi - Gr), t3 = Vi^T (Gr + Gi);
    // re += t1 + t3, im += t1 + t2. acc is [36][2][C][Cout].
    for (int xi = 0; xi < 36; ++xi) {
      T *re = acc + xi * 2 * C * N, *im = re + C * N;
      wino_gemm_n<T, kWinoGradRows, kAddBoth>(vat(0, xi), 1, C, gat(0, xi, 0), C, TB, N, re, im);
      wino_gemm_n<T, kWinoGradRows, kAddFirst>(vat(2, xi), 1, C, gat(2, xi, 0), C, TB, N, re, im);
      wino_gemm_n<T, kWinoGradRows, kAddSecond>(vat(1, xi), 1, C, gat(1, xi, 0), C, TB, N, re, im);
    }
  }
}

}  // namespace

extern const WinogradKernels<float> winograd_lanes_float{
    .rows = kWinoRows,
    .forward = &winograd_conv<float>,
    .weight_grad = &winograd_weight_grad<float>,
};
extern const WinogradKernels<double> winograd_lanes_double{
    .rows = kWinoRows,
    .forward = &winograd_conv<double>,
    .weight_grad = &winograd_weight_grad<double>,
};

}  // namespace SPECDIFF_ISA
}  // namespace specdiff
