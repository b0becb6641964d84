#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

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

// Walks the spectrum row by row: each (b, h) row computes its mask values once (in-kernel, from the true
// FFT frequencies) and applies them to every channel. `fn(b, h, k, value, c_offset_of_row)` does the work.
template <typename T, typename Fn>
void for_each_band_row(const BandParams& p, int64_t B, int64_t H, int64_t W, bool derivatives, Fn fn) {
  const int64_t Wf = W / 2 + 1;
  const T* inner = p.inner.data_ptr<T>();
  const T* outer = p.outer.data_ptr<T>();
  const T* gain = p.gain.data_ptr<T>();
  const int64_t si = p.inner.dim(), so = p.outer.dim(), sg = p.gain.dim();
  at::parallel_for(0, B * H, 4, [&](int64_t r0, int64_t r1) {
    std::vector<BandValue<T>> row(Wf);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / H, h = r % H;
      for (int64_t k = 0; k < Wf; ++k) {
        row[k] = band_value<T>(p.kind, band_rho<T>(h, k, H, W), inner[b * si], outer[b * so], gain[b * sg],
                               static_cast<T>(p.temperature));
      }
      fn(b, h, row.data(), derivatives);
    }
  });
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
    for_each_band_row<T>(p, B, H, width, false, [&](int64_t b, int64_t h, const BandValue<T>* row, bool) {
      for (int64_t c = 0; c < C; ++c) {
        const int64_t base = 2 * (((b * C + c) * H + h) * Wf);
        for (int64_t k = 0; k < Wf; ++k) {
          dst[base + 2 * k] = row[k].w * src[base + 2 * k];
          dst[base + 2 * k + 1] = row[k].w * src[base + 2 * k + 1];
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
    for_each_band_row<T>(p, B, H, width, need_params, [&](int64_t b, int64_t h, const BandValue<T>* row, bool) {
      double a_inner = 0, a_outer = 0, a_gain = 0;
      for (int64_t c = 0; c < C; ++c) {
        const int64_t base = 2 * (((b * C + c) * H + h) * Wf);
        for (int64_t k = 0; k < Wf; ++k) {
          const T gr = gp[base + 2 * k], gi = gp[base + 2 * k + 1];
          if (out) {
            out[base + 2 * k] = row[k].w * gr;
            out[base + 2 * k + 1] = row[k].w * gi;
          }
          if (need_params) {
            const double dw = static_cast<double>(gr) * sp[base + 2 * k] + static_cast<double>(gi) * sp[base + 2 * k + 1];
            a_inner += dw * row[k].d_inner;
            a_outer += dw * row[k].d_outer;
            a_gain += dw * row[k].d_gain;
          }
        }
      }
      double* a = acc + 3 * (b * H + h);
      a[0] = a_inner;
      a[1] = a_outer;
      a[2] = a_gain;
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
