// Host side of the analytic band ops on CUDA: the parsed band (common/band_params.h) in the compute dtype, kernel
// arguments, the elementwise band launch and the reduction of parameter gradients to the parameters' shapes.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include "common/band_params.h"
#include "cuda/launch.h"

namespace specdiff::cuda {

// The band of one call on CUDA: `ref` (named ref_name in errors) is the tensor it applies to, whose compute dtype
// the parameters are converted to.
BandParams cuda_band(const at::Tensor& inner, const at::Tensor& outer, const at::Tensor& gain, double temperature,
                     c10::string_view kind, int64_t B, const at::Tensor& ref, const char* ref_name);

// Kernel arguments; slice_scale ([slices], compute dtype) and scale multiply the weight.
BandArgs band_args(const BandParams& band, void* partial, const at::Tensor* slice_scale, double scale);

// out = band * in over a contiguous complex half spectrum [B, ..., H, W/2+1] (out may alias in). With
// `other`, returns the per-slice sums [slices, 4] of c = D Re(conj(in) other) times (band, d band/d inner,
// d band/d outer, d band/d gain), D = 2 on interior columns when `doubled`; else an undefined tensor.
at::Tensor band_spectrum(const at::Tensor& in, const at::Tensor* other, const at::Tensor* out, bool doubled,
                         int64_t W, const BandParams& band, int64_t slices, const at::Tensor* slice_scale, double scale);

// The gradient of a 0-d or [B] parameter from its per-slice sums [slices] (slices == B when it is [B]).
at::Tensor param_grad(const at::Tensor& sums, const at::Tensor& param);

}  // namespace specdiff::cuda
