#include "cpu/roundtrip.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <memory>
#include <numeric>
#include <vector>

#include "common/checks.h"
#include "common/cpu_isa.h"
#include "common/fft_plan.h"
#include "common/lane_kernels.h"

namespace specdiff::cpu {

namespace {

// Blocks whose grad_weight terms are summed in lane layout before they are added into the float64 accumulators.
constexpr int64_t kMaxGradRun = 16;

// Per-thread memory for per-channel weights kept in lane layout (one slot per channel pattern of a block).
constexpr int64_t kMaxLaneWeightBytes = int64_t{2} << 20;

// The lane FFT covers sizes whose prime factors are <= kMaxRadix; other sizes take ATen's FFT.
bool use_lane_fft(int64_t H, int64_t W) { return fft_size_supported(H) && fft_size_supported(W); }

at::Tensor weight_as_complex(const PlaneWeight& w) {
  return w.complex ? at::view_as_complex(w.data) : w.data;
}

template <typename T>
void run_lanes(const at::Tensor& in, const at::Tensor* src, const at::Tensor& out, const PlaneWeight& w,
               bool conj_weight, const at::Tensor& grad_weight_acc) {
  const int64_t B = in.size(0), C = in.size(1), H = in.size(2), W = in.size(3), Wf = W / 2 + 1;
  const int64_t N = B * C;
  const FftPlan<T> plan_h(static_cast<int>(H)), plan_w(static_cast<int>(W));
  const FftPlanView<T> ph = plan_h.view(), pw = plan_w.view();
  const LaneKernels<T>& kernels = lane_kernels<T>();
  const int P = kernels.lanes;
  const int64_t nblocks = (N + P - 1) / P;

  const int64_t Bw = w.data.size(0), Cw = w.data.size(1);
  const int64_t wplane = H * Wf * (w.complex ? 2 : 1);
  const T* wdata = w.data.data_ptr<T>();
  const bool need_gw = grad_weight_acc.defined();
  // Planes sharing a weight slice accumulate into per-thread copies, summed at the end. The kernel accumulates
  // each slice column-major, [Wf][H] (x2 if complex), the order its column pass produces; transposed at the end.
  const bool shared = need_gw && Bw * Cw < N;
  const int64_t nthreads = at::get_num_threads();
  at::Tensor acc = need_gw ? at::zeros({shared ? nthreads : 1, Bw * Cw * wplane}, grad_weight_acc.options())
                           : at::Tensor();
  const T* in_ptr = in.data_ptr<T>();
  const T* src_ptr = src ? src->data_ptr<T>() : nullptr;
  T* out_ptr = out.defined() ? out.data_ptr<T>() : nullptr;
  double* acc_ptr = need_gw ? acc.data_ptr<double>() : nullptr;

  at::parallel_for(0, nblocks, 1, [&](int64_t b0, int64_t b1) {
    const int64_t nscratch = roundtrip_scratch_elems(H, W, P);
    std::unique_ptr<T[]> scratch(new T[nscratch]);
    // Lane-layout weights (see RoundTripBlock), only where lanes can have different weights and there is an
    // output. Weights that vary by channel only: a full block's lane slices depend only on its first plane's
    // channel n0 % C (a multiple of g), so each of those C/g patterns gets a slot, built once per thread (the
    // partial last block rebuilds its slot and leaves it invalid). Otherwise one slot, kept while consecutive
    // blocks use the same slices.
    const bool lane_weights = out.defined() && Bw * Cw > 1;
    const int64_t slot_elems = H * Wf * (w.complex ? 2 : 1) * P;
    const int64_t g = std::gcd<int64_t>(P, C);
    const bool by_channel = lane_weights && Bw == 1 &&
                            C / g * slot_elems * static_cast<int64_t>(sizeof(T)) <= kMaxLaneWeightBytes;
    const int64_t slots = by_channel ? C / g : 1;
    std::unique_ptr<T[]> weight_lanes(lane_weights ? new T[slots * slot_elems + 64 / sizeof(T)] : nullptr);
    std::vector<char> built(by_channel ? slots : 0, 0);
    // Lane-layout sums of grad_weight terms over runs of blocks that share their weight slices (RoundTripBlock);
    // blocks can share slices only when planes do.
    const bool runs = need_gw && shared;
    std::unique_ptr<T[]> grad_lanes(runs ? new T[slot_elems + 64 / sizeof(T)] : nullptr);
    int64_t run = 0;  // blocks summed into grad_lanes so far
    const T* previous[kMaxLanes] = {};
    double* acc_base = need_gw ? acc_ptr + (shared ? at::get_thread_num() * Bw * Cw * wplane : 0) : nullptr;
    RoundTripBlock<T> blk{};
    blk.H = H;
    blk.W = W;
    blk.in_sh = in.stride(2);
    blk.in_sw = in.stride(3);
    if (src) {
      blk.src_sh = src->stride(2);
      blk.src_sw = src->stride(3);
    }
    blk.src_is_in = src && src->data_ptr() == in.data_ptr() && src->strides() == in.strides();
    blk.stream_out = out.defined() && out.nbytes() >= kStreamingStoreMinBytes;
    blk.weight_complex = w.complex;
    blk.conj_weight = conj_weight;
    // Align the scratch to 64 bytes so each lane vector is one cache line.
    const auto addr = reinterpret_cast<uintptr_t>(scratch.get());
    blk.scratch = scratch.get() + ((64 - addr % 64) % 64) / sizeof(T);
    if (lane_weights) {
      const auto waddr = reinterpret_cast<uintptr_t>(weight_lanes.get());
      blk.weight_lanes = weight_lanes.get() + ((64 - waddr % 64) % 64) / sizeof(T);
    }
    T* const weight_lanes_base = blk.weight_lanes;
    if (runs) {
      const auto gaddr = reinterpret_cast<uintptr_t>(grad_lanes.get());
      blk.grad_lanes = grad_lanes.get() + ((64 - gaddr % 64) % 64) / sizeof(T);
    }
    T* const grad_lanes_base = blk.grad_lanes;
    // The weight slice of plane n = b C + c.
    const auto wslice = [&](int64_t n) { return (Bw > 1 ? n / C : 0) * Cw + (Cw > 1 ? n % C : 0); };
    // True when block blkno is full and its lanes add into the same grad_weight slices as blk's.
    const auto same_slices = [&](int64_t blkno) {
      if (std::min<int64_t>(P, N - blkno * P) != P) return false;
      for (int l = 0; l < P; ++l) {
        if (acc_base + wslice(blkno * P + l) * wplane != blk.grad_weight[l]) return false;
      }
      return true;
    };
    for (int64_t blkno = b0; blkno < b1; ++blkno) {
      const int64_t n0 = blkno * P;
      blk.count = static_cast<int>(std::min<int64_t>(P, N - n0));
      for (int l = 0; l < P; ++l) {
        const int64_t n = n0 + (l < blk.count ? l : 0);
        const int64_t b = n / C, c = n % C;
        blk.in[l] = in_ptr + b * in.stride(0) + c * in.stride(1);
        blk.src[l] = src ? src_ptr + b * src->stride(0) + c * src->stride(1) : nullptr;
        blk.out[l] = out_ptr ? out_ptr + n * H * W : nullptr;
        blk.weight[l] = wdata + wslice(n) * wplane;
        blk.grad_weight[l] = acc_base ? acc_base + wslice(n) * wplane : nullptr;
      }
      if (runs) {
        // Runs hold only full blocks (a partial block's spare lanes repeat lane 0) and at most kMaxGradRun blocks,
        // whose float sums stay as accurate as the per-block terms.
        const bool next = blk.count == P && run + 1 < kMaxGradRun && blkno + 1 < b1 && same_slices(blkno + 1);
        blk.grad_lanes = run > 0 || next ? grad_lanes_base : nullptr;
        blk.grad_lanes_start = run == 0;
        blk.grad_lanes_flush = !next;
        run = next ? run + 1 : 0;
      }
      blk.weight_uniform = true;
      for (int l = 1; l < P; ++l) blk.weight_uniform = blk.weight_uniform && blk.weight[l] == blk.weight[0];
      if (by_channel) {
        const bool full = blk.count == P;
        const int64_t slot = (n0 % C) / g;
        blk.weight_lanes = weight_lanes_base + slot * slot_elems;
        blk.weight_lanes_ready = full && built[slot];
        built[slot] = full;
      } else {
        blk.weight_lanes_ready = !blk.weight_uniform;
        for (int l = 0; l < P; ++l) blk.weight_lanes_ready = blk.weight_lanes_ready && previous[l] == blk.weight[l];
      }
      kernels.roundtrip(ph, pw, blk);
      // The lane layout is (re)built only for non-uniform weights on a pass with an output.
      for (int l = 0; l < P; ++l) previous[l] = blk.weight_uniform || !blk.out[0] ? nullptr : blk.weight[l];
    }
  });
  if (need_gw) {
    const at::Tensor total = shared ? acc.sum(0) : acc[0];
    std::vector<int64_t> columns{Bw * Cw, Wf, H}, rows{Bw * Cw, H, Wf};
    if (w.complex) columns.push_back(2), rows.push_back(2);
    grad_weight_acc.view(rows).copy_(total.view(columns).transpose(1, 2));
  }
}

// ATen FFT path for sizes the lane FFT does not cover (large prime factors).
at::Tensor aten_forward(const at::Tensor& in, const PlaneWeight& w, bool conj_weight) {
  const int64_t H = in.size(2), W = in.size(3);
  at::Tensor wc = weight_as_complex(w);
  if (conj_weight && w.complex) wc = wc.conj();
  at::Tensor spec = at::fft_rfft2(in, c10::nullopt, {-2, -1}, "ortho") * wc;
  return at::fft_irfft2(spec, at::IntArrayRef({H, W}), {-2, -1}, "ortho").contiguous();
}

at::Tensor aten_grad_weight(const at::Tensor& grad, const at::Tensor& x, const PlaneWeight& w) {
  const at::Tensor G = at::fft_rfft2(grad, c10::nullopt, {-2, -1}, "ortho");
  const at::Tensor X = at::fft_rfft2(x, c10::nullopt, {-2, -1}, "ortho");
  return spectra_grad_weight(G, X, w, x.size(3)).to(at::kDouble).contiguous();
}

}  // namespace

at::Tensor roundtrip_forward(const at::Tensor& x, const PlaneWeight& w) {
  const int64_t H = x.size(2), W = x.size(3);
  if (x.numel() == 0) return at::empty(x.sizes(), x.options());
  if (!use_lane_fft(H, W)) return aten_forward(x, w, false);
  at::Tensor out = at::empty(x.sizes(), x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spectral_filter2d", [&] {
    run_lanes<scalar_t>(x, nullptr, out, w, false, at::Tensor());
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> roundtrip_backward(const at::Tensor& grad, const at::Tensor& x,
                                                      const PlaneWeight& w, bool need_x, bool need_w) {
  const int64_t H = x.size(2), W = x.size(3);
  at::Tensor gx, gw;
  if (x.numel() == 0) {
    if (need_x) gx = at::zeros(x.sizes(), x.options());
    if (need_w) gw = at::zeros(w.data.sizes(), w.data.options().dtype(at::kDouble));
    return {gx, gw};
  }
  if (!use_lane_fft(H, W)) {
    if (need_x) gx = aten_forward(grad, w, true);
    if (need_w) gw = aten_grad_weight(grad, x, w);
    return {gx, gw};
  }
  if (need_x) gx = at::empty(x.sizes(), x.options());
  if (need_w) gw = at::zeros(w.data.sizes(), w.data.options().dtype(at::kDouble));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "_spectral_filter2d_backward", [&] {
    run_lanes<scalar_t>(grad, need_w ? &x : nullptr, gx, w, true, gw);
  });
  return {gx, gw};
}

at::Tensor spectral_energy(const at::Tensor& x) {
  check_real_image(x, "x");
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3), Wf = W / 2 + 1;
  if (x.numel() == 0) return at::zeros({B, 1, H, Wf}, x.options().dtype(at::kDouble));
  if (!use_lane_fft(H, W)) {
    const at::Tensor X = at::fft_rfft2(x.to(at::kDouble), c10::nullopt, {-2, -1}, "ortho");
    return (at::abs(X).square() * half_spectrum_doubling(W, x.options().dtype(at::kDouble))).sum(1, true);
  }
  // The round trip's weight-gradient accumulation with src == in gives D |X|^2 summed over each
  // [B, 1] group; no inverse transform runs because there is no output.
  const PlaneWeight groups{at::empty({B, 1, H, Wf}, x.options()), false};
  at::Tensor energy = at::zeros({B, 1, H, Wf}, x.options().dtype(at::kDouble));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spectral_energy", [&] {
    run_lanes<scalar_t>(x, &x, at::Tensor(), groups, false, energy);
  });
  return energy;
}

std::tuple<at::Tensor, at::Tensor> roundtrip_forward_with_energy(const at::Tensor& x, const PlaneWeight& w) {
  const int64_t B = x.size(0), H = x.size(2), W = x.size(3);
  TORCH_CHECK(!w.complex && w.data.size(0) == B && w.data.size(1) == 1,
              "specdiff: internal: the energy pass needs a real per-sample weight [B, 1, H, W//2+1]");
  if (x.numel() == 0 || !use_lane_fft(H, W)) return {roundtrip_forward(x, w), spectral_energy(x)};
  at::Tensor out = at::empty(x.sizes(), x.options());
  at::Tensor energy = at::zeros(w.data.sizes(), x.options().dtype(at::kDouble));
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "roundtrip_forward_with_energy", [&] {
    run_lanes<scalar_t>(x, &x, out, w, false, energy);
  });
  return {out, energy};
}

}  // namespace specdiff::cpu
