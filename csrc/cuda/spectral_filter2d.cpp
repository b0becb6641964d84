// CUDA implementation of spectral_filter2d and its backward: the fused shared-memory round trip
// (roundtrip_kernel.cuh) when a plane fits it, else cuFFT through ATen.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include <array>
#include <vector>

#include "common/checks.h"
#include "common/plane_weight.h"
#include "cuda/roundtrip.h"

namespace specdiff::cuda {

namespace {

// Weight dtypes: x's dtype or its complex counterpart; for float16 / bfloat16 x also float32, complex32 and
// complex64. The plane-group layout (common/plane_weight.h) is in the compute dtype.
PlaneWeight group_weight(const at::Tensor& weight, const at::Tensor& x) {
  const at::ScalarType xt = x.scalar_type(), wt = weight.scalar_type(), real = compute_real_type(xt);
  const bool reduced = xt == at::kHalf || xt == at::kBFloat16;
  const bool dtype_ok = weight.is_complex() ? wt == c10::toComplexType(real) || (reduced && wt == at::kComplexHalf)
                                            : wt == xt || (reduced && wt == at::kFloat);
  TORCH_CHECK(dtype_ok, "specdiff: weight must be ", xt, " or ", c10::toComplexType(real),
              reduced ? " (or float32 / complex32)" : "", " to match x, got ", wt);
  return plane_weight(weight, x, real);
}

// The group weight as a tensor broadcasting against [B, C, H, Wf] spectra, for the cuFFT path.
// The fused kernel and the CPU engine take the real part of the DC and Nyquist columns after the inverse
// transform along H (torch.fft.irfft's documented convention); cuFFT's C2R does not reliably do so for
// non-Hermitian input (pytorch/pytorch#154496). The spectra of real images are Hermitian along H in those
// columns, so weighting them by (w[h] + conj w[-h]) / 2 there gives every C2R a Hermitian input whose
// transform is that real part.
at::Tensor spectrum_weight(const PlaneWeight& w, bool conj, int64_t W) {
  // Real arithmetic on the [.., H, Wf(, 2)] layout, no conjugate or negative views: with a complex weight
  // and a Python dispatch mode active (torch.compile's AOTAutograd), the lazy-conjugate form of this
  // gave wrong values.
  at::Tensor out = w.data.clone(at::MemoryFormat::Contiguous);
  const at::Tensor sign = w.complex ? at::tensor({1.0, -1.0}, out.options()) : at::Tensor();
  // The DC column, and for even W the Nyquist column (the last), as one strided view [.., H, 1 or 2(, 2)].
  const int64_t Wf = W / 2 + 1, step = W % 2 == 0 && Wf > 1 ? Wf - 1 : Wf;
  const at::Tensor edges = out.slice(3, 0, Wf, step);
  at::Tensor mirrored = at::roll(at::flip(edges, {2}), {1}, {2});  // edges[(-h) mod H]
  if (w.complex) mirrored = mirrored * sign;                         // conj
  edges.copy_((edges + mirrored).mul_(0.5));
  if (conj && w.complex) out.mul_(sign);
  return w.complex ? at::view_as_complex(out) : out;
}

// A transform grid larger than the planes (spectral_filter2d's `s`): x zero-padded at the end to it, then cropped.
// Separate passes around the fused kernel (the CPU round trip pads and crops inside its passes).
at::Tensor pad_to(const at::Tensor& t, const std::vector<int64_t>& grid) {
  return at::constant_pad_nd(t, {0, grid[1] - t.size(3), 0, grid[0] - t.size(2)});
}

at::Tensor crop_to(const at::Tensor& t, const at::Tensor& like) {
  return t.narrow(2, 0, like.size(2)).narrow(3, 0, like.size(3)).contiguous();
}

at::Tensor spectral_filter2d_cuda(const at::Tensor& x, const at::Tensor& weight, at::OptionalIntArrayRef s) {
  check_cuda_image(x, "x");
  const std::vector<int64_t> grid = filter_grid(x, s);
  if (!grid.empty()) return crop_to(spectral_filter2d_cuda(pad_to(x, grid), weight, c10::nullopt), x);
  const c10::cuda::CUDAGuard guard(x.device());
  const PlaneWeight w = group_weight(weight, x);
  // R responses per channel: x's channels repeated R times (a separate pass; the CPU round trip transforms x once).
  if (w.responses > 1) return spectral_filter2d_cuda(repeat_responses(x, w), weight, c10::nullopt);
  at::Tensor out = at::empty(x.sizes(), x.options());
  if (x.numel() == 0) return out;
  RoundTripArgs a = roundtrip_args(x, w.data.size(0), w.data.size(1));
  a.out = out.data_ptr();
  if (plan_roundtrip(a, /*acc_per_bin=*/0, /*reduce=*/false)) {
    launch_explicit_roundtrip(a, {w.data.const_data_ptr(), w.complex, false, nullptr},
                              c10::cuda::getCurrentCUDAStream());
  } else {
    // Copied into `out`: cuFFT's C2R result need not be contiguous, and the fake impl (what torch.compile
    // plans with) promises a contiguous output; returning other strides gave wrong values under AOTAutograd.
    out.copy_(irfft2(rfft2(x) * spectrum_weight(w, false, x.size(3)), x.size(2), x.size(3)));
  }
  return out;
}

std::tuple<at::Tensor, at::Tensor> spectral_filter2d_backward_cuda(const at::Tensor& grad, const at::Tensor& x,
                                                                   const at::Tensor& weight,
                                                                   std::array<bool, 2> mask,
                                                                   at::OptionalIntArrayRef s) {
  check_cuda_image(grad, "grad");
  check_cuda_image(x, "x");
  check_same_device(x, "x", grad, "grad");
  const std::vector<int64_t> grid = filter_grid(x, s);
  if (!grid.empty()) {
    auto [gx, gw] = spectral_filter2d_backward_cuda(pad_to(grad, grid), pad_to(x, grid), weight, mask, c10::nullopt);
    return {crop_to(gx, x), gw};
  }
  const c10::cuda::CUDAGuard guard(x.device());
  const PlaneWeight w = group_weight(weight, x);
  check_filter_grad(grad, x, w);
  if (w.responses > 1) {
    auto [gx, gw] = spectral_filter2d_backward_cuda(grad, repeat_responses(x, w), weight, mask, c10::nullopt);
    return {sum_responses(gx, w), gw};
  }
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
      if (need_x) gx.copy_(irfft2(G * spectrum_weight(w, true, W), H, W));  // contiguous, as the fake impl
      if (need_w) acc = spectra_grad_weight(G, rfft2(x), w, W);
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
