#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
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

// The band of one sample over the whole half spectrum, [H][2 * Wf]: each value written twice so that it lines
// up with the interleaved (re, im) pairs of the spectrum, and every inner loop is a unit-stride SIMD loop.
// Built once per sample (in-kernel, from the true FFT frequencies) and reused for all its channel planes,
// which are then streamed contiguously.
template <typename T>
struct BandTable {
  int64_t sample = -1;
  std::vector<T> w, d_inner, d_outer, d_gain;

  BandTable(int64_t n, bool derivatives)
      : w(n), d_inner(derivatives ? n : 0), d_outer(derivatives ? n : 0), d_gain(derivatives ? n : 0) {}

  // rho2: the radius of every (h, k) bin, duplicated like the table ([H][2 * Wf]).
  void fill(const BandParams& p, int64_t b, const std::vector<T>& rho2) {
    if (b == sample || (sample >= 0 && p.groups == 1)) return;  // shared parameters: one table for all
    sample = b;
    const int64_t g = p.groups == 1 ? 0 : b;
    const T inner = p.inner.data_ptr<T>()[g * p.inner.dim()];
    const T outer = p.outer.data_ptr<T>()[g * p.outer.dim()];
    const T gain = p.gain.data_ptr<T>()[g * p.gain.dim()];
    const T temp = static_cast<T>(p.temperature);
    const int64_t n = static_cast<int64_t>(w.size());
    const T* rho = rho2.data();
    T* pw = w.data();
    if (p.kind == BandKind::radial) {
      for (int64_t j = 0; j < n; ++j) pw[j] = gain * rho[j];
      if (!d_gain.empty()) {
        std::fill(d_inner.begin(), d_inner.end(), T(0));
        std::fill(d_outer.begin(), d_outer.end(), T(0));
        std::copy(rho2.begin(), rho2.end(), d_gain.begin());
      }
      return;
    }
    // band_value's band-pass branch, written as one loop the compiler vectorizes (exp included).
    const bool deriv = !d_inner.empty();
    T* di = deriv ? d_inner.data() : nullptr;
    T* dou = deriv ? d_outer.data() : nullptr;
    T* dg = deriv ? d_gain.data() : nullptr;
#pragma omp simd
    for (int64_t j = 0; j < n; ++j) {
      const T a = T(1) / (T(1) + std::exp(-temp * (rho[j] - inner)));
      const T c = T(1) / (T(1) + std::exp(-temp * (rho[j] - outer)));
      const T shape = a * (T(1) - c);
      pw[j] = gain * shape;
      if (deriv) {
        di[j] = -gain * temp * a * (T(1) - a) * (T(1) - c);
        dou[j] = gain * temp * a * c * (T(1) - c);
        dg[j] = shape;
      }
    }
  }
};

template <typename T>
std::vector<T> duplicated_rho(int64_t H, int64_t W) {
  const int64_t Wf = W / 2 + 1;
  std::vector<T> rho(2 * H * Wf);
  for (int64_t h = 0; h < H; ++h) {
    for (int64_t k = 0; k < Wf; ++k) rho[2 * (h * Wf + k)] = rho[2 * (h * Wf + k) + 1] = band_rho<T>(h, k, H, W);
  }
  return rho;
}

// sum_j g_j s_j d_j for the three parameter derivatives: Re(g conj(s)) d band / d param over one plane,
// accumulated in T (a plane is ~1e3-1e4 terms) and summed across planes in float64 by the caller.
template <typename T>
void accumulate_param_grads(const T* g, const T* s, const BandTable<T>& table, int64_t n, double* acc) {
  const T* di = table.d_inner.data();
  const T* dou = table.d_outer.data();
  const T* dg = table.d_gain.data();
  T ai = 0, ao = 0, ag = 0;
#pragma omp simd reduction(+ : ai, ao, ag)
  for (int64_t j = 0; j < n; ++j) {
    const T dw = g[j] * s[j];
    ai += dw * di[j];
    ao += dw * dou[j];
    ag += dw * dg[j];
  }
  acc[0] += ai;
  acc[1] += ao;
  acc[2] += ag;
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
  const int64_t n = 2 * H * Wf;
  AT_DISPATCH_FLOATING_TYPES(real, "spectral_band_weight", [&] {
    using T = scalar_t;
    const T* src = s.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    const std::vector<T> rho = duplicated_rho<T>(H, width);
    at::parallel_for(0, B * C, 1, [&](int64_t p0, int64_t p1) {
      BandTable<T> table(n, false);
      for (int64_t plane = p0; plane < p1; ++plane) {
        table.fill(p, plane / C, rho);
        const T* w = table.w.data();
        const T* x = src + plane * n;
        T* y = dst + plane * n;
        for (int64_t j = 0; j < n; ++j) y[j] = w[j] * x[j];
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
  const int64_t n = 2 * H * Wf;
  AT_DISPATCH_FLOATING_TYPES(real, "_spectral_band_weight_backward", [&] {
    using T = scalar_t;
    const T* sp = s.data_ptr<T>();
    const T* gp = g.data_ptr<T>();
    T* out = mask[0] ? gs.data_ptr<T>() : nullptr;
    double* acc = partial.data_ptr<double>();
    const std::vector<T> rho = duplicated_rho<T>(H, width);
    at::parallel_for(0, B * C, 1, [&](int64_t p0, int64_t p1) {
      BandTable<T> table(n, need_params);
      for (int64_t plane = p0; plane < p1; ++plane) {
        table.fill(p, plane / C, rho);
        const T* gx = gp + plane * n;
        if (out) {
          const T* w = table.w.data();
          T* y = out + plane * n;
          for (int64_t j = 0; j < n; ++j) y[j] = w[j] * gx[j];
        }
        if (need_params) accumulate_param_grads(gx, sp + plane * n, table, n, acc + 3 * plane);
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
