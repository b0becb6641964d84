#include "common/plane_weight.h"

#include <ATen/ATen.h>

#include <vector>

#include "common/checks.h"

namespace specdiff {

namespace {

// weight's shape left-padded with ones to rank 4.
std::vector<int64_t> rank4_shape(const at::Tensor& weight) {
  std::vector<int64_t> s(4 - weight.dim(), 1);
  for (int64_t d : weight.sizes()) s.push_back(d);
  return s;
}

}  // namespace

std::vector<int64_t> filter_grid(const at::Tensor& x, at::OptionalIntArrayRef s) {
  if (!s.has_value()) return {};
  const at::IntArrayRef g = *s;
  TORCH_CHECK(g.size() == 2 && g[0] >= x.size(2) && g[1] >= x.size(3),
              "specdiff: s must be two ints at least x's height and width (", x.size(2), ", ", x.size(3), "), got ",
              g);
  if (g[0] == x.size(2) && g[1] == x.size(3)) return {};
  return g.vec();
}

int64_t filter_responses(const at::Tensor& x, const at::Tensor& weight) {
  const int64_t C = x.dim() == 4 ? x.size(1) : 0, wchannels = weight.dim() >= 3 ? weight.size(-3) : 1;
  return C > 0 && wchannels > C && wchannels % C == 0 ? wchannels / C : 1;
}

PlaneWeight plane_weight(const at::Tensor& weight, const at::Tensor& x, at::ScalarType real,
                         at::IntArrayRef grid) {
  check_same_device(x, "x", weight, "weight");
  const int64_t B = x.size(0), C = x.size(1);
  const int64_t H = grid.empty() ? x.size(2) : grid[0], Wf = (grid.empty() ? x.size(3) : grid[1]) / 2 + 1;
  TORCH_CHECK(weight.dim() >= 1 && weight.dim() <= 4,
              "specdiff: weight must have 1 to 4 dims broadcastable to [B, C, H, W//2+1] = [", B, ", ", C, ", ", H,
              ", ", Wf, "], got shape ", weight.sizes());
  const std::vector<int64_t> s = rank4_shape(weight);
  const int64_t responses = filter_responses(x, weight);
  const int64_t full[4] = {B, C * responses, H, Wf};
  for (int i = 0; i < 4; ++i) {
    TORCH_CHECK(s[i] == 1 || s[i] == full[i], "specdiff: weight of shape ", weight.sizes(),
                " is not broadcastable to [B, C, H, W//2+1] = [", B, ", ", C, ", ", H, ", ", Wf,
                "] (nor [B, k C, H, W//2+1], k responses per channel)");
  }
  const at::Tensor w4 = weight.reshape(s).expand({s[0], s[1], H, Wf});
  if (!weight.is_complex()) return {w4.to(real).contiguous(), false, responses};
  const at::Tensor dense = w4.to(c10::toComplexType(real)).resolve_conj().resolve_neg().contiguous();
  return {at::view_as_real(dense).contiguous(), true, responses};
}

void check_filter_grad(const at::Tensor& grad, const at::Tensor& x, const PlaneWeight& w) {
  const std::vector<int64_t> out{x.size(0), x.size(1) * w.responses, x.size(2), x.size(3)};
  TORCH_CHECK(grad.sizes() == at::IntArrayRef(out) && grad.scalar_type() == x.scalar_type(),
              "specdiff: grad must have the output's shape ", at::IntArrayRef(out), " and x's dtype ",
              x.scalar_type(), ", got ", grad.sizes(), " ", grad.scalar_type());
}

at::Tensor repeat_responses(const at::Tensor& x, const PlaneWeight& w) {
  return w.responses == 1 ? x : x.repeat_interleave(w.responses, 1);
}

at::Tensor sum_responses(const at::Tensor& g, const PlaneWeight& w) {
  if (w.responses == 1) return g;
  return g.unflatten(1, {g.size(1) / w.responses, w.responses}).sum(2);
}

at::Tensor half_spectrum_doubling(int64_t W, const at::TensorOptions& options) {
  at::Tensor d = at::full({W / 2 + 1}, 2.0, options);
  d.index_put_({0}, 1.0);
  if (W % 2 == 0) d.index_put_({W / 2}, 1.0);
  return d;
}

at::Tensor spectra_grad_weight(const at::Tensor& G, const at::Tensor& X, const PlaneWeight& pw, int64_t W) {
  at::Tensor gw = G * X.conj() * half_spectrum_doubling(W, G.options().dtype(c10::toRealValueType(G.scalar_type())));
  std::vector<int64_t> dims;
  if (pw.data.size(0) == 1) dims.push_back(0);
  if (pw.data.size(1) == 1) dims.push_back(1);
  if (!dims.empty()) gw = gw.sum(dims, /*keepdim=*/true);
  return (pw.complex ? at::view_as_real(gw.resolve_conj()) : at::real(gw)).contiguous();
}

at::Tensor reduce_to_weight(const at::Tensor& acc, const PlaneWeight& pw, const at::Tensor& weight) {
  at::Tensor g = pw.complex ? at::view_as_complex(acc) : acc;
  const std::vector<int64_t> s = rank4_shape(weight);
  std::vector<int64_t> dims;
  for (int i = 2; i < 4; ++i) {
    if (s[i] == 1 && g.size(i) != 1) dims.push_back(i);
  }
  if (!dims.empty()) g = g.sum(dims, /*keepdim=*/true);
  return g.reshape(weight.sizes()).to(weight.scalar_type());
}

}  // namespace specdiff
