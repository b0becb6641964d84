// The analytic band's tables on the half spectrum, built from parsed arguments (common/band_params.h), and the chain
// rule from a table's gradient to the band parameters. Shared by the band ops' CPU kernels.
#pragma once

#include <ATen/core/Tensor.h>

#include <array>
#include <tuple>
#include <vector>

#include "common/band.h"
#include "common/band_params.h"

namespace specdiff::cpu {

// The parsed band of a batch of B samples, on the CPU: the parameters in x's real dtype.
BandParams cpu_band(const at::Tensor& inner, const at::Tensor& outer, const at::Tensor& gain, double temperature,
                    c10::string_view kind, int64_t batch, const at::Tensor& x, const char* x_name);

// The bins' radii on rows 0..H/2 of an H x (W/2 + 1) half spectrum, the rows the band's tables are computed on (rows
// h and H - h have the same |fy| and so the same band; band_scale.h's fill).
template <typename T>
std::vector<T> band_radii(int64_t H, int64_t W) {
  const int64_t rows = H / 2 + 1, Wf = W / 2 + 1;
  std::vector<T> rho(rows * Wf);
  for (int64_t h = 0; h < rows; ++h) {
    for (int64_t k = 0; k < Wf; ++k) rho[h * Wf + k] = band_rho<T>(h, k, H, W);
  }
  return rho;
}

// Whether a band loop (band_scale.h) that reads `tables` tables of `plane_bytes` each (the forward one, the backward
// the three derivatives) takes its planes two at a time, each vector of the tables loaded once for both: when the
// tables do not fit one core's L1d, so that each would be read from L2 once per plane. Tables that fit cost nothing
// to read again, and two interleaved planes read memory slower than one plane after another (docs/cpu_kernels.md).
bool band_planes_in_pairs(int64_t plane_bytes, int tables);

// mask, d mask/d inner, d outer, d gain as [G, 1, H, W//2+1] tensors of the parameters' dtype, G =
// p.groups(batch).
struct BandMask {
  at::Tensor w, d_inner, d_outer, d_gain;
};
BandMask band_mask(const BandParams& p, int64_t batch, int64_t H, int64_t W, bool derivatives);

// Parameter gradients from grad_mask [G, 1, H, Wf] (G = p.groups(B) or B), reduced to each parameter's shape;
// zeros where output_mask says the gradient is not needed.
std::tuple<at::Tensor, at::Tensor, at::Tensor> band_param_grads(const at::Tensor& grad_mask, const BandMask& m,
                                                                const BandParams& p,
                                                                const std::array<bool, 4>& output_mask);

}  // namespace specdiff::cpu
