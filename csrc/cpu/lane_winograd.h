// Winograd's F(4x4, 3x3) complex convolution (see WinogradConvFn in lane_kernels.h), vectorized over channels.
// Included by lane_kernels_impl.h inside its ISA's namespace, where VecOf and kLanes are defined.
//
// Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks" (2016): a 4x4 output tile is
// A^T [(G g G^T) . (B^T d B)] A for the 6x6 input tile d, so the 36 products per tile and channel pair replace
// 144. Per tile position xi the products over channels are GEMMs, [tiles, Cin] x [Cin, Cout]; with Gauss's form
// (three real GEMMs for one complex product) that is 3/16 of the reference's four direct convolutions.
// A block of `tile_block` tiles is transformed, multiplied and transformed back while its operands stay in L2.

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

// The GEMM of one tile position: c[rows][N] (op)= a[rows][K] b[K][N], rows a multiple of kWinoRows, N of NR
// vectors. Mode 0 stores the product to c0 and c1; mode 1 subtracts it from c0; mode 2 adds it to c1.
template <typename T, int NR, int Mode>
inline void wino_gemm(const T* __restrict a, const T* __restrict b, int64_t rows, int64_t K, int64_t N,
                      T* __restrict c0, T* __restrict c1) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>, MR = kWinoRows;
  for (int64_t n0 = 0; n0 < N; n0 += NR * L) {
    for (int64_t r0 = 0; r0 < rows; r0 += MR) {
      V acc[MR][NR];
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
        for (int q = 0; q < NR; ++q) acc[r][q] = V{};
      }
      const T* ar = a + r0 * K;
      for (int64_t k = 0; k < K; ++k) {
        V bv[NR];
#pragma GCC unroll 4
        for (int q = 0; q < NR; ++q) __builtin_memcpy(&bv[q], b + k * N + n0 + q * L, sizeof(V));
#pragma GCC unroll 16
        for (int r = 0; r < MR; ++r) {
          const T av = ar[r * K + k];
#pragma GCC unroll 4
          for (int q = 0; q < NR; ++q) acc[r][q] += av * bv[q];
        }
      }
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
#pragma GCC unroll 4
        for (int q = 0; q < NR; ++q) {
          const int64_t at = (r0 + r) * N + n0 + q * L;
          V v;
          if constexpr (Mode == 0) {
            __builtin_memcpy(c0 + at, &acc[r][q], sizeof(V));
            __builtin_memcpy(c1 + at, &acc[r][q], sizeof(V));
          } else if constexpr (Mode == 1) {
            __builtin_memcpy(&v, c0 + at, sizeof(V));
            v -= acc[r][q];
            __builtin_memcpy(c0 + at, &v, sizeof(V));
          } else {
            __builtin_memcpy(&v, c1 + at, sizeof(V));
            v += acc[r][q];
            __builtin_memcpy(c1 + at, &v, sizeof(V));
          }
        }
      }
    }
  }
}

template <typename T, int Mode>
inline void wino_gemm_n(const T* a, const T* b, int64_t rows, int64_t K, int64_t N, T* c0, T* c1) {
  if (N % (2 * kLanes<T>) == 0) return wino_gemm<T, 2, Mode>(a, b, rows, K, N, c0, c1);
  wino_gemm<T, 1, Mode>(a, b, rows, K, N, c0, c1);
}

template <typename T>
void winograd_conv(const WinogradConv<T>& w, int64_t block0, int64_t block1, T* __restrict scratch) {
  using V = typename VecOf<T>::type;
  constexpr int L = kLanes<T>;
  const int64_t C = w.C, N = w.Cout, TB = w.tile_block;
  const int64_t tiles_h = (w.OH + 3) / 4, tiles_w = (w.OW + 3) / 4, tiles = w.B * tiles_h * tiles_w;
  // Scratch: the transformed inputs [3][36][TB][C] (re + im, re, im) and products [2][36][TB][Cout] (re, im).
  T* vin = scratch;
  T* prod = scratch + 3 * 36 * TB * C;
  const auto vat = [&](int j, int xi, int64_t t) { return vin + ((j * 36 + xi) * TB + t) * C; };
  const auto mat = [&](int j, int xi, int64_t t) { return prod + ((j * 36 + xi) * TB + t) * N; };
  for (int64_t block = block0; block < block1; ++block) {
    const int64_t t_first = block * TB, count = std::min(TB, tiles - t_first);
    // Input transform, tile by tile; rows past the last tile are zeros.
    for (int64_t t = 0; t < TB; ++t) {
      if (t >= count) {
        for (int j = 0; j < 3; ++j) {
          for (int xi = 0; xi < 36; ++xi) std::fill(vat(j, xi, t), vat(j, xi, t) + C, T(0));
        }
        continue;
      }
      const int64_t tile = t_first + t, b = tile / (tiles_h * tiles_w);
      const int64_t h0 = (tile / tiles_w) % tiles_h * 4 - w.pad_h, w0 = tile % tiles_w * 4 - w.pad_w;
      const T* xb = w.x + b * w.H * w.W * 2 * C;
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
          const V s = vr[xi] + vi[xi];
          __builtin_memcpy(vat(0, xi, t) + c0, &s, sizeof(V));
          __builtin_memcpy(vat(1, xi, t) + c0, &vr[xi], sizeof(V));
          __builtin_memcpy(vat(2, xi, t) + c0, &vi[xi], sizeof(V));
        }
      }
    }
    // Gauss's form per position: t1 = (Vr + Vi) U1, t2 = Vr U2, t3 = Vi U3 with U1 = Wr, U2 = Wi - Wr,
    // U3 = Wr + Wi (transformed); re = t1 - t3, im = t1 + t2.
    for (int xi = 0; xi < 36; ++xi) {
      const T* u = w.u + xi * 3 * C * N;
      wino_gemm_n<T, 0>(vat(0, xi, 0), u, TB, C, N, mat(0, xi, 0), mat(1, xi, 0));
      wino_gemm_n<T, 1>(vat(2, xi, 0), u + 2 * C * N, TB, C, N, mat(0, xi, 0), mat(1, xi, 0));
      wino_gemm_n<T, 2>(vat(1, xi, 0), u + C * N, TB, C, N, mat(0, xi, 0), mat(1, xi, 0));
    }
    // Output transform, with the bias; pixels past the output's edge are dropped.
    for (int64_t t = 0; t < count; ++t) {
      const int64_t tile = t_first + t, b = tile / (tiles_h * tiles_w);
      const int64_t h0 = (tile / tiles_w) % tiles_h * 4, w0 = tile % tiles_w * 4;
      const int rows = static_cast<int>(std::min<int64_t>(4, w.OH - h0));
      const int cols = static_cast<int>(std::min<int64_t>(4, w.OW - w0));
      T* yb = w.y + b * w.OH * w.OW * 2 * N;
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
