// Launcher of the elementwise band weighting of a half spectrum: spectral_band_weight and its backward,
// and the weighting step of the band ops' cuFFT path (host side: spectral_band_weight.cpp).
#include "cuda/band_weight.cuh"
#include "cuda/dispatch.cuh"

namespace specdiff::cuda {

void launch_band_spectrum(const BandSpectrumArgs& args, const BandArgs& band, cudaStream_t stream) {
  dispatch_dtype(args.dtype, [&](auto t, auto s) {
    using T = decltype(t);
    using S = decltype(s);
    const int64_t scratch = band.partial ? 4 * kBlockThreads * static_cast<int64_t>(sizeof(T)) : 0;
    launch_kernel(band_spectrum_kernel<T, S>, args.slices * args.splits, scratch, stream, args,
                  BandWeight<T>(band, args.H, args.W));
  });
}

}  // namespace specdiff::cuda
