#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <array>
#include <string>
#include <tuple>

#include "common/checks.h"
#include "common/cpu_isa.h"
#include "common/lane_kernels.h"
#include "cpu/band_params.h"

namespace specdiff::cpu {

namespace {

void check_spectrum(const at::Tensor& spec, int64_t width, const char* name) {
  TORCH_CHECK(spec.dim() == 4, "specdiff: ", name, " must be a 4-D half spectrum [B, C, H, W//2+1], got shape ",
              spec.sizes());
  TORCH_CHECK(spec.scalar_type() == at::kComplexFloat || spec.scalar_type() == at::kComplexDouble, "specdiff: ", name,
              " must be complex64 or complex128, got ", spec.scalar_type());
  TORCH_CHECK(width >= 1 && spec.size(3) == width / 2 + 1, "specdiff: ", name, " has ", spec.size(3),
              " columns but width ", width, " needs width//2+1 = ", width / 2 + 1);
}

// The band tables (band_mask: [groups, 1, H, Wf], computed in the op from the true FFT frequencies) are applied
// to the interleaved (re, im) pairs of each plane by the lane kernels of the active ISA (weight_pairs,
// pair_correlation), one plane per call.

at::Tensor spectral_band_weight_cpu(const at::Tensor& spec, const at::Tensor& inner, const at::Tensor& outer,
                                    const at::Tensor& gain, double temperature, int64_t width,
                                    c10::string_view kind) {
  check_spectrum(spec, width, "spec");
  const int64_t B = spec.size(0), C = spec.size(1), H = spec.size(2), Wf = spec.size(3);
  const auto real = c10::toRealValueType(spec.scalar_type());
  const BandParams p = band_params(inner, outer, gain, temperature, std::string(kind), B, real);
  const at::Tensor s = at::view_as_real(spec.resolve_conj().contiguous());
  at::Tensor out = at::empty_like(s);
  const int64_t n = H * Wf;
  const BandMask m = band_mask(p, H, width, false);
  AT_DISPATCH_FLOATING_TYPES(real, "spectral_band_weight", [&] {
    using T = scalar_t;
    const T* src = s.data_ptr<T>();
    const T* table = m.w.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    const WeightPairsFn<T> weight_pairs = lane_kernels<T>().weight_pairs;
    at::parallel_for(0, B * C, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t plane = p0; plane < p1; ++plane) {
        const T* w = table + (p.groups == 1 ? 0 : plane / C) * n;
        weight_pairs(w, src + 2 * plane * n, dst + 2 * plane * n, n);
      }
    });
  });
  return at::view_as_complex(out);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> spectral_band_weight_backward_cpu(
    const at::Tensor& grad, const at::Tensor& spec, const at::Tensor& inner, const at::Tensor& outer,
    const at::Tensor& gain, double temperature, int64_t width, c10::string_view kind, std::array<bool, 4> mask) {
  check_spectrum(spec, width, "spec");
  check_spectrum(grad, width, "grad");
  const int64_t B = spec.size(0), C = spec.size(1), H = spec.size(2), Wf = spec.size(3);
  const auto real = c10::toRealValueType(spec.scalar_type());
  const BandParams p = band_params(inner, outer, gain, temperature, std::string(kind), B, real);
  const bool need_params = mask[1] || mask[2] || mask[3];
  const at::Tensor s = at::view_as_real(spec.resolve_conj().contiguous());
  const at::Tensor g = at::view_as_real(grad.resolve_conj().contiguous());
  at::Tensor gs = mask[0] ? at::empty_like(g) : at::Tensor();
  // Per-plane partial sums of d loss / d (inner, outer, gain), reduced afterwards: no atomics.
  at::Tensor partial = at::zeros({B * C, 3}, spec.options().dtype(at::kDouble));
  const int64_t n = H * Wf;
  const BandMask m = band_mask(p, H, width, need_params);
  AT_DISPATCH_FLOATING_TYPES(real, "_spectral_band_weight_backward", [&] {
    using T = scalar_t;
    const T* sp = s.data_ptr<T>();
    const T* gp = g.data_ptr<T>();
    T* out = mask[0] ? gs.data_ptr<T>() : nullptr;
    double* acc = partial.data_ptr<double>();
    const T* w = m.w.data_ptr<T>();
    const T* di = need_params ? m.d_inner.data_ptr<T>() : nullptr;
    const T* dout = need_params ? m.d_outer.data_ptr<T>() : nullptr;
    const T* dg = need_params ? m.d_gain.data_ptr<T>() : nullptr;
    const LaneKernels<T>& kernels = lane_kernels<T>();
    at::parallel_for(0, B * C, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t plane = p0; plane < p1; ++plane) {
        const int64_t o = (p.groups == 1 ? 0 : plane / C) * n;
        const T* gx = gp + 2 * plane * n;
        if (out) kernels.weight_pairs(w + o, gx, out + 2 * plane * n, n);
        if (need_params) {
          // Per-plane sums in T (a plane is ~1e3-1e4 terms), summed across planes in float64 below.
          T sums[3];
          kernels.pair_correlation(gx, sp + 2 * plane * n, di + o, dout + o, dg + o, n, sums);
          for (int i = 0; i < 3; ++i) acc[3 * plane + i] = sums[i];
        }
      }
    });
  });
  const at::Tensor per_sample = partial.view({B, C, 3}).sum(1);  // [B, 3]
  auto param_grad = [&](bool need, int col, const at::Tensor& param) {
    if (!need) return at::zeros_like(param);
    at::Tensor v = per_sample.select(1, col);
    return (param.dim() == 0 ? v.sum() : v).to(param.scalar_type()).contiguous();
  };
  at::Tensor grad_spec = mask[0] ? at::view_as_complex(gs) : at::zeros_like(spec);
  return {grad_spec, param_grad(mask[1], 0, p.inner), param_grad(mask[2], 1, p.outer),
          param_grad(mask[3], 2, p.gain)};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CPU, m) {
  m.impl("spectral_band_weight", &spectral_band_weight_cpu);
  m.impl("_spectral_band_weight_backward", &spectral_band_weight_backward_cpu);
}

}  // namespace specdiff::cpu
