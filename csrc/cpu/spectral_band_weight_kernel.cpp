#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <vector>

#include "common/band.h"
#include "common/checks.h"
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

// The band of one (sample, row) of the half spectrum, each value written twice so that it lines up with the
// interleaved (re, im) pairs of the spectrum and every inner loop is a unit-stride SIMD loop.
template <typename T>
struct BandRow {
  std::vector<T> w, d_inner, d_outer, d_gain;  // [2 * Wf]
  BandRow(int64_t Wf, bool derivatives)
      : w(2 * Wf), d_inner(derivatives ? 2 * Wf : 0), d_outer(derivatives ? 2 * Wf : 0), d_gain(derivatives ? 2 * Wf : 0) {}

  void fill(const BandParams& p, int64_t b, int64_t h, int64_t H, int64_t W) {
    const int64_t Wf = W / 2 + 1;
    const T inner = p.inner.data_ptr<T>()[b * p.inner.dim()];
    const T outer = p.outer.data_ptr<T>()[b * p.outer.dim()];
    const T gain = p.gain.data_ptr<T>()[b * p.gain.dim()];
    for (int64_t k = 0; k < Wf; ++k) {
      const BandValue<T> v =
          band_value<T>(p.kind, band_rho<T>(h, k, H, W), inner, outer, gain, static_cast<T>(p.temperature));
      w[2 * k] = w[2 * k + 1] = v.w;
      if (!d_inner.empty()) {
        d_inner[2 * k] = d_inner[2 * k + 1] = v.d_inner;
        d_outer[2 * k] = d_outer[2 * k + 1] = v.d_outer;
        d_gain[2 * k] = d_gain[2 * k + 1] = v.d_gain;
      }
    }
  }
};

// Re(g conj(s)) * d band / d param summed over a row, as sum_j g_j s_j d_j over the interleaved pairs.
template <typename T>
void accumulate_param_grads(const T* g, const T* s, const BandRow<T>& row, int64_t n, double& a_inner,
                            double& a_outer, double& a_gain) {
  const T* di = row.d_inner.data();
  const T* dou = row.d_outer.data();
  const T* dg = row.d_gain.data();
  double ai = 0, ao = 0, ag = 0;
#pragma omp simd reduction(+ : ai, ao, ag)
  for (int64_t j = 0; j < n; ++j) {
    const double dw = static_cast<double>(g[j]) * static_cast<double>(s[j]);
    ai += dw * di[j];
    ao += dw * dou[j];
    ag += dw * dg[j];
  }
  a_inner += ai;
  a_outer += ao;
  a_gain += ag;
}

at::Tensor spectral_band_weight_cpu(const at::Tensor& spec, const at::Tensor& inner, const at::Tensor& outer,
                                    const at::Tensor& gain, double temperature, int64_t width,
                                    c10::string_view kind) {
  check_spectrum(spec, width, "spec");
  const int64_t B = spec.size(0), C = spec.size(1), H = spec.size(2), Wf = spec.size(3);
  const auto real = c10::toRealValueType(spec.scalar_type());
  const BandParams p = band_params(inner, outer, gain, temperature, std::string(kind), B, real);
  const at::Tensor s = at::view_as_real(spec.resolve_conj().contiguous());
  at::Tensor out = at::empty_like(s);
  AT_DISPATCH_FLOATING_TYPES(real, "spectral_band_weight", [&] {
    using T = scalar_t;
    const T* src = s.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    at::parallel_for(0, B * H, 4, [&](int64_t r0, int64_t r1) {
      BandRow<T> row(Wf, false);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / H, h = r % H;
        row.fill(p, b, h, H, width);
        const T* w = row.w.data();
        for (int64_t c = 0; c < C; ++c) {
          const int64_t base = 2 * (((b * C + c) * H + h) * Wf);
          const T* x = src + base;
          T* y = dst + base;
          for (int64_t j = 0; j < 2 * Wf; ++j) y[j] = w[j] * x[j];
        }
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
  // Per-row partial sums of d loss / d (inner, outer, gain), reduced afterwards: no atomics.
  at::Tensor partial = at::zeros({B * H, 3}, spec.options().dtype(at::kDouble));
  AT_DISPATCH_FLOATING_TYPES(real, "_spectral_band_weight_backward", [&] {
    using T = scalar_t;
    const T* sp = s.data_ptr<T>();
    const T* gp = g.data_ptr<T>();
    T* out = mask[0] ? gs.data_ptr<T>() : nullptr;
    double* acc = partial.data_ptr<double>();
    at::parallel_for(0, B * H, 4, [&](int64_t r0, int64_t r1) {
      BandRow<T> row(Wf, need_params);
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t b = r / H, h = r % H;
        row.fill(p, b, h, H, width);
        const T* w = row.w.data();
        double a_inner = 0, a_outer = 0, a_gain = 0;
        for (int64_t c = 0; c < C; ++c) {
          const int64_t base = 2 * (((b * C + c) * H + h) * Wf);
          const T* gx = gp + base;
          if (out) {
            T* y = out + base;
            for (int64_t j = 0; j < 2 * Wf; ++j) y[j] = w[j] * gx[j];
          }
          if (need_params) {
            accumulate_param_grads(gx, sp + base, row, 2 * Wf, a_inner, a_outer, a_gain);
          }
        }
        double* a = acc + 3 * r;
        a[0] = a_inner;
        a[1] = a_outer;
        a[2] = a_gain;
      }
    });
  });
  const at::Tensor per_sample = partial.view({B, H, 3}).sum(1);  // [B, 3]
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
