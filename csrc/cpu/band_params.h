// Parsing and checking of the analytic band arguments, the per-sample mask tensors built from them,
// and the chain rule from a mask gradient to the band parameters. Shared by the band ops' CPU kernels.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <string>
#include <tuple>

#include "common/band.h"

namespace specdiff::cpu {

struct BandParams {
  at::Tensor inner, outer, gain;  // each 0-d or [B], x's real dtype, contiguous
  double temperature;
  BandKind kind;
  int64_t groups;  // 1 when every parameter is 0-d, else B
};

BandParams band_params(const at::Tensor& inner, const at::Tensor& outer, const at::Tensor& gain,
                       double temperature, const std::string& kind, int64_t batch, at::ScalarType dtype);

// mask, d mask/d inner, d outer, d gain as [groups, 1, H, W//2+1] tensors of the parameters' dtype; with
// `pairs`, [groups, 1, H, W//2+1, 2]: each value twice, to weight interleaved (re, im) values.
struct BandMask {
  at::Tensor w, d_inner, d_outer, d_gain;
};
BandMask band_mask(const BandParams& p, int64_t H, int64_t W, bool derivatives, bool pairs = false);

// Parameter gradients from grad_mask [G, 1, H, Wf] (G = groups or B), reduced to each parameter's shape;
// zeros where output_mask says the gradient is not needed.
std::tuple<at::Tensor, at::Tensor, at::Tensor> band_param_grads(const at::Tensor& grad_mask, const BandMask& m,
                                                                const BandParams& p,
                                                                const std::array<bool, 4>& output_mask);

}  // namespace specdiff::cpu
