// Host-side launch of the fused round trip (csrc/cuda/roundtrip_kernel.cuh), for the .cu launchers.
#pragma once

#include "cuda/dispatch.cuh"
#include "cuda/roundtrip_kernel.cuh"

namespace specdiff::cuda {

// Launches roundtrip_kernel_for's kernel for the plane size on `stream`.
template <typename T, typename S, class Weight>
void launch_roundtrip(const RoundTripArgs& args, const Weight& weight, cudaStream_t stream) {
  const int64_t blocks = args.slices() * args.splits;
  launch_kernel(roundtrip_kernel_for<T, S, Weight>(args.H, args.W), blocks, args.smem_bytes, stream, args,
                fft_factors(args.H), fft_factors(args.W), weight);
}

}  // namespace specdiff::cuda
