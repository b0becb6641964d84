// The CUDA kernels of csrc/cuda run on the CPU (cuda_emulation.h) against ATen references and autograd:
// the fused round trip (explicit weight and band, forward and backward, MSE), the elementwise band kernel,
// over odd / prime / non-power-of-two sizes, strided inputs, batched planes and split reductions, launched with the
// plans of the production planner (csrc/cuda/roundtrip_plan.cpp) and the production choice of kernel per plane size.
// It checks the kernels' arithmetic and indexing, not their speed or the GPU memory model.
#include <ATen/ATen.h>

#include "cuda_emulation.h"

#include "cuda/band_weight.cuh"
#include "cuda/roundtrip_kernel.cuh"
#include "cuda/roundtrip_plan.h"

#include <cstdio>
#include <string>
#include <vector>

using namespace specdiff::cuda;
using specdiff::BandKind;

namespace {

int failures = 0;

void expect_close(const at::Tensor& got, const at::Tensor& want, double tol, const std::string& what) {
  const at::Tensor g = got.to(at::kDouble), w = want.to(at::kDouble);
  const bool same_shape = g.sizes() == w.sizes();
  const double err = same_shape ? (g - w).abs().max().item<double>() : INFINITY;
  const double scale = std::max(1.0, w.abs().max().item<double>());
  const bool ok = err <= tol * scale && !std::isnan(err);
  std::printf("%s %s: max error %.3g\n", ok ? "ok  " : "FAIL", what.c_str(), err);
  if (!ok) ++failures;
}

at::Tensor rfft2(const at::Tensor& x) { return at::fft_rfft2(x, c10::nullopt, {-2, -1}, "ortho"); }

at::Tensor irfft2(const at::Tensor& s, int64_t H, int64_t W) {
  return at::fft_irfft2(s, at::IntArrayRef({H, W}), {-2, -1}, "ortho");
}

// The inputs of the production planner (csrc/cuda/roundtrip_plan.cpp): the device's limits, the tuning, and the
// threads per emulated block (the kernels work for any count; a GPU launch uses kBlockThreads).
struct Plan {
  int64_t buffer_bytes;  // RoundTripTuning::buffer_bytes: 0 gives one plane per block
  int64_t sm_count;      // DeviceLimits::sm_count: the splits of a reducing launch
  int threads;
  // Shared memory for one plane per block and no room for a grad_weight accumulator (which must then go to global
  // memory), instead of an H100's 227 KiB.
  bool tight_smem = false;
  std::string name() const {
    return "buffer=" + std::to_string(buffer_bytes) + " sms=" + std::to_string(sm_count) + " threads=" +
           std::to_string(threads) + (tight_smem ? " tight smem" : "");
  }
};

// Plans `a` with the production planner (csrc/cuda/roundtrip_plan.cpp), every plane size fused as with
// SPECDIFF_CUDA_FUSE_ANY_SIZE=1; a plan that does not fit is a failure.
RoundTripArgs planned(RoundTripArgs a, int acc_per_bin, bool reduce, const Plan& plan) {
  int64_t smem = 227 * 1024;
  if (plan.tight_smem) {
    RoundTripArgs one = a;
    one.planes_per_block = 1;
    one.acc_in_global = true;
    roundtrip_layout(one, acc_per_bin, sizeof(double));
    smem = one.smem_bytes;
  }
  const DeviceLimits limits{smem, plan.sm_count};
  const RoundTripTuning tuning{int64_t{1} << 20, plan.buffer_bytes, /*fuse_any_size=*/true};
  if (!plan_roundtrip(a, acc_per_bin, reduce, limits, tuning)) {
    std::printf("FAIL plan: %dx%d does not fit %s\n", a.H, a.W, plan.name().c_str());
    ++failures;
  } else if (plan.tight_smem && acc_per_bin > 0 && !a.acc_in_global) {
    std::printf("FAIL plan: %dx%d with %s keeps the accumulator in shared memory it does not have\n", a.H, a.W,
                plan.name().c_str());
    ++failures;
  }
  return a;
}

// Runs the kernel the production launcher picks for the plane size (roundtrip_kernel_for) with a's plan.
template <typename T, typename S, class Weight>
void run_roundtrip(const RoundTripArgs& a, const Weight& weight, const Plan& plan) {
  emu::launch(roundtrip_kernel_for<T, S, Weight>(a.H, a.W), a.slices() * a.splits, plan.threads, a.smem_bytes, a,
              fft_factors(a.H), fft_factors(a.W), weight);
}

std::string plan_name(const RoundTripArgs& a, const Plan& plan) {
  return " [" + plan.name() + " -> P=" + std::to_string(a.planes_per_block) + " splits=" + std::to_string(a.splits) +
         (a.acc_in_global ? " acc in global" : "") + "]";
}

// Images in a permuted (channels-last) layout, so the kernels' stride handling is exercised.
at::Tensor image(int64_t B, int64_t C, int64_t H, int64_t W, at::ScalarType t) {
  return at::randn({B, H, W, C}, at::kDouble).permute({0, 3, 1, 2}).to(t);
}

// spectral_filter2d: group weight shapes [Bw, Cw] over B x C planes, real and complex.
void test_explicit(int64_t H, int64_t W, int64_t Bw, int64_t Cw, bool complex, Plan plan) {
  const int64_t B = 3, C = 2, Wf = W / 2 + 1;
  std::string name = "explicit " + std::to_string(H) + "x" + std::to_string(W) + " group [" + std::to_string(Bw) +
                     "," + std::to_string(Cw) + "]" + (complex ? " complex" : " real");
  const at::Tensor x = image(B, C, H, W, at::kDouble);
  const at::Tensor g = image(B, C, H, W, at::kDouble);
  const at::Tensor wg = complex ? at::randn({Bw, Cw, H, Wf}, at::kComplexDouble) : at::randn({Bw, Cw, H, Wf}, at::kDouble);
  const at::Tensor wdata = complex ? at::view_as_real(wg).contiguous() : wg.contiguous();

  const at::Tensor y = at::empty({B, C, H, W}, at::kDouble);
  RoundTripArgs a = roundtrip_args(x, Bw, Cw);
  a.out = y.data_ptr();
  a = planned(a, 0, false, plan);
  run_roundtrip<double, double>(a, ExplicitWeight<double>({wdata.const_data_ptr(), complex, false, nullptr}, a), plan);

  const at::Tensor xl = x.clone().requires_grad_(), wl = wg.clone().requires_grad_();
  const at::Tensor ref = irfft2(rfft2(xl) * wl, H, W);
  expect_close(y, ref, 1e-12, name + " forward" + plan_name(a, plan));
  ref.backward(g);

  const at::Tensor gx = at::empty({B, C, H, W}, at::kDouble);
  RoundTripArgs b = roundtrip_args(g, Bw, Cw);
  set_src(b, x);
  b.out = gx.data_ptr();
  b = planned(b, complex ? 2 : 1, true, plan);
  name += plan_name(b, plan);
  std::vector<int64_t> pshape = {Bw * Cw, b.splits, H, Wf};
  if (complex) pshape.push_back(2);
  const at::Tensor partial = at::empty(pshape, at::kDouble);
  run_roundtrip<double, double>(
      b, ExplicitWeight<double>({wdata.const_data_ptr(), complex, true, partial.data_ptr()}, b), plan);
  expect_close(gx, xl.grad(), 1e-12, name + " grad_x");
  const at::Tensor gw = partial.sum(1).view(wdata.sizes());
  expect_close(gw, complex ? at::view_as_real(wl.grad()) : wl.grad(), 1e-12, name + " grad_weight");
}

// Float32 and float16 storage (computed in float32) against the float64 reference.
template <typename S>
void test_reduced_precision(at::ScalarType t, double tol) {
  const int64_t B = 2, C = 3, H = 12, W = 10, Wf = W / 2 + 1;
  const at::Tensor x = image(B, C, H, W, t);
  const at::Tensor w = at::randn({C, H, Wf}, at::kComplexFloat);
  const at::Tensor wdata = at::view_as_real(w).contiguous();
  const at::Tensor y = at::empty({B, C, H, W}, t);
  const Plan plan{4096, 1, 64};
  RoundTripArgs a = roundtrip_args(x, 1, C);
  a.out = y.data_ptr();
  a = planned(a, 0, false, plan);
  run_roundtrip<float, S>(a, ExplicitWeight<float>({wdata.const_data_ptr(), true, false, nullptr}, a), plan);
  const at::Tensor ref = irfft2(rfft2(x.to(at::kDouble)) * w.to(at::kComplexDouble), H, W);
  expect_close(y, ref, tol, std::string("explicit 12x10 storage ") + c10::toString(t));
}

// The band of common/band.h in ATen, differentiable in the parameters: [B or 1, 1, H, Wf] (or the full
// spectrum [.., H, W] with `full`).
at::Tensor band_ref(BandKind kind, int64_t H, int64_t W, const at::Tensor& inner, const at::Tensor& outer,
                    const at::Tensor& gain, double T, bool full) {
  const at::TensorOptions o = at::TensorOptions().dtype(at::kDouble);
  const at::Tensor fy = at::fft_fftfreq(H, 1.0, o).view({H, 1});
  const at::Tensor fx = (full ? at::fft_fftfreq(W, 1.0, o) : at::fft_rfftfreq(W, 1.0, o)).view({1, -1});
  const at::Tensor rho = at::sqrt(fy * fy + fx * fx) / std::sqrt(0.5);
  auto param = [](const at::Tensor& p) { return p.dim() == 0 ? p : p.view({-1, 1, 1, 1}); };
  if (kind == BandKind::radial) return param(gain) * rho;
  return param(gain) * at::sigmoid(T * (rho - param(inner))) * (1 - at::sigmoid(T * (rho - param(outer))));
}

struct BandCase {
  BandKind kind;
  bool per_sample;
  std::string name() const {
    return std::string(kind == BandKind::radial ? "radial" : "bandpass") + (per_sample ? " [B]" : " 0-d");
  }
};

struct BandParamsRef {
  at::Tensor inner, outer, gain;
  BandParamsRef(int64_t B, bool per_sample) {
    const std::vector<int64_t> shape = per_sample ? std::vector<int64_t>{B} : std::vector<int64_t>{};
    inner = (0.2 + 0.2 * at::rand(shape, at::kDouble)).requires_grad_();
    outer = (0.6 + 0.2 * at::rand(shape, at::kDouble)).requires_grad_();
    gain = (0.5 + at::rand(shape, at::kDouble)).requires_grad_();
  }
  BandArgs args(BandKind kind, double T, void* partial, const void* slice_scale, double scale) const {
    BandArgs a{};
    a.kind = static_cast<int>(kind);
    a.temperature = T;
    a.inner = inner.const_data_ptr();
    a.outer = outer.const_data_ptr();
    a.gain = gain.const_data_ptr();
    a.inner_stride = inner.dim();
    a.outer_stride = outer.dim();
    a.gain_stride = gain.dim();
    a.slice_scale = slice_scale;
    a.scale = scale;
    a.partial = partial;
    return a;
  }
  // Per-slice sums [slices] of one parameter's gradient, reduced to its shape.
  static at::Tensor reduce(const at::Tensor& sums, const at::Tensor& p) {
    return p.dim() == 0 ? sums.sum() : sums;
  }
};

void test_band_roundtrip(BandCase bc, int64_t H, int64_t W, Plan plan) {
  const int64_t B = 3, C = 2;
  const double T = 12.0;
  const std::string name = "band filter " + bc.name() + " " + std::to_string(H) + "x" + std::to_string(W);
  const BandParamsRef p(B, bc.per_sample);
  const int64_t slices = bc.per_sample ? B : 1;
  const at::Tensor x = image(B, C, H, W, at::kDouble);
  const at::Tensor g = image(B, C, H, W, at::kDouble);

  const at::Tensor y = at::empty({B, C, H, W}, at::kDouble);
  RoundTripArgs a = roundtrip_args(x, slices, 1);
  a.out = y.data_ptr();
  a = planned(a, 0, false, plan);
  run_roundtrip<double, double>(a, BandWeight<double>(p.args(bc.kind, T, nullptr, nullptr, 1.0), H, W), plan);
  const at::Tensor xl = x.clone().requires_grad_();
  const at::Tensor ref = irfft2(rfft2(xl) * band_ref(bc.kind, H, W, p.inner, p.outer, p.gain, T, false), H, W);
  expect_close(y, ref, 1e-12, name + " forward");
  ref.backward(g);

  const at::Tensor gx = at::empty({B, C, H, W}, at::kDouble);
  RoundTripArgs b = roundtrip_args(g, slices, 1);
  set_src(b, x);
  b.out = gx.data_ptr();
  b = planned(b, 0, true, plan);
  const at::Tensor partial = at::empty({slices, b.splits, 4}, at::kDouble);
  run_roundtrip<double, double>(b, BandWeight<double>(p.args(bc.kind, T, partial.data_ptr(), nullptr, 1.0), H, W),
                                plan);
  expect_close(gx, xl.grad(), 1e-12, name + " grad_x");
  const at::Tensor sums = partial.sum(1);
  expect_close(BandParamsRef::reduce(sums.select(1, 3), p.gain), p.gain.grad(), 1e-11, name + " grad_gain");
  if (bc.kind == BandKind::bandpass) {
    expect_close(BandParamsRef::reduce(sums.select(1, 1), p.inner), p.inner.grad(), 1e-11, name + " grad_inner");
    expect_close(BandParamsRef::reduce(sums.select(1, 2), p.outer), p.outer.grad(), 1e-11, name + " grad_outer");
  }
}

// spectral_band_mse: loss[b] = sum over the full spectrum of band |fft2(r_b)|^2 / (C H W).
void test_band_mse(BandCase bc, int64_t H, int64_t W, Plan plan) {
  const int64_t B = 3, C = 2;
  const double T = 9.0, chw = static_cast<double>(C * H * W);
  const std::string name = "band mse " + bc.name() + " " + std::to_string(H) + "x" + std::to_string(W);
  const BandParamsRef p(B, bc.per_sample);
  const at::Tensor r = image(B, C, H, W, at::kDouble);
  const at::Tensor g = at::randn({B}, at::kDouble);

  RoundTripArgs a = roundtrip_args(r, B, 1);
  a.self_correlate = true;
  a = planned(a, 0, true, plan);
  const at::Tensor partial = at::empty({B, a.splits, 4}, at::kDouble);
  run_roundtrip<double, double>(a, BandWeight<double>(p.args(bc.kind, T, partial.data_ptr(), nullptr, 1.0), H, W),
                                plan);
  const at::Tensor rl = r.clone().requires_grad_();
  const at::Tensor F = at::fft_fft2(rl, c10::nullopt, {-2, -1}, "ortho");
  const at::Tensor band = band_ref(bc.kind, H, W, p.inner, p.outer, p.gain, T, true);
  const at::Tensor loss = (band * (at::real(F) * at::real(F) + at::imag(F) * at::imag(F))).sum({1, 2, 3}) / chw;
  expect_close(partial.sum(1).select(1, 0) / chw, loss, 1e-12, name + " loss");
  loss.backward(g);

  const at::Tensor gr = at::empty({B, C, H, W}, at::kDouble);
  RoundTripArgs b = roundtrip_args(r, B, 1);
  b.self_correlate = true;
  b.out = gr.data_ptr();
  b = planned(b, 0, true, plan);
  TORCH_CHECK(b.splits == a.splits, "the same launch shape plans the same splits");
  run_roundtrip<double, double>(
      b, BandWeight<double>(p.args(bc.kind, T, partial.data_ptr(), g.const_data_ptr(), 2.0 / chw), H, W), plan);
  expect_close(gr, rl.grad(), 1e-12, name + " grad_residual");
  const at::Tensor sums = partial.sum(1) * (g / chw).view({B, 1});
  expect_close(BandParamsRef::reduce(sums.select(1, 3), p.gain), p.gain.grad(), 1e-11, name + " grad_gain");
  if (bc.kind == BandKind::bandpass) {
    expect_close(BandParamsRef::reduce(sums.select(1, 1), p.inner), p.inner.grad(), 1e-11, name + " grad_inner");
    expect_close(BandParamsRef::reduce(sums.select(1, 2), p.outer), p.outer.grad(), 1e-11, name + " grad_outer");
  }
}

// spectral_band_weight: out = band * spec and its parameter gradients.
void test_band_spectrum(BandCase bc, int64_t H, int64_t W, int64_t splits) {
  const int64_t B = 3, C = 2, Wf = W / 2 + 1;
  const double T = 7.0;
  const std::string name = "band weight " + bc.name() + " " + std::to_string(H) + "x" + std::to_string(W);
  const BandParamsRef p(B, bc.per_sample);
  const int64_t slices = bc.per_sample ? B : 1;
  const at::Tensor spec = at::randn({B, C, H, Wf}, at::kComplexDouble);
  const at::Tensor grad = at::randn({B, C, H, Wf}, at::kComplexDouble);
  const at::Tensor out = at::empty_like(spec);
  const at::Tensor gs = at::empty_like(spec);
  const at::Tensor partial = at::empty({slices, splits, 4}, at::kDouble);
  auto run = [&](const at::Tensor& in, const at::Tensor* other, const at::Tensor& dst, void* part) {
    BandSpectrumArgs a{};
    a.dtype = Dtype::f64;
    a.numel = in.numel();
    a.slices = slices;
    a.splits = splits;
    a.H = static_cast<int>(H);
    a.W = static_cast<int>(W);
    a.in = in.const_data_ptr();
    a.other = other ? other->const_data_ptr() : nullptr;
    a.out = dst.data_ptr();
    emu::launch(band_spectrum_kernel<double, double>, slices * splits, 48, 4 * kBlockThreads * 8, a,
                BandWeight<double>(p.args(bc.kind, T, part, nullptr, 1.0), static_cast<int>(H), static_cast<int>(W)));
  };
  run(spec, nullptr, out, nullptr);
  const at::Tensor ref = spec * band_ref(bc.kind, H, W, p.inner, p.outer, p.gain, T, false);
  expect_close(at::view_as_real(out), at::view_as_real(ref.detach()), 1e-13, name + " forward");
  ref.backward(grad);
  run(grad, &spec, gs, partial.data_ptr());
  const at::Tensor band = band_ref(bc.kind, H, W, p.inner, p.outer, p.gain, T, false).detach();
  expect_close(at::view_as_real(gs), at::view_as_real(grad * band), 1e-13, name + " grad_spec");
  const at::Tensor sums = partial.sum(1);
  expect_close(BandParamsRef::reduce(sums.select(1, 3), p.gain), p.gain.grad(), 1e-11, name + " grad_gain");
  if (bc.kind == BandKind::bandpass) {
    expect_close(BandParamsRef::reduce(sums.select(1, 1), p.inner), p.inner.grad(), 1e-11, name + " grad_inner");
  }
}

}  // namespace

int main() {
  at::manual_seed(0);
  // Sizes: powers of two (16 and 32 through the compile-time radix-8 kernels), odd, a 1-wide side, primes
  // (13, 11: the direct-DFT stage), 5 * 4 and 3 * 4.
  const std::vector<std::pair<int64_t, int64_t>> sizes = {{8, 8},   {5, 7},   {1, 6},   {7, 1},  {13, 11},
                                                           {12, 20}, {16, 15}, {16, 16}, {32, 32}};
  // Plans from the production planner: one plane per block or batches of planes (buffer bytes), few or many splits
  // of a reduction (multiprocessors), and a grad_weight accumulator that must live in global memory (tight shared
  // memory); thread counts other than a GPU launch's check that the kernels stride by blockDim.
  for (auto [H, W] : sizes) test_explicit(H, W, 1, 1, false, {0, 1, 64});
  test_explicit(6, 10, 1, 2, true, {1 << 16, 1, 37});
  test_explicit(6, 10, 3, 1, true, {1 << 13, 2, 64});
  test_explicit(9, 8, 3, 2, false, {0, 8, 32});
  test_explicit(4, 6, 1, 1, true, {1 << 16, 1, 128});
  test_explicit(4, 6, 1, 1, true, {1 << 12, 1, 16});
  test_explicit(32, 32, 1, 1, true, {0, 1, 256});
  test_explicit(16, 16, 1, 2, true, {1 << 15, 1, 64});  // the last batch of a split has fewer planes than P
  test_explicit(16, 16, 1, 2, true, {0, 1, 64, true});
  test_explicit(9, 8, 3, 1, false, {0, 2, 32, true});
  test_reduced_precision<float>(at::kFloat, 1e-5);
  test_reduced_precision<__half>(at::kHalf, 2e-3);
  for (BandKind kind : {BandKind::radial, BandKind::bandpass}) {
    for (bool per_sample : {false, true}) {
      test_band_roundtrip({kind, per_sample}, 10, 9, {1 << 13, 1, 64});
      test_band_mse({kind, per_sample}, 9, 10, {0, 1, 48});
      test_band_spectrum({kind, per_sample}, 6, 11, 3);
    }
  }
  test_band_roundtrip({BandKind::bandpass, true}, 16, 16, {0, 1, 256});
  std::printf("%d failure(s)\n", failures);
  return failures == 0 ? 0 : 1;
}
