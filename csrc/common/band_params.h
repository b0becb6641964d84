// The analytic band's arguments (kind, temperature, inner, outer, gain), parsed and checked by one parser for every
// device: the band ops' CPU and CUDA kernels call parse_band, and Python asks check_band_args through the
// `_check_band_args` op (csrc/capabilities.cpp) before it routes a call.
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/util/string_view.h>

#include "common/band.h"

namespace specdiff {

// kind is "radial" or "bandpass"; temperature is finite and > 0. A ValueError naming the argument otherwise.
void check_band_args(c10::string_view kind, double temperature);

struct BandParams {
  BandKind kind;
  double temperature;
  at::Tensor inner, outer, gain;  // each 0-d or [B], in the compute dtype, contiguous, on the band's tensor's device
  bool per_sample;                // some parameter is [B]: the band differs between samples

  // Band tables (or slices of a launch): one per sample when per_sample, else one for all.
  int64_t groups(int64_t batch) const { return per_sample ? batch : 1; }
};

// `ref` (named ref_name in messages) is the tensor the band applies to, with `batch` samples. Each parameter must be a
// floating-point tensor on ref's device, 0-d or [B]; it is converted to `compute` (the dtype the kernel computes in).
BandParams parse_band(const at::Tensor& inner, const at::Tensor& outer, const at::Tensor& gain, double temperature,
                      c10::string_view kind, int64_t batch, const at::Tensor& ref, const char* ref_name,
                      at::ScalarType compute);

}  // namespace specdiff
