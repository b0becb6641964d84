#include "cpu/band_params.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <cmath>

namespace specdiff::cpu {

namespace {

at::Tensor check_param(const at::Tensor& t, const char* name, int64_t batch, at::ScalarType dtype) {
  TORCH_CHECK(t.scalar_type() == dtype, "specdiff: ", name, " must be ", dtype, ", got ", t.scalar_type());
  TORCH_CHECK(t.dim() == 0 || (t.dim() == 1 && t.size(0) == batch), "specdiff: ", name,
              " must be a 0-d tensor or of shape [B] = [", batch, "], got shape ", t.sizes());
  return t.contiguous();
}

}  // namespace

BandParams band_params(const at::Tensor& inner, const at::Tensor& outer, const at::Tensor& gain,
                       double temperature, const std::string& kind, int64_t batch, at::ScalarType dtype) {
  TORCH_CHECK(kind == "radial" || kind == "bandpass", "specdiff: kind must be 'radial' or 'bandpass', got '", kind,
              "'");
  TORCH_CHECK(std::isfinite(temperature) && temperature > 0, "specdiff: temperature must be a finite number > 0, got ",
              temperature);
  BandParams p{check_param(inner, "inner", batch, dtype), check_param(outer, "outer", batch, dtype),
               check_param(gain, "gain", batch, dtype), temperature,
               kind == "radial" ? BandKind::radial : BandKind::bandpass, 1};
  if (p.inner.dim() == 1 || p.outer.dim() == 1 || p.gain.dim() == 1) p.groups = batch;
  return p;
}

BandMask band_mask(const BandParams& p, int64_t H, int64_t W, bool derivatives) {
  const int64_t Wf = W / 2 + 1, G = p.groups;
  const auto opts = p.inner.options();
  BandMask m{at::empty({G, 1, H, Wf}, opts), at::Tensor(), at::Tensor(), at::Tensor()};
  if (derivatives) {
    m.d_inner = at::empty({G, 1, H, Wf}, opts);
    m.d_outer = at::empty({G, 1, H, Wf}, opts);
    m.d_gain = at::empty({G, 1, H, Wf}, opts);
  }
  AT_DISPATCH_FLOATING_TYPES(opts.dtype().toScalarType(), "band_mask", [&] {
    using T = scalar_t;
    const T* inner = p.inner.data_ptr<T>();
    const T* outer = p.outer.data_ptr<T>();
    const T* gain = p.gain.data_ptr<T>();
    const int64_t si = p.inner.dim(), so = p.outer.dim(), sg = p.gain.dim();  // 1 when per sample
    T* w = m.w.data_ptr<T>();
    T* di = derivatives ? m.d_inner.data_ptr<T>() : nullptr;
    T* dout = derivatives ? m.d_outer.data_ptr<T>() : nullptr;
    T* dg = derivatives ? m.d_gain.data_ptr<T>() : nullptr;
    at::parallel_for(0, G * H, 16, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        const int64_t g = r / H, h = r % H;
        for (int64_t k = 0; k < Wf; ++k) {
          const BandValue<T> v = band_value<T>(p.kind, band_rho<T>(h, k, H, W), inner[g * si], outer[g * so],
                                               gain[g * sg], static_cast<T>(p.temperature));
          const int64_t i = r * Wf + k;
          w[i] = v.w;
          if (derivatives) {
            di[i] = v.d_inner;
            dout[i] = v.d_outer;
            dg[i] = v.d_gain;
          }
        }
      }
    });
  });
  return m;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> band_param_grads(const at::Tensor& grad_mask, const BandMask& m,
                                                                const BandParams& p,
                                                                const std::array<bool, 4>& output_mask) {
  auto one = [&](bool need, const at::Tensor& d, const at::Tensor& param) {
    if (!need) return at::zeros_like(param);
    at::Tensor per_group = (grad_mask * d.to(grad_mask.scalar_type())).sum({1, 2, 3});  // [G]
    at::Tensor g = param.dim() == 0 ? per_group.sum() : per_group.expand({param.size(0)});
    return g.to(param.scalar_type()).contiguous();
  };
  return {one(output_mask[1], m.d_inner, p.inner), one(output_mask[2], m.d_outer, p.outer),
          one(output_mask[3], m.d_gain, p.gain)};
}

}  // namespace specdiff::cpu
