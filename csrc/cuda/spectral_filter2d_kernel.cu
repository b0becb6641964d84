// Launcher of the fused round trip with an explicit weight: spectral_filter2d and its backward
// (host side: spectral_filter2d.cpp).
#include "cuda/dispatch.cuh"
#include "cuda/roundtrip_kernel.cuh"

namespace specdiff::cuda {

void launch_explicit_roundtrip(const RoundTripArgs& args, const ExplicitWeightArgs& weight, cudaStream_t stream) {
  dispatch_dtype(args.dtype, [&](auto t, auto s) {
    using T = decltype(t);
    using S = decltype(s);
    launch_kernel(roundtrip_kernel<T, S, ExplicitWeight<T>>, args.slices() * args.splits, args.smem_bytes, stream,
                  args, fft_factors(args.H), fft_factors(args.W), ExplicitWeight<T>(weight, args.H, args.W));
  });
}

}  // namespace specdiff::cuda
