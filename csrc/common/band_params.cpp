#include "common/band_params.h"

#include <ATen/ATen.h>

#include <cmath>

#include "common/checks.h"

namespace specdiff {

namespace {

at::Tensor band_param(const at::Tensor& p, const char* name, int64_t batch, const at::Tensor& ref,
                      const char* ref_name, at::ScalarType compute) {
  check_same_device(ref, ref_name, p, name);
  TORCH_CHECK_TYPE(p.is_floating_point(), "specdiff: ", name, " must be a floating-point tensor, got ",
                   p.scalar_type());
  TORCH_CHECK_VALUE(p.dim() == 0 || (p.dim() == 1 && p.size(0) == batch), "specdiff: ", name,
                    " must be a 0-d tensor or of shape [B] = [", batch, "], got shape ", p.sizes());
  return p.to(compute).contiguous();
}

}  // namespace

void check_band_args(c10::string_view kind, double temperature) {
  TORCH_CHECK_VALUE(kind == "radial" || kind == "bandpass", "specdiff: kind must be one of 'radial', 'bandpass', got '",
                    kind, "'");
  TORCH_CHECK_VALUE(std::isfinite(temperature) && temperature > 0,
                    "specdiff: temperature must be a finite number > 0, got ", temperature);
}

BandParams parse_band(const at::Tensor& inner, const at::Tensor& outer, const at::Tensor& gain, double temperature,
                      c10::string_view kind, int64_t batch, const at::Tensor& ref, const char* ref_name,
                      at::ScalarType compute) {
  check_band_args(kind, temperature);
  BandParams p{kind == "radial" ? BandKind::radial : BandKind::bandpass,
               temperature,
               band_param(inner, "inner", batch, ref, ref_name, compute),
               band_param(outer, "outer", batch, ref, ref_name, compute),
               band_param(gain, "gain", batch, ref, ref_name, compute),
               false};
  p.per_sample = p.inner.dim() == 1 || p.outer.dim() == 1 || p.gain.dim() == 1;
  return p;
}

}  // namespace specdiff
