// Host side of the CUDA spectral ops: dtype rules, launch planning of the fused round trip and the cuFFT
// (ATen) path for planes too large for it. Compiled by the host compiler; the kernels are behind launch.h.
#pragma once

#include <ATen/core/Tensor.h>

#include "cuda/launch.h"
#include "cuda/roundtrip_plan.h"

namespace specdiff::cuda {

// x must be a 4-D CUDA tensor of float32 or float64, or float16 / bfloat16 (computed in float32).
void check_cuda_image(const at::Tensor& x, const char* name);

// The dtype the kernels compute in for a real or complex dtype: float64 for (complex) float64, else float32.
at::ScalarType compute_real_type(at::ScalarType t);

// The fast-path predicate: plan_roundtrip (roundtrip_plan.h) with the current device's limits and the
// environment's tuning; false means the op takes the cuFFT path.
bool plan_roundtrip(RoundTripArgs& a, int acc_per_bin, bool reduce);

// reduction_splits (roundtrip_plan.h) for the current device.
int64_t reduction_splits(int64_t slices, int64_t work);

// The cuFFT path: "ortho" transforms of the last two dims, in the compute dtype.
at::Tensor rfft2(const at::Tensor& x);
at::Tensor irfft2(const at::Tensor& spec, int64_t H, int64_t W);

// Resolves lazy conjugation / negation and makes t contiguous (kernels read raw memory).
at::Tensor dense(const at::Tensor& t);

}  // namespace specdiff::cuda
