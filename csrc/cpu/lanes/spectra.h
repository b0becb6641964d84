// Half spectra of blocks of planes to and from memory, and the complex products between them: the lane kernels of
// spectral_conv2d, whose channel mixing happens per frequency bin between the transforms (the FFT round trip,
// roundtrip.h, keeps a block's spectrum in its scratch instead). Entry points (SpectraKernels):
//
//   store         spec = rfft2(in) (unnormalised) of a block of planes, bin f = h Wf + k of lane l at
//                 spec[l][f bin_stride] (real part) and spec[l][f bin_stride + imag_offset] (imaginary part)
//   load_inverse  out = irfft2(spec) (unnormalised; like irfft2, the imaginary parts of the DC and Nyquist columns
//                 are ignored) of a block of planes laid out as for store
//   gemm          C = A op(B) for complex matrices in split form (real and imaginary parts apart), op(B) = B or conj(B)
//   row_dots      C[i][j] = sum_l A[i][l] b[j][l], complex A (split) and real b
#pragma once

#include <cstdint>

#include "cpu/lanes/dispatch.h"
#include "cpu/lanes/roundtrip.h"

namespace specdiff {

template <typename T>
struct SpectraBlock {
  int count;                // valid lanes, 1..lanes; the spare lanes' `in` repeat lane 0's planes
  const T* in[kMaxLanes];   // store: plane bases (strides RoundTripGeometry::in_sh, in_sw)
  T* out[kMaxLanes];        // load_inverse: contiguous [ph][pw] output planes
  T* spec[kMaxLanes];       // lane l's spectrum: bin f at spec[l][f * bin_stride] (+ imag_offset: imaginary part)
  bool contiguous;          // spec[l] == spec[0] + l for every lane < lanes: whole vectors move
  int64_t bin_stride, imag_offset;
  T* scratch;               // roundtrip_scratch_elems(H, W, lanes) elements, vector-aligned
};

template <typename T>
using SpectraFn = void (*)(const RoundTripGeometry<T>& g, const SpectraBlock<T>& blk);

// A complex matrix in split form: element (i, j) at re[i * rs + j * cs] and im[i * rs + j * cs].
template <typename T>
struct SplitMatrix {
  const T* re;
  const T* im;
  int64_t rs, cs;
};

// C[i][j] = alpha sum_l A(i, l) op(B)[l][j], i < m, j < n, l < k; B and C row-major (unit column stride, row strides
// ldb, ldc); C's previous values are overwritten.
template <typename T>
using ComplexGemmFn = void (*)(int64_t m, int64_t n, int64_t k, T alpha, SplitMatrix<T> A, const T* b_re,
                               const T* b_im, int64_t ldb, T* c_re, T* c_im, int64_t ldc);

template <typename T>
using RowDotsFn = void (*)(int64_t m, int64_t n, int64_t len, const T* a_re, const T* a_im, int64_t lda, const T* b,
                           int64_t ldb, T* c_re, T* c_im, int64_t ldc);

template <typename T>
struct SpectraKernels {
  int lanes;  // planes per block
  SpectraFn<T> store;
  SpectraFn<T> load_inverse;
  ComplexGemmFn<T> gemm;       // op(B) = B
  ComplexGemmFn<T> gemm_conj;  // op(B) = conj(B)
  RowDotsFn<T> row_dots;
};

SPECDIFF_DECLARE_LANES(SpectraKernels, spectra_lanes)

}  // namespace specdiff
