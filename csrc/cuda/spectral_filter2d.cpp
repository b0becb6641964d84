// CUDA implementation of spectral_filter2d and its backward: the fused shared-memory round trip
// (roundtrip_kernel.cuh) when a plane fits it, else cuFFT through ATen.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <array>
#include <vector>

#include "common/checks.h"
#include "cuda/roundtrip.h"

namespace specdiff::cuda {

namespace {

// The weight in the compute dtype, expanded over H and W/2+1 and stored per plane group:
// [Bw, Cw, H, Wf] (real) or [Bw, Cw, H, Wf, 2] (complex), Bw in {1, B}, Cw in {1, C} (cpu::PlaneWeight's layout).
struct GroupWeight {
  at::Tensor data;
  bool complex;
};

// Weight dtypes: x's dtype or its complex counterpart; for float16 / bfloat16 x also float32, complex32 and
// complex64 (the compute happens in float32 either way).
GroupWeight group_weight(const at::Tensor& weight, const at::Tensor& x) {
  check_same_device(x, "x", weight, "weight");
  const int64_t B = x.size(0), C = x.size(1), H = x.size(2), Wf = x.size(3) / 2 + 1;
  const at::ScalarType xt = x.scalar_type(), wt = weight.scalar_type(), real = compute_real_type(xt);
  const bool reduced = xt == at::kHalf || xt == at::kBFloat16;
  const bool complex = weight.is_complex();
  const bool dtype_ok = complex ? wt == c10::toComplexType(real) || (reduced && wt == at::kComplexHalf)
                                : wt == xt || (reduced && wt == at::kFloat);
  TORCH_CHECK(dtype_ok, "specdiff: weight must be ", xt, " or ", c10::toComplexType(real),
              reduced ? " (or float32 / complex32)" : "", " to match x, got ", wt);
  TORCH_CHECK(weight.dim() >= 1 && weight.dim() <= 4,
              "specdiff: weight must have 1 to 4 dims broadcastable to [B, C, H, W//2+1] = [", B, ", ", C, ", ", H,
              ", ", Wf, "], got shape ", weight.sizes());
  std::vector<int64_t> s(4 - weight.dim(), 1);
  for (int64_t d : weight.sizes()) s.push_back(d);
  const int64_t full[4] = {B, C, H, Wf};
  for (int i = 0; i < 4; ++i) {
    TORCH_CHECK(s[i] == 1 || s[i] == full[i], "specdiff: weight of shape ", weight.sizes(),
                " is not broadcastable to [B, C, H, W//2+1] = [", B, ", ", C, ", ", H, ", ", Wf, "]");
  }
  const at::Tensor w4 = weight.reshape(s).expand({s[0], s[1], H, Wf});
  if (complex) return {at::view_as_real(dense(w4.to(c10::toComplexType(real)))).contiguous(), true};
  return {w4.to(real).contiguous(), false};
}

// The group weight as a tensor broadcasting against [B, C, H, Wf] spectra, for the cuFFT path.
// The fused kernel and the CPU engine take the real part of the DC and Nyquist columns after the inverse
// transform along H (torch.fft.irfft's documented convention); cuFFT's C2R does not reliably do so for
// non-Hermitian input (pytorch/pytorch#154496). The spectra of real images are Hermitian along H in those
// columns, so weighting them by (w[h] + conj w[-h]) / 2 there gives every C2R a Hermitian input whose
// transform is that real part.
at::Tensor spectrum_weight(const GroupWeight& w, bool conj, int64_t W) {
  const at::Tensor wc = w.complex ? at::view_as_complex(w.data) : w.data;
  at::Tensor out = wc.clone();
  std::vector<int64_t> edges = {0};
  if (W % 2 == 0) edges.push_back(W / 2);
  for (int64_t k : edges) {
    const at::Tensor col = wc.select(3, k);
    const at::Tensor mirrored = at::roll(at::flip(col, {2}), {1}, {2});  // col[(-h) mod H]
    out.select(3, k).copy_((col + mirrored.conj()) * 0.5);
  }
  return conj && w.complex ? out.conj() : out;
}

// grad_weight per plane group from the spectra G of grad and X of x: D G conj(X) summed over the planes
// of each group, laid out like GroupWeight::data.
at::Tensor aten_grad_weight(const at::Tensor& G, const at::Tensor& X, const GroupWeight& w, int64_t W) {
  at::Tensor gw = G * X.conj() * half_spectrum_doubling(W, w.data.options());
  std::vector<int64_t> dims;
  if (w.data.size(0) == 1) dims.push_back(0);
  if (w.data.size(1) == 1) dims.push_back(1);
  if (!dims.empty()) gw = gw.sum(dims, /*keepdim=*/true);
  return (w.complex ? at::view_as_real(gw.resolve_conj()) : at::real(gw)).contiguous();
}

// Sums the plane-group gradient over the dims the caller's weight broadcasts in, back to its shape and dtype.
at::Tensor reduce_to_weight(const at::Tensor& acc, const GroupWeight& w, const at::Tensor& weight) {
  at::Tensor g = w.complex ? at::view_as_complex(acc) : acc;
  std::vector<int64_t> s(4 - weight.dim(), 1);
  for (int64_t d : weight.sizes()) s.push_back(d);
  std::vector<int64_t> dims;
  for (int i = 2; i < 4; ++i) {
    if (s[i] == 1 && g.size(i) != 1) dims.push_back(i);
  }
  if (!dims.empty()) g = g.sum(dims, /*keepdim=*/true);
  return g.reshape(weight.sizes()).to(weight.scalar_type());
}

at::Tensor spectral_filter2d_cuda(const at::Tensor& x, const at::Tensor& weight) {
  check_cuda_image(x, "x");
  const c10::cuda::CUDAGuard guard(x.device());
  const GroupWeight w = group_weight(weight, x);
  at::Tensor out = at::empty(x.sizes(), x.options());
  if (x.numel() == 0) return out;
  RoundTripArgs a = roundtrip_args(x, w.data.size(0), w.data.size(1));
  a.out = out.data_ptr();
  if (plan_roundtrip(a, /*acc_per_bin=*/0, /*reduce=*/false)) {
    launch_explicit_roundtrip(a, {w.data.const_data_ptr(), w.complex, false, nullptr},
                              c10::cuda::getCurrentCUDAStream());
  } else {
    out.copy_(irfft2(rfft2(x) * spectrum_weight(w, false, x.size(3)), x.size(2), x.size(3)));
  }
  return out;
}

std::tuple<at::Tensor, at::Tensor> spectral_filter2d_backward_cuda(const at::Tensor& grad, const at::Tensor& x,
                                                                   const at::Tensor& weight,
                                                                   std::array<bool, 2> mask) {
  check_cuda_image(grad, "grad");
  check_cuda_image(x, "x");
  check_same_device(x, "x", grad, "grad");
  TORCH_CHECK(grad.sizes() == x.sizes() && grad.scalar_type() == x.scalar_type(),
              "specdiff: grad must match x in shape and dtype");
  const c10::cuda::CUDAGuard guard(x.device());
  const GroupWeight w = group_weight(weight, x);
  const bool need_x = mask[0], need_w = mask[1];
  const int64_t H = x.size(2), W = x.size(3);
  at::Tensor gx = need_x ? at::empty(x.sizes(), x.options()) : at::zeros(x.sizes(), x.options());
  at::Tensor acc = need_w ? at::zeros(w.data.sizes(), w.data.options()) : at::Tensor();
  if (x.numel() > 0 && (need_x || need_w)) {
    RoundTripArgs a = roundtrip_args(grad, w.data.size(0), w.data.size(1));
    if (need_w) set_src(a, x);
    if (need_x) a.out = gx.data_ptr();
    if (plan_roundtrip(a, need_w ? (w.complex ? 2 : 1) : 0, /*reduce=*/need_w)) {
      std::vector<int64_t> partial_shape = {a.slices(), a.splits, H, W / 2 + 1};
      if (w.complex) partial_shape.push_back(2);
      const at::Tensor partial = need_w ? at::empty(partial_shape, w.data.options()) : at::Tensor();
      launch_explicit_roundtrip(a, {w.data.const_data_ptr(), w.complex, true, need_w ? partial.data_ptr() : nullptr},
                                c10::cuda::getCurrentCUDAStream());
      if (need_w) acc = partial.sum(1).view(w.data.sizes());
    } else {
      const at::Tensor G = rfft2(grad);
      if (need_x) gx.copy_(irfft2(G * spectrum_weight(w, true, W), H, W));
      if (need_w) acc = aten_grad_weight(G, rfft2(x), w, W);
    }
  }
  at::Tensor gw = need_w ? reduce_to_weight(acc, w, weight) : at::zeros_like(weight);
  return {gx, gw};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CUDA, m) {
  m.impl("spectral_filter2d", &spectral_filter2d_cuda);
  m.impl("_spectral_filter2d_backward", &spectral_filter2d_backward_cuda);
}

}  // namespace specdiff::cuda
