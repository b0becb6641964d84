#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <string>
#include <tuple>
#include <vector>

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

// The band table (band_mask: [groups, 1, H, Wf], computed in the op from the true FFT frequencies) is
// expanded to (re, im) pairs, so weighting a plane of interleaved values is one unit-stride multiply
// (band_scale). The backward reads the upstream gradient and the spectrum once: band_scale_correlate
// writes the spectrum's gradient and adds Re(g conj(s)) per bin into a per-thread accumulator, which is
// reduced with the band's derivative tables (in float64) once per run of planes of one sample.

// The pair-expanded mask, [groups, H, Wf, 2] contiguous.
at::Tensor pair_table(const at::Tensor& w) { return w.unsqueeze(-1).expand({-1, -1, -1, -1, 2}).contiguous(); }

// Planes whose correlations add up in the working precision before they are reduced in float64.
constexpr int64_t kCorrelationRun = 64;

// Outputs of at least 8 MiB (a quarter of a 32 MiB last-level cache, as on the machine the benchmarks ran on)
// are written with streaming stores: their pass's working set (input and output, and in the backward a second
// input) does not stay in the cache anyway, and skipping the read-for-ownership of each output line made
// forward+backward 0-9% faster at the 8-18 MB standard shapes (in-process A/B; 8-9% at 18 MB). At 4.7 MB
// streaming made it slower: smaller outputs are written through the cache, where the next op finds them.
constexpr int64_t kStreamMinBytes = int64_t{8} << 20;

at::Tensor spectral_band_weight_cpu(const at::Tensor& spec, const at::Tensor& inner, const at::Tensor& outer,
                                    const at::Tensor& gain, double temperature, int64_t width,
                                    c10::string_view kind) {
  check_spectrum(spec, width, "spec");
  const int64_t B = spec.size(0), C = spec.size(1), H = spec.size(2), Wf = spec.size(3);
  const auto real = c10::toRealValueType(spec.scalar_type());
  const BandParams p = band_params(inner, outer, gain, temperature, std::string(kind), B, real);
  const at::Tensor s = at::view_as_real(spec.resolve_conj().contiguous());
  at::Tensor out = at::empty_like(s);
  const int64_t m = 2 * H * Wf;  // reals per plane
  const at::Tensor table = pair_table(band_mask(p, H, width, false).w);
  AT_DISPATCH_FLOATING_TYPES(real, "spectral_band_weight", [&] {
    using T = scalar_t;
    const T* src = s.data_ptr<T>();
    const T* w = table.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    const BandScaleFn<T> band_scale = lane_kernels<T>().band_scale;
    const bool stream = out.nbytes() >= kStreamMinBytes;
    at::parallel_for(0, B * C, 1, [&](int64_t p0, int64_t p1) {
      for (int64_t plane = p0; plane < p1; ++plane) {
        band_scale(w + (p.groups == 1 ? 0 : plane / C) * m, src + plane * m, dst + plane * m, m, stream);
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
  // d loss / d (inner, outer, gain) of each run of planes, stored at the run's first plane and reduced
  // afterwards: no atomics.
  at::Tensor partial = at::zeros({B * C, 3}, spec.options().dtype(at::kDouble));
  const int64_t n = H * Wf, m = 2 * n;
  const BandMask bm = band_mask(p, H, width, need_params);
  const at::Tensor table = pair_table(bm.w);
  AT_DISPATCH_FLOATING_TYPES(real, "_spectral_band_weight_backward", [&] {
    using T = scalar_t;
    const T* sp = s.data_ptr<T>();
    const T* gp = g.data_ptr<T>();
    T* out = mask[0] ? gs.data_ptr<T>() : nullptr;
    double* sums = partial.data_ptr<double>();
    const T* w = table.data_ptr<T>();
    const T* d[3] = {need_params ? bm.d_inner.data_ptr<T>() : nullptr,
                     need_params ? bm.d_outer.data_ptr<T>() : nullptr, need_params ? bm.d_gain.data_ptr<T>() : nullptr};
    const LaneKernels<T>& kernels = lane_kernels<T>();
    const bool stream = mask[0] && gs.nbytes() >= kStreamMinBytes;
    auto group = [&](int64_t plane) { return p.groups == 1 ? int64_t{0} : plane / C; };
    at::parallel_for(0, B * C, 1, [&](int64_t p0, int64_t p1) {
      std::vector<T> acc(need_params ? m : 0, T(0));
      // Reduces the accumulated correlations of the run starting at `first` with the derivative tables.
      auto flush = [&](int64_t first) {
        const int64_t o = group(first) * n;
        double r[3] = {0, 0, 0};
        for (int64_t k = 0; k < n; ++k) {
          const double c = static_cast<double>(acc[2 * k]) + static_cast<double>(acc[2 * k + 1]);
          for (int i = 0; i < 3; ++i) r[i] += c * static_cast<double>(d[i][o + k]);
        }
        for (int i = 0; i < 3; ++i) sums[3 * first + i] = r[i];
        std::fill(acc.begin(), acc.end(), T(0));
      };
      int64_t first = p0;
      for (int64_t plane = p0; plane < p1; ++plane) {
        const T* wp = w + group(plane) * m;
        T* y = out ? out + plane * m : nullptr;
        if (!need_params) {
          if (y) kernels.band_scale(wp, gp + plane * m, y, m, stream);
          continue;
        }
        if (plane != first && (group(plane) != group(first) || plane - first == kCorrelationRun)) {
          flush(first);
          first = plane;
        }
        kernels.band_scale_correlate(wp, gp + plane * m, sp + plane * m, y, acc.data(), m, stream);
      }
      if (need_params) flush(first);
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
