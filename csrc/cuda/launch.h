// Interface between the ATen host code (csrc/cuda/*.cpp) and the CUDA kernels (csrc/cuda/*.cu): plain
// structs of raw pointers and sizes, so the .cu files include no ATen header and compile in seconds.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>

#if defined(__CUDACC__)
#define SPECDIFF_HOST_DEVICE __host__ __device__
#else
#define SPECDIFF_HOST_DEVICE
#endif

namespace specdiff::cuda {

// Threads per block of every kernel in csrc/cuda.
constexpr int kBlockThreads = 256;
constexpr int kMaxFftStages = 16;

// Element type of a real tensor, or of the parts of a complex one (f16: complex32). f16 and bf16 are
// computed in float32, f32 in float32, f64 in float64.
enum class Dtype : int { f32, f64, f16, bf16 };

// One FFT length factored into 4s, then one 2, then odd primes ascending (like csrc/common/fft_plan.cpp).
struct FftFactors {
  int n;
  int nstages;
  int radix[kMaxFftStages];
};

inline FftFactors fft_factors(int n) {
  FftFactors f{n, 0, {}};
  auto push = [&f](int r) { f.radix[f.nstages++] = r; };
  while (n % 4 == 0) {
    push(4);
    n /= 4;
  }
  if (n % 2 == 0) {
    push(2);
    n /= 2;
  }
  for (int p = 3; n > 1; p += 2) {
    if (p * p > n) p = n;  // what is left is prime
    while (n % p == 0) {
      push(p);
      n /= p;
    }
  }
  return f;
}

// The fused round trip  out = irfft2(weight * rfft2(in))  over all planes of a [B, C, H, W] tensor,
// with optional reductions of  c = D * G * conj(X) / (H W)  per bin (G the unnormalized spectrum of
// `in`, X that of `src`, or of `in` itself with self_correlate; D = 2 for interior columns, 1 for the
// DC and Nyquist columns). Planes are grouped into slices: the planes that share one weight slice
// [slices_b, slices_c] (slices_b in {1, B}, slices_c in {1, C}). A block handles `planes_per_block`
// planes of one slice at a time; each slice is split over `splits` blocks, so a reduction leaves one
// partial result per (slice, split) that the host sums.
struct RoundTripArgs {
  Dtype dtype;  // of in, src, out
  int64_t B, C;
  int H, W;
  int64_t slices_b, slices_c;
  const void* in;
  int64_t in_stride[4];
  const void* src;  // or nullptr
  int64_t src_stride[4];
  bool self_correlate;
  void* out;  // contiguous [B, C, H, W], or nullptr to skip the inverse transform

  // Launch plan: the host picks planes_per_block, splits and acc_in_global, roundtrip_layout the rest.
  int planes_per_block;
  bool acc_in_global;  // the grad_weight accumulator lives in the block's global partial row, not in shared memory
  int64_t splits;
  int64_t plane_elems;  // complex elements one plane takes in one buffer
  int64_t smem_tw, smem_acc, smem_offsets, smem_bytes;

  SPECDIFF_HOST_DEVICE int64_t slices() const { return slices_b * slices_c; }
  SPECDIFF_HOST_DEVICE int64_t planes_per_slice() const { return (slices_b == 1 ? B : 1) * (slices_c == 1 ? C : 1); }
  SPECDIFF_HOST_DEVICE int nbuf() const { return src ? 3 : 2; }
};

// The plane sizes with a compile-time round-trip kernel (roundtrip_launch.cuh): square, side 16, 32, 64 or 128.
inline bool has_fixed_size_kernel(int H, int W) {
  return H == W && (H == 16 || H == 32 || H == 64 || H == 128);
}

// Dynamic shared memory of the fused kernel (byte offsets): [nbuf ping-pong buffers of
// planes_per_block * plane_elems complex][W + H roots of unity][acc_per_bin * H * Wf reals of grad_weight
// accumulator, unless acc_in_global][3 * planes_per_block plane offsets]. The buffers hold a batch of planes either as
// row pairs [P][ceil(H/2)][W] or as the column-major half spectrum [P][W/2+1][Hs] with Hs = H | 1 (odd,
// so walking a row of the spectrum touches distinct banks); at the end they double as the scratch of
// the block reduction (4 * kBlockThreads reals).
inline void roundtrip_layout(RoundTripArgs& a, int acc_per_bin, int real_bytes) {
  const int64_t H = a.H, W = a.W, Wf = W / 2 + 1, Hp = (H + 1) / 2, Hs = H | 1;
  const int64_t cx = 2 * real_bytes;
  a.plane_elems = std::max(Hp * W, Wf * Hs);
  const int64_t buffers =
      std::max<int64_t>(a.nbuf() * a.planes_per_block * a.plane_elems * cx, int64_t{4} * kBlockThreads * real_bytes);
  a.smem_tw = buffers;
  a.smem_acc = a.smem_tw + (H + W) * cx;
  const int64_t acc_bytes = a.acc_in_global ? 0 : acc_per_bin * H * Wf * real_bytes;
  a.smem_offsets = (a.smem_acc + acc_bytes + 7) / 8 * 8;
  a.smem_bytes = a.smem_offsets + 3 * int64_t{8} * a.planes_per_block;
}

// An explicit weight for the round trip.
struct ExplicitWeightArgs {
  const void* weight;  // compute dtype, contiguous [slices_b, slices_c, H, Wf] (real) or [..., 2] (complex)
  bool complex;
  bool conj;            // multiply by conj(weight): the backward
  void* grad_partial;   // compute dtype [slices, splits, H, Wf(, 2)]: sums of c, or nullptr
};

// The analytic band of common/band.h as a weight, per slice: slices are samples (slices_b = B) or one
// slice for all (slices_b = 1); a parameter is per sample (stride 1) or shared (stride 0).
struct BandArgs {
  int kind;  // BandKind
  double temperature;
  const void* inner;  // compute dtype
  const void* outer;
  const void* gain;
  int64_t inner_stride, outer_stride, gain_stride;
  const void* slice_scale;  // compute dtype [slices]: a factor on the weight, or nullptr
  double scale;             // a constant factor on the weight
  void* partial;            // compute dtype [slices, splits, 4]: sums of Re(c) * (band, d/d inner, d/d outer, d/d gain), or nullptr
};

// Band weighting of a contiguous complex half spectrum [..., H, W/2+1] viewed as [slices, numel / slices]:
// out = band * in, with reductions of  c = D * Re(conj(in) * other)  (D = 2 for interior columns when
// `doubled`, the half spectrum standing for the full one; else 1).
struct BandSpectrumArgs {
  Dtype dtype;
  int64_t numel;  // complex elements
  int64_t slices, splits;
  int H, W;
  const void* in;
  const void* other;  // or nullptr: no reduction
  bool doubled;
  void* out;  // or nullptr
};

void launch_explicit_roundtrip(const RoundTripArgs& args, const ExplicitWeightArgs& weight, cudaStream_t stream);
void launch_band_roundtrip(const RoundTripArgs& args, const BandArgs& band, cudaStream_t stream);
void launch_band_spectrum(const BandSpectrumArgs& args, const BandArgs& band, cudaStream_t stream);

}  // namespace specdiff::cuda
