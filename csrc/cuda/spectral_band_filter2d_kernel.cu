// Launcher of the fused round trip with the analytic band computed in the kernel: spectral_band_filter2d,
// spectral_band_mse and their backwards (host side: spectral_band_filter2d.cpp,
// spectral_band_mse.cpp).
#include "cuda/band_weight.cuh"
#include "cuda/roundtrip_launch.cuh"

namespace specdiff::cuda {

void launch_band_roundtrip(const RoundTripArgs& args, const BandArgs& band, cudaStream_t stream) {
  dispatch_dtype(args.dtype, [&](auto t, auto s) {
    using T = decltype(t);
    using S = decltype(s);
    launch_roundtrip<T, S>(args, BandWeight<T>(band, args.H, args.W), stream);
  });
}

}  // namespace specdiff::cuda
