// Launcher of the fused round trip with an explicit weight: spectral_filter2d and its backward
// (host side: spectral_filter2d.cpp).
#include "cuda/roundtrip_launch.cuh"

namespace specdiff::cuda {

void launch_explicit_roundtrip(const RoundTripArgs& args, const ExplicitWeightArgs& weight, cudaStream_t stream) {
  dispatch_dtype(args.dtype, [&](auto t, auto s) {
    using T = decltype(t);
    using S = decltype(s);
    launch_roundtrip<T, S>(args, ExplicitWeight<T>(weight, args), stream);
  });
}

}  // namespace specdiff::cuda
