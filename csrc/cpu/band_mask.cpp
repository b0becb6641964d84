#include "cpu/band_mask.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <vector>

#include "common/cpu_caches.h"
#include "cpu/lanes/band_scale.h"

namespace specdiff::cpu {

BandParams cpu_band(const at::Tensor& inner, const at::Tensor& outer, const at::Tensor& gain, double temperature,
                    c10::string_view kind, int64_t batch, const at::Tensor& x, const char* x_name) {
  return parse_band(inner, outer, gain, temperature, kind, batch, x, x_name, c10::toRealValueType(x.scalar_type()));
}

bool band_planes_in_pairs(int64_t plane_bytes, int tables) { return tables * plane_bytes > cpu_caches().l1d; }

BandMask band_mask(const BandParams& p, int64_t batch, int64_t H, int64_t W, bool derivatives) {
  TORCH_CHECK(H >= 1 && W >= 1, "specdiff: internal: band_mask needs H, W >= 1, got ", H, "x", W);
  const int64_t Wf = W / 2 + 1, G = p.groups(batch);
  const int64_t per_group = H * Wf;
  const auto opts = p.inner.options();
  const std::vector<int64_t> shape{G, 1, H, Wf};
  BandMask m{at::empty(shape, opts), at::Tensor(), at::Tensor(), at::Tensor()};
  if (derivatives) {
    m.d_inner = at::empty(shape, opts);
    m.d_outer = at::empty(shape, opts);
    m.d_gain = at::empty(shape, opts);
  }
  AT_DISPATCH_FLOATING_TYPES(opts.dtype().toScalarType(), "band_mask", [&] {
    using T = scalar_t;
    const T* inner = p.inner.data_ptr<T>();
    const T* outer = p.outer.data_ptr<T>();
    const T* gain = p.gain.data_ptr<T>();
    const int64_t si = p.inner.dim(), so = p.outer.dim(), sg = p.gain.dim();  // 1 when per sample
    const std::vector<T> rho = band_radii<T>(H, W);
    T* base[4] = {m.w.data_ptr<T>(), derivatives ? m.d_inner.data_ptr<T>() : nullptr,
                  derivatives ? m.d_outer.data_ptr<T>() : nullptr, derivatives ? m.d_gain.data_ptr<T>() : nullptr};
    const BandFillFn<T> fill = band_scale_lanes<T>().fill;
    at::parallel_for(0, G, 1, [&](int64_t g0, int64_t g1) {
      std::vector<T> scratch(band_fill_scratch(H, Wf));
      for (int64_t g = g0; g < g1; ++g) {
        const BandShape<T> band{p.kind, inner[g * si], outer[g * so], gain[g * sg], static_cast<T>(p.temperature)};
        T* tables[4];
        for (int t = 0; t < 4; ++t) tables[t] = base[t] ? base[t] + g * per_group : nullptr;
        fill(band, rho.data(), H, Wf, false, tables, scratch.data());
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
