// Host-side launch of the fused round trip (csrc/cuda/roundtrip_kernel.cuh), for the .cu launchers.
#pragma once

#include "cuda/dispatch.cuh"
#include "cuda/roundtrip_kernel.cuh"

namespace specdiff::cuda {

// Launches roundtrip_kernel<T, S, Weight, N, N> for the planes has_fixed_size_kernel names (constant index
// arithmetic and radix-8 stages), the any-size kernel otherwise.
template <typename T, typename S, class Weight>
void launch_roundtrip(const RoundTripArgs& args, const Weight& weight, cudaStream_t stream) {
  const int64_t blocks = args.slices() * args.splits;
  const FftFactors fh = fft_factors(args.H), fw = fft_factors(args.W);
  const int n = has_fixed_size_kernel(args.H, args.W) ? args.H : 0;
  if (n == 16) {
    launch_kernel(roundtrip_kernel<T, S, Weight, 16, 16>, blocks, args.smem_bytes, stream, args, fh, fw, weight);
  } else if (n == 32) {
    launch_kernel(roundtrip_kernel<T, S, Weight, 32, 32>, blocks, args.smem_bytes, stream, args, fh, fw, weight);
  } else if (n == 64) {
    launch_kernel(roundtrip_kernel<T, S, Weight, 64, 64>, blocks, args.smem_bytes, stream, args, fh, fw, weight);
  } else if (n == 128) {
    launch_kernel(roundtrip_kernel<T, S, Weight, 128, 128>, blocks, args.smem_bytes, stream, args, fh, fw, weight);
  } else {
    launch_kernel(roundtrip_kernel<T, S, Weight>, blocks, args.smem_bytes, stream, args, fh, fw, weight);
  }
}

}  // namespace specdiff::cuda
