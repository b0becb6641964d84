// spectral_conv2d on the CPU: a convolution computed in frequency, its per-bin channel mixing drawn from K shared
// frequency responses (the bases) with a real C_out x C_in matrix each (the taps). Three phases per call, each a
// parallel loop: the half spectra of every input plane to memory, bin-major (lanes/spectra.h: store); per chunk of
// bins, the mixing matrices M(f) = sum_j basis_j(f) taps_j built in the thread's workspace and applied to all
// samples at once (one complex GEMM per bin); the inverse transforms of the mixed spectra. The backward transforms
// the upstream gradient and x the same way, runs two GEMMs per bin (the input's gradient, and the correlation
// dM(f) that the bases' and the taps' gradients are read from) and transforms the input's gradient back. When the
// bases or the taps need their gradient, the autograd keeps the forward's spectra of x (_spectral_conv2d_saving) and
// hands them to the backward (_spectral_conv2d_backward_saved), which then transforms only the upstream gradient.
//
// Sizes whose prime factors exceed the lane FFT's radices take the same computation through ATen's FFT.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <atomic>
#include <tuple>
#include <vector>

#include "common/checks.h"
#include "common/cpu_caches.h"
#include "common/fft_plan.h"
#include "common/plane_weight.h"
#include "cpu/lanes/spectra.h"
#include "cpu/roundtrip.h"
#include "cpu/workspace.h"

namespace specdiff::cpu {

namespace {

// Bins whose mixing matrices a thread builds at once: one GEMM over the chunk builds them (the bases' rows), and
// the chunk's matrices stay in the thread's L2 while its bins are mixed.
int64_t chunk_bins(int64_t cin, int64_t cout, int64_t elem) {
  const int64_t per_bin = 4 * cin * cout * elem;  // M and its gradient, real and imaginary parts
  return std::clamp<int64_t>(cpu_caches().l2 / 4 / std::max<int64_t>(per_bin, 1), 1, 64);
}

struct ConvShape {
  int64_t B, Cin, Cout, K, ph, pw, H, W, Wf, bins;
};

// The shape of a call on `x` (or on an x of `grad`'s B, H, W and taps' C_in, given `saved` x's spectra instead).
ConvShape check_conv(const at::Tensor& x, const at::Tensor& basis, const at::Tensor& taps,
                     const std::vector<int64_t>& grid, bool saved = false) {
  const char* name = saved ? "grad" : "x";
  check_real_image(x, name);
  check_not_empty(x, name, saved ? "[B, C_out, H, W]" : "[B, C, H, W]");
  check_same_device(x, name, basis, "basis");
  check_same_device(x, name, taps, "taps");
  const at::ScalarType xt = x.scalar_type(), ct = c10::toComplexType(xt);
  TORCH_CHECK(basis.scalar_type() == ct, "specdiff: basis must be ", ct, " to match ", name, ", got ",
              basis.scalar_type());
  TORCH_CHECK(taps.scalar_type() == xt, "specdiff: taps must be ", xt, " to match ", name, ", got ",
              taps.scalar_type());
  ConvShape s{};
  s.B = x.size(0);
  s.Cin = saved && taps.dim() == 3 ? taps.size(2) : x.size(1);
  s.ph = x.size(2);
  s.pw = x.size(3);
  s.H = grid.empty() ? s.ph : grid[0];
  s.W = grid.empty() ? s.pw : grid[1];
  s.Wf = s.W / 2 + 1;
  s.bins = s.H * s.Wf;
  TORCH_CHECK_VALUE(basis.dim() == 3 && basis.size(0) >= 1 && basis.size(1) == s.H && basis.size(2) == s.Wf,
                    "specdiff: basis must be [K, H, W//2+1] = [K, ", s.H, ", ", s.Wf,
                    "] (K >= 1, the half spectrum of the transform grid), got shape ", basis.sizes());
  s.K = basis.size(0);
  TORCH_CHECK_VALUE(taps.dim() == 3 && taps.size(0) == s.K && taps.size(1) >= 1 && taps.size(2) == s.Cin,
                    "specdiff: taps must be [K, C_out, C_in] = [", s.K, ", C_out, ", s.Cin,
                    "] (K of basis, C_in of x, C_out >= 1), got shape ", taps.sizes());
  s.Cout = taps.size(1);
  return s;
}

// The transforms of one call: geometry and FFT plans shared by every block.
template <typename T>
struct Transforms {
  const SpectraKernels<T>& k;
  FftPlan<T> plan_h, plan_w;
  RoundTripGeometry<T> g{};
  int64_t P, scratch_bytes;

  explicit Transforms(const ConvShape& s)
      : k(spectra_lanes<T>()), plan_h(static_cast<int>(s.H)), plan_w(static_cast<int>(s.W)) {
    P = k.lanes;
    g.rows = plan_w.view();
    g.cols = plan_h.view();
    g.H = s.H;
    g.W = s.W;
    g.ph = s.ph;
    g.pw = s.pw;
    g.ld = roundtrip_column_stride(s.H, P * static_cast<int64_t>(sizeof(T)), cpu_caches().l1d_set_period());
    g.weight_complex = true;
    g.stream_out = false;
    scratch_bytes = roundtrip_scratch_elems(s.H, s.W, static_cast<int>(P)) * static_cast<int64_t>(sizeof(T));
  }

  // Runs `entry` over blocks of P of the B C planes of [B, C, ...] whose spectra live at spec [bins][B][2][C] (the C
  // real parts of a sample's bin, then its C imaginary parts); `in` or `out` names the planes.
  template <typename Fill>
  void blocks(int64_t B, int64_t C, T* spec, SpectraFn<T> entry, const RoundTripGeometry<T>& geo, Fill fill) const {
    const int64_t N = B * C, nblocks = (N + P - 1) / P;
    at::parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
      SpectraBlock<T> blk{};
      blk.scratch = reinterpret_cast<T*>(thread_workspace(scratch_bytes));
      blk.bin_stride = B * 2 * C;
      blk.imag_offset = C;
      for (int64_t blkno = b0; blkno < b1; ++blkno) {
        const int64_t n0 = blkno * P;
        blk.count = static_cast<int>(std::min<int64_t>(P, N - n0));
        blk.contiguous = blk.count == P && n0 % C + P <= C;
        for (int l = 0; l < P; ++l) {
          const int64_t n = n0 + (l < blk.count ? l : 0);
          blk.spec[l] = spec + n / C * 2 * C + n % C;
          fill(blk, l, n / C, n % C, n);
        }
        entry(geo, blk);
      }
    });
  }

  // spec = rfft2 of the planes of t ([B, C, ph, pw], any strides).
  void store(const at::Tensor& t, T* spec) const {
    RoundTripGeometry<T> geo = g;
    geo.in_sh = t.stride(2);
    geo.in_sw = t.stride(3);
    const T* base = t.const_data_ptr<T>();
    const int64_t s0 = t.stride(0), s1 = t.stride(1);
    blocks(t.size(0), t.size(1), spec, k.store, geo, [&](SpectraBlock<T>& blk, int l, int64_t b, int64_t c, int64_t) {
      blk.in[l] = base + b * s0 + c * s1;
    });
  }

  // out ([B, C, ph, pw], contiguous) = irfft2 of spec.
  void load_inverse(const T* spec, at::Tensor& out) const {
    T* base = out.mutable_data_ptr<T>();
    const int64_t plane = g.ph * g.pw;
    blocks(out.size(0), out.size(1), const_cast<T*>(spec), k.load_inverse, g,
           [&](SpectraBlock<T>& blk, int l, int64_t, int64_t, int64_t n) { blk.out[l] = base + n * plane; });
  }
};

// The bases as split matrices over (bin, j): element (f, j) of basis [K, bins] (complex, interleaved).
template <typename T>
SplitMatrix<T> basis_by_bin(const T* basis, int64_t bins, int64_t f0) {
  return {basis + 2 * f0, basis + 2 * f0 + 1, 2, 2 * bins};
}

// x's spectra go to `saved` when given (the saving forward's second output), else to the call's workspace.
template <typename T>
void forward_kernel(const ConvShape& s, const at::Tensor& x, const at::Tensor& basis, const at::Tensor& taps,
                    at::Tensor& y, T* saved) {
  const Transforms<T> tr(s);
  const int64_t B = s.B, Cin = s.Cin, Cout = s.Cout, K = s.K, bins = s.bins, L = Cin * Cout;
  T* xs = saved ? saved : reinterpret_cast<T*>(call_workspace(CallSlot::operand, bins * B * 2 * Cin * sizeof(T)));
  T* ys = reinterpret_cast<T*>(call_workspace(CallSlot::output, bins * B * 2 * Cout * sizeof(T)));
  tr.store(x, xs);
  // taps_j transposed ([K][C_in][C_out]) so that a bin's matrix is row-major [C_in][C_out], and zeros for the taps'
  // imaginary parts.
  const at::Tensor taps_t = taps.permute({0, 2, 1}).contiguous();
  const std::vector<T> zeros(static_cast<size_t>(K * L), T(0));
  const T* g = reinterpret_cast<const T*>(basis.const_data_ptr());
  const T scale = T(1) / static_cast<T>(s.H * s.W);
  const int64_t F = chunk_bins(Cin, Cout, sizeof(T));
  at::parallel_for(0, (bins + F - 1) / F, 1, [&](int64_t c0, int64_t c1) {
    T* mr = reinterpret_cast<T*>(thread_workspace(2 * F * L * static_cast<int64_t>(sizeof(T))));
    T* mi = mr + F * L;
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      const int64_t f0 = chunk * F, nf = std::min(F, bins - f0);
      tr.k.gemm(nf, L, K, T(1), basis_by_bin(g, bins, f0), taps_t.const_data_ptr<T>(), zeros.data(), L, mr, mi, L);
      for (int64_t f = f0; f < f0 + nf; ++f) {
        const T* xf = xs + f * B * 2 * Cin;
        T* yf = ys + f * B * 2 * Cout;
        tr.k.gemm(B, Cout, Cin, scale, {xf, xf + Cin, 2 * Cin, 1}, mr + (f - f0) * L, mi + (f - f0) * L, Cout, yf,
                  yf + Cout, 2 * Cout);
      }
    }
  });
  tr.load_inverse(ys, y);
}

// x's spectra are read from `saved` when given (the saving forward's), else transformed from `x`.
template <typename T>
void backward_kernel(const ConvShape& s, const at::Tensor& grad, const at::Tensor* x, const T* saved,
                     const at::Tensor& basis, const at::Tensor& taps, at::Tensor* gx, at::Tensor* gbasis,
                     at::Tensor* gtaps) {
  const Transforms<T> tr(s);
  const int64_t B = s.B, Cin = s.Cin, Cout = s.Cout, K = s.K, bins = s.bins, L = Cin * Cout, Wf = s.Wf;
  const bool params = gbasis || gtaps;
  T* gs = reinterpret_cast<T*>(call_workspace(CallSlot::grad, bins * B * 2 * Cout * sizeof(T)));
  const T* xs = saved;
  T* dxs = gx ? reinterpret_cast<T*>(call_workspace(CallSlot::output, bins * B * 2 * Cin * sizeof(T))) : nullptr;
  tr.store(grad, gs);
  if (params && !saved) {
    T* transformed = reinterpret_cast<T*>(call_workspace(CallSlot::operand, bins * B * 2 * Cin * sizeof(T)));
    tr.store(*x, transformed);
    xs = transformed;
  }
  const at::Tensor taps_c = taps.contiguous();  // [K][C_out][C_in]: a bin's matrix row-major [C_out][C_in]
  const T* tp = taps_c.const_data_ptr<T>();
  const std::vector<T> zeros(static_cast<size_t>(K * L), T(0));
  const T* g = reinterpret_cast<const T*>(basis.const_data_ptr());
  T* gb = gbasis ? reinterpret_cast<T*>(gbasis->mutable_data_ptr()) : nullptr;  // [K, bins] complex, interleaved
  const T scale = T(1) / static_cast<T>(s.H * s.W);
  const int64_t F = chunk_bins(Cin, Cout, sizeof(T));
  const int64_t threads = std::max(at::get_num_threads(), 1);
  std::vector<double*> taps_acc(gtaps ? threads : 0, nullptr);
  std::atomic<int> next_acc{0};
  WorkspaceLayout layout;
  const int64_t off_m = layout.add<T>(2 * F * L), off_dm = layout.add<T>(2 * F * L),
                off_dg = layout.add<T>(2 * F * K), off_dt = layout.add<T>(2 * K * L),
                off_acc = layout.add<double>(gtaps ? K * L : 0);
  at::parallel_for(0, (bins + F - 1) / F, 1, [&](int64_t c0, int64_t c1) {
    char* ws = thread_workspace(layout.bytes());
    T* mr = at_offset<T>(ws, off_m);
    T* mi = mr + F * L;
    T* dmr = at_offset<T>(ws, off_dm);
    T* dmi = dmr + F * L;
    T* dgr = at_offset<T>(ws, off_dg);
    T* dgi = dgr + F * K;
    T* dtr = at_offset<T>(ws, off_dt);
    T* dti = dtr + K * L;
    double* acc = nullptr;
    if (gtaps) {
      acc = at_offset<double>(ws, off_acc);
      std::fill(acc, acc + K * L, 0.0);
      const int slot = next_acc.fetch_add(1);
      TORCH_INTERNAL_ASSERT(slot < static_cast<int>(taps_acc.size()));
      taps_acc[slot] = acc;
    }
    for (int64_t chunk = c0; chunk < c1; ++chunk) {
      const int64_t f0 = chunk * F, nf = std::min(F, bins - f0);
      if (gx) tr.k.gemm(nf, L, K, T(1), basis_by_bin(g, bins, f0), tp, zeros.data(), L, mr, mi, L);
      for (int64_t f = f0; f < f0 + nf; ++f) {
        const T* gf = gs + f * B * 2 * Cout;
        if (gx) {  // dX(f) = dY(f) conj(M(f))^T: M(f)^T is the chunk's [C_out][C_in] matrix
          T* dxf = dxs + f * B * 2 * Cin;
          tr.k.gemm_conj(B, Cin, Cout, scale, {gf, gf + Cout, 2 * Cout, 1}, mr + (f - f0) * L, mi + (f - f0) * L,
                         Cin, dxf, dxf + Cin, 2 * Cin);
        }
        if (params) {  // dM(f) = D dY(f)^T conj(X(f)), [C_out][C_in]
          const int64_t k = f % Wf;
          const T d = (k == 0 || 2 * k == s.W) ? scale : 2 * scale;
          const T* xf = xs + f * B * 2 * Cin;
          tr.k.gemm_conj(Cout, Cin, B, d, {gf, gf + Cout, 1, 2 * Cout}, xf, xf + Cin, 2 * Cin, dmr + (f - f0) * L,
                         dmi + (f - f0) * L, Cin);
        }
      }
      if (gbasis) {  // d basis_j(f) = sum_{o, c} taps_j[o][c] dM(f)[o][c]
        tr.k.row_dots(nf, K, L, dmr, dmi, L, tp, L, dgr, dgi, K);
        for (int64_t f = f0; f < f0 + nf; ++f) {
          for (int64_t j = 0; j < K; ++j) {
            gb[2 * (j * bins + f)] = dgr[(f - f0) * K + j];
            gb[2 * (j * bins + f) + 1] = dgi[(f - f0) * K + j];
          }
        }
      }
      if (gtaps) {  // d taps_j = Re sum_f conj(basis_j(f)) dM(f): the real part of basis^T conj(dM)
        const SplitMatrix<T> bt{g + 2 * f0, g + 2 * f0 + 1, 2 * bins, 2};
        tr.k.gemm_conj(K, L, nf, T(1), bt, dmr, dmi, L, dtr, dti, L);
        for (int64_t i = 0; i < K * L; ++i) acc[i] += dtr[i];
      }
    }
  });
  if (gtaps) {  // before load_inverse, which reuses the threads' workspaces
    at::Tensor total = at::zeros({K, Cout, Cin}, grad.options().dtype(at::kDouble));
    double* t = total.mutable_data_ptr<double>();
    for (double* acc : taps_acc) {
      if (acc == nullptr) continue;
      for (int64_t i = 0; i < K * L; ++i) t[i] += acc[i];
    }
    gtaps->copy_(total);
  }
  if (gx) tr.load_inverse(dxs, *gx);
}

// Sizes the lane FFT does not cover: the same computation through ATen's FFT.
at::Tensor mixing(const at::Tensor& basis, const at::Tensor& taps) {
  return at::einsum("jhw,joc->ochw", {basis, taps.to(basis.scalar_type())});
}

at::Tensor forward_aten(const ConvShape& s, const at::Tensor& x, const at::Tensor& basis, const at::Tensor& taps) {
  const std::vector<int64_t> grid{s.H, s.W};
  const at::Tensor X = at::fft_rfft2(x, grid, {-2, -1}, "ortho");
  const at::Tensor y = at::fft_irfft2(at::einsum("bchw,ochw->bohw", {X, mixing(basis, taps)}), grid, {-2, -1}, "ortho");
  return y.narrow(2, 0, s.ph).narrow(3, 0, s.pw).contiguous();
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> backward_aten(const ConvShape& s, const at::Tensor& grad,
                                                             const at::Tensor& x, const at::Tensor& basis,
                                                             const at::Tensor& taps) {
  const std::vector<int64_t> grid{s.H, s.W};
  const at::Tensor G = at::fft_rfft2(grad, grid, {-2, -1}, "ortho");
  const at::Tensor X = at::fft_rfft2(x, grid, {-2, -1}, "ortho");
  const at::Tensor M = mixing(basis, taps);
  const at::Tensor gx = at::fft_irfft2(at::einsum("bohw,ochw->bchw", {G, M.conj()}), grid, {-2, -1}, "ortho")
                            .narrow(2, 0, s.ph)
                            .narrow(3, 0, s.pw)
                            .contiguous();
  const at::Tensor D = half_spectrum_doubling(s.W, x.options());
  const at::Tensor dM = at::einsum("bohw,bchw->ochw", {G, X.conj()}) * D;
  const at::Tensor gb = at::einsum("ochw,joc->jhw", {dM, taps.to(dM.scalar_type())});
  const at::Tensor gt = at::real(at::einsum("jhw,ochw->joc", {basis.conj(), dM})).contiguous();
  return {gx, gb.contiguous(), gt};
}

void check_fused(const ConvShape& cs, const char* op) {
  TORCH_CHECK_VALUE(roundtrip_fused(cs.H, cs.W), "specdiff: ", op, " needs a transform grid the lane FFT computes "
                    "(cpu::roundtrip_fused), got ", cs.H, "x", cs.W);
}

// The lane kernels' forward; x's spectra go to `spectra` when given.
at::Tensor fused_forward(const ConvShape& cs, const at::Tensor& x, const at::Tensor& basis, const at::Tensor& taps,
                         at::Tensor* spectra) {
  at::Tensor y = at::empty({cs.B, cs.Cout, cs.ph, cs.pw}, x.options());
  const at::Tensor b = basis.resolve_conj().contiguous();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spectral_conv2d", [&] {
    forward_kernel<scalar_t>(cs, x, b, taps, y, spectra ? spectra->mutable_data_ptr<scalar_t>() : nullptr);
  });
  return y;
}

// The lane kernels' backward, the unrequested gradients zeros; x's spectra read from `saved` when given, else
// transformed from `x`.
std::tuple<at::Tensor, at::Tensor, at::Tensor> fused_backward(const ConvShape& cs, const at::Tensor& grad,
                                                              const at::Tensor* x, const at::Tensor* saved,
                                                              const at::Tensor& basis, const at::Tensor& taps,
                                                              std::array<bool, 3> mask) {
  at::Tensor gx = at::empty({cs.B, cs.Cin, cs.ph, cs.pw}, grad.options());
  at::Tensor gb = at::empty({cs.K, cs.H, cs.Wf}, basis.options());
  at::Tensor gt = at::empty({cs.K, cs.Cout, cs.Cin}, taps.options());
  const at::Tensor b = basis.resolve_conj().contiguous();
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "spectral_conv2d_backward", [&] {
    backward_kernel<scalar_t>(cs, grad, x, saved ? saved->const_data_ptr<scalar_t>() : nullptr, b, taps,
                              mask[0] ? &gx : nullptr, mask[1] ? &gb : nullptr, mask[2] ? &gt : nullptr);
  });
  if (!mask[0]) gx.zero_();
  if (!mask[1]) gb.zero_();
  if (!mask[2]) gt.zero_();
  return {gx, gb, gt};
}

at::Tensor spectral_conv2d_cpu(const at::Tensor& x, const at::Tensor& basis, const at::Tensor& taps,
                               at::OptionalIntArrayRef s) {
  check_real_image(x, "x");
  const std::vector<int64_t> grid = filter_grid(x, s);
  const ConvShape cs = check_conv(x, basis, taps, grid);
  if (!roundtrip_fused(cs.H, cs.W)) return forward_aten(cs, x, basis, taps);
  return fused_forward(cs, x, basis, taps, nullptr);
}

// The saving forward: y and x's spectra as the forward's first phase writes them, real [H, W//2+1, B, 2, C_in] of
// the transform grid (unnormalized; at each bin a sample's C_in real parts, then its C_in imaginary ones).
std::tuple<at::Tensor, at::Tensor> spectral_conv2d_saving_cpu(const at::Tensor& x, const at::Tensor& basis,
                                                              const at::Tensor& taps, at::OptionalIntArrayRef s) {
  check_real_image(x, "x");
  const std::vector<int64_t> grid = filter_grid(x, s);
  const ConvShape cs = check_conv(x, basis, taps, grid);
  check_fused(cs, "_spectral_conv2d_saving");
  at::Tensor spectra = kept_empty({cs.H, cs.Wf, cs.B, 2, cs.Cin}, x.options());
  return {fused_forward(cs, x, basis, taps, &spectra), spectra};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> spectral_conv2d_backward_cpu(const at::Tensor& grad,
                                                                            const at::Tensor& x,
                                                                            const at::Tensor& basis,
                                                                            const at::Tensor& taps,
                                                                            std::array<bool, 3> mask,
                                                                            at::OptionalIntArrayRef s) {
  check_real_image(grad, "grad");
  check_real_image(x, "x");
  const std::vector<int64_t> grid = filter_grid(x, s);
  const ConvShape cs = check_conv(x, basis, taps, grid);
  TORCH_CHECK(grad.scalar_type() == x.scalar_type() && grad.size(0) == cs.B && grad.size(1) == cs.Cout &&
                  grad.size(2) == cs.ph && grad.size(3) == cs.pw,
              "specdiff: grad must be ", x.scalar_type(), " [B, C_out, H, W] = [", cs.B, ", ", cs.Cout, ", ", cs.ph,
              ", ", cs.pw, "], got ", grad.scalar_type(), " ", grad.sizes());
  if (!roundtrip_fused(cs.H, cs.W)) {
    auto [gx, gb, gt] = backward_aten(cs, grad, x, basis, taps);
    return {mask[0] ? gx : at::zeros_like(x), mask[1] ? gb : at::zeros_like(basis), mask[2] ? gt : at::zeros_like(taps)};
  }
  return fused_backward(cs, grad, &x, nullptr, basis, taps, mask);
}

// The backward given _spectral_conv2d_saving's spectra of x (B of grad, C_in of taps) in place of x.
std::tuple<at::Tensor, at::Tensor, at::Tensor> spectral_conv2d_backward_saved_cpu(
    const at::Tensor& grad, const at::Tensor& spectra, const at::Tensor& basis, const at::Tensor& taps,
    std::array<bool, 3> mask, at::OptionalIntArrayRef s) {
  check_real_image(grad, "grad");
  const std::vector<int64_t> grid = filter_grid(grad, s);
  const ConvShape cs = check_conv(grad, basis, taps, grid, /*saved=*/true);
  TORCH_CHECK(grad.size(1) == cs.Cout, "specdiff: grad must have taps' C_out = ", cs.Cout, " channels, got ",
              grad.size(1));
  const std::vector<int64_t> expected{cs.H, cs.Wf, cs.B, 2, cs.Cin};
  TORCH_CHECK(spectra.sizes() == at::IntArrayRef(expected) && spectra.scalar_type() == grad.scalar_type() &&
                  spectra.device() == grad.device(),
              "specdiff: spectra must be _spectral_conv2d_saving's ", at::IntArrayRef(expected), " ",
              grad.scalar_type(), " on ", grad.device(), ", got ", spectra.sizes(), " ", spectra.scalar_type(), " on ",
              spectra.device());
  check_fused(cs, "_spectral_conv2d_backward_saved");
  const at::Tensor kept = spectra.contiguous();
  return fused_backward(cs, grad, nullptr, &kept, basis, taps, mask);
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CPU, m) {
  m.impl("spectral_conv2d", &spectral_conv2d_cpu);
  m.impl("_spectral_conv2d_backward", &spectral_conv2d_backward_cpu);
  m.impl("_spectral_conv2d_saving", &spectral_conv2d_saving_cpu);
  m.impl("_spectral_conv2d_backward_saved", &spectral_conv2d_backward_saved_cpu);
}

}  // namespace specdiff::cpu
