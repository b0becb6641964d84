// Driver of the fused FFT round trip (cpu/lanes/roundtrip.h) over all planes of a tensor. A call computes its plan
// once (RoundTripPlan: geometry, entry point, weight and accumulator layout, workspace), then runs blocks of `lanes`
// planes in parallel, each thread in its own reused workspace (cpu/workspace.h).
#include "cpu/roundtrip.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <iterator>
#include <numeric>
#include <vector>

#include "common/checks.h"
#include "common/cpu_caches.h"
#include "common/fft_plan.h"
#include "cpu/lanes/roundtrip.h"
#include "cpu/workspace.h"

namespace specdiff::cpu {

namespace {

// Blocks whose correlation terms are summed in lane layout (in the working precision) before they are added into
// the float64 accumulators: few enough that the float sums stay as accurate as one block's terms.
constexpr int64_t kMaxSumRun = 16;

// input_grad: grad_x = irfft2(conj(w) . rfft2(grad)) (the forward entry with conj(w), or with R > 1 responses the
// sum over each plane's R gradients).
// The *_save / *_saved entries keep and read the forward's spectra (cpu/lanes/roundtrip.h); one response only.
enum class Entry {
  forward, input_grad, backward, weight_grad, energy, forward_energy, forward_save, backward_saved, weight_grad_saved
};

bool writes_output(Entry e) { return e != Entry::weight_grad && e != Entry::energy && e != Entry::weight_grad_saved; }
bool correlates(Entry e) { return e != Entry::forward && e != Entry::input_grad && e != Entry::forward_save; }
bool uses_spectra(Entry e) {
  return e == Entry::forward_save || e == Entry::backward_saved || e == Entry::weight_grad_saved;
}
bool self_correlates(Entry e) { return e == Entry::energy || e == Entry::forward_energy; }

// The lane FFT covers sizes whose prime factors are <= kMaxRadix; other sizes take ATen's FFT.
bool use_lane_fft(int64_t H, int64_t W) { return fft_size_supported(H) && fft_size_supported(W); }

// The kernels' function for an entry: with R > 1 responses its *_multi counterpart, where it has one.
template <typename T>
RoundTripFn<T> entry_point(const RoundTripKernels<T>& k, Entry e, bool multi) {
  using K = RoundTripKernels<T>;
  static constexpr RoundTripFn<T> K::*kTable[][2] = {
      // In Entry's order: {one response, R responses}.
      {&K::forward, &K::forward_multi},     {&K::forward, &K::input_grad_multi},
      {&K::backward, &K::backward_multi},   {&K::weight_grad, &K::weight_grad_multi},
      {&K::energy, nullptr},                {&K::forward_energy, nullptr},
      {&K::forward_save, nullptr},          {&K::backward_saved, nullptr},
      {&K::weight_grad_saved, nullptr},
  };
  static_assert(std::size(kTable) == static_cast<size_t>(Entry::weight_grad_saved) + 1);
  const auto& row = kTable[static_cast<int>(e)];
  return k.*(multi && row[1] ? row[1] : row[0]);
}

// The transform grid of planes like x's: `grid` when given (the callers check it), else x's size.
struct Grid {
  int64_t H, W;
};

Grid grid_of(const at::Tensor& x, at::IntArrayRef grid) {
  if (grid.empty()) return {x.size(2), x.size(3)};
  TORCH_INTERNAL_ASSERT(grid.size() == 2 && grid[0] >= x.size(2) && grid[1] >= x.size(3));
  return {grid[0], grid[1]};
}

// Everything the blocks of one call share.
template <typename T>
struct RoundTripPlan {
  const RoundTripKernels<T>& k;
  FftPlan<T> plan_h, plan_w;
  RoundTripGeometry<T> g;
  RoundTripFn<T> entry;
  Entry kind;
  // N = B C planes of x (C its channels) in blocks of P; R responses per plane (PlaneWeight::responses): with R > 1
  // the forward writes R output planes per plane of x and the backward entries read R gradient planes per plane.
  int64_t C, N, P, nblocks, R;
  int64_t in_mult, out_mult;  // planes of `in` / `out` per plane of x: R or 1
  // The weight (or, for the energy entries, the accumulators' grouping): [Bw, Cw] slices of `wplane` elements
  // ([H][Wf], or [H][Wf][2] when complex); response j of plane n = b C + c uses slice slice_of(n) + j.
  const T* wdata;
  int64_t Bw, Cw, wplane;
  T imag_sign;
  // Per-lane weights in lane layout: one slot per channel pattern of a block (by_channel: built once per thread),
  // or one slot rebuilt whenever a block's slices differ from the previous block's; a slot holds R responses.
  bool lane_weights, by_channel;
  int64_t channel_step, slots, slot_elems;
  // Correlation sums: into per-thread float64 accumulators when several planes share a slice (summed after the
  // loop), else straight into the output.
  bool shared_sums;
  int64_t sum_elems;  // lane-layout sums of one block and response
  // The thread's workspace: scratch, lane weights, lane sums, float64 accumulators.
  int64_t off_scratch, off_weights, off_sums, off_acc, workspace_bytes;

  RoundTripPlan(Entry e, const at::Tensor& in, const at::Tensor* src, const at::Tensor& out, const PlaneWeight& w,
                bool conj_weight, Grid grid, const at::Tensor* spectra)
      : k(roundtrip_lanes<T>()), plan_h(static_cast<int>(grid.H)), plan_w(static_cast<int>(grid.W)) {
    const int64_t B = in.size(0), H = grid.H, W = grid.W, Wf = W / 2 + 1;
    const CpuCaches& caches = cpu_caches();
    kind = e;
    R = w.responses;
    in_mult = e == Entry::forward ? 1 : R;
    out_mult = e == Entry::forward ? R : 1;
    C = in.size(1) / in_mult;
    N = B * C;
    P = k.lanes;
    nblocks = (N + P - 1) / P;
    const int64_t vector_bytes = P * static_cast<int64_t>(sizeof(T));
    g.rows = plan_w.view();
    g.cols = plan_h.view();
    g.H = H;
    g.W = W;
    g.ph = in.size(2);
    g.pw = in.size(3);
    g.ld = roundtrip_column_stride(H, vector_bytes, caches.l1d_set_period());
    g.in_sh = in.stride(2);
    g.in_sw = in.stride(3);
    g.src_sh = src ? src->stride(2) : 0;
    g.src_sw = src ? src->stride(3) : 0;
    g.weight_complex = w.complex && !self_correlates(e);
    g.stream_out = writes_output(e) && stream_output(out.nbytes());
    TORCH_INTERNAL_ASSERT(!uses_spectra(e) || (spectra && w.responses == 1));
    g.stream_spectra = e == Entry::forward_save && stream_output(spectra->nbytes());
    const bool multi = R > 1;
    entry = entry_point(k, e, multi);
    wdata = w.data.data_ptr<T>();
    Bw = w.data.size(0);
    Cw = w.data.size(1);
    wplane = H * Wf * (w.complex ? 2 : 1);
    imag_sign = conj_weight ? T(-1) : T(1);

    slot_elems = H * Wf * (w.complex ? 2 : 1) * P;
    lane_weights = writes_output(e) && Bw * Cw > 1;
    channel_step = std::gcd<int64_t>(P, C);
    // Slots per channel pattern only while they stay in a core's L2 with the block's own data.
    by_channel = lane_weights && Bw == 1 &&
                 C / channel_step * R * slot_elems * static_cast<int64_t>(sizeof(T)) <= caches.l2;
    slots = !lane_weights ? 0 : by_channel ? C / channel_step : 1;

    shared_sums = correlates(e) && Bw * Cw < N * R;
    sum_elems = correlates(e) ? H * Wf * (g.weight_complex ? 2 : 1) * P : 0;

    WorkspaceLayout layout;
    off_scratch = layout.add<T>(roundtrip_scratch_elems(H, W, static_cast<int>(P), multi));
    off_weights = layout.add<T>(slots * R * slot_elems);
    off_sums = layout.add<T>(R * sum_elems);
    off_acc = layout.add<double>(shared_sums ? Bw * Cw * wplane : 0);
    workspace_bytes = layout.bytes();
  }

  int64_t slice_of(int64_t n) const { return (Bw > 1 ? n / C : 0) * Cw + (Cw > 1 ? n % C * R : 0); }
};

// Runs the plan's entry point over every block. grad: the float64 sums [Bw, Cw, H, Wf(, 2)] (zeroed), or nullptr.
template <typename T>
void run_blocks(const RoundTripPlan<T>& p, const at::Tensor& in, const at::Tensor* src, const at::Tensor& out,
                double* grad, const at::Tensor* spectra) {
  const T* in_ptr = in.const_data_ptr<T>();
  T* spectra_ptr = spectra ? static_cast<T*>(spectra->data_ptr()) : nullptr;
  const int64_t spectrum_elems = 2 * (p.g.W / 2 + 1) * p.g.H;
  const T* src_ptr = src ? src->const_data_ptr<T>() : nullptr;
  T* out_ptr = out.defined() ? out.mutable_data_ptr<T>() : nullptr;
  const int64_t plane = p.g.ph * p.g.pw, P = p.P, C = p.C, N = p.N;
  const bool sums = correlates(p.kind);
  const int64_t acc_elems = p.Bw * p.Cw * p.wplane;
  std::vector<double*> thread_acc(p.shared_sums ? std::max(at::get_num_threads(), 1) : 0, nullptr);
  std::atomic<int> next_acc{0};

  at::parallel_for(0, p.nblocks, 1, [&](int64_t b0, int64_t b1) {
    char* ws = thread_workspace(p.workspace_bytes);
    RoundTripBlock<T> blk{};
    blk.scratch = at_offset<T>(ws, p.off_scratch);
    blk.weight.imag_sign = p.imag_sign;
    blk.responses = static_cast<int>(p.R);
    blk.in_step = in.stride(1);
    blk.out_step = plane;
    blk.sums_step = p.sum_elems;
    double* acc = grad;
    if (sums) {
      blk.sums = at_offset<T>(ws, p.off_sums);
      std::fill(blk.sums, blk.sums + p.R * p.sum_elems, T(0));
      if (p.shared_sums) {
        acc = at_offset<double>(ws, p.off_acc);
        std::fill(acc, acc + acc_elems, 0.0);
        const int slot = next_acc.fetch_add(1);
        TORCH_INTERNAL_ASSERT(slot < static_cast<int>(thread_acc.size()));
        thread_acc[slot] = acc;
      }
    }
    T* const lanes_base = at_offset<T>(ws, p.off_weights);
    std::vector<char> built(p.by_channel ? p.slots : 0, 0);
    const T* held[kMaxLanes] = {};  // the slices the single slot holds (not by_channel)
    const T* slices[kMaxLanes];
    const T* response_slices[kMaxLanes];
    double* sinks[kMaxLanes];
    double* response_sinks[kMaxLanes];
    int64_t run = 0;  // blocks summed into blk.sums since the last flush
    // True when block `next` is full and its lanes use the slices of the block in `slices`.
    const auto same_slices = [&](int64_t next) {
      if (std::min<int64_t>(P, N - next * P) != P) return false;
      for (int l = 0; l < P; ++l) {
        if (p.wdata + p.slice_of(next * P + l) * p.wplane != slices[l]) return false;
      }
      return true;
    };
    for (int64_t blkno = b0; blkno < b1; ++blkno) {
      const int64_t n0 = blkno * P;
      blk.count = static_cast<int>(std::min<int64_t>(P, N - n0));
      bool uniform = true;
      for (int l = 0; l < P; ++l) {
        const int64_t n = n0 + (l < blk.count ? l : 0);
        const int64_t b = n / C, c = n % C;
        blk.in[l] = in_ptr + b * in.stride(0) + c * p.in_mult * in.stride(1);
        blk.src[l] = src_ptr ? src_ptr + b * src->stride(0) + c * src->stride(1) : nullptr;
        blk.out[l] = out_ptr ? out_ptr + n * p.out_mult * plane : nullptr;
        blk.spectra[l] = spectra_ptr ? spectra_ptr + n * spectrum_elems : nullptr;
        slices[l] = p.wdata + p.slice_of(n) * p.wplane;
        sinks[l] = acc ? acc + p.slice_of(n) * p.wplane : nullptr;
        uniform = uniform && slices[l] == slices[0];
      }
      if (uniform || !p.lane_weights) {
        blk.weight.slice = slices[0];
        blk.weight.lanes = nullptr;
        blk.weight_step = p.wplane;
      } else {
        bool ready;
        T* lanes;
        if (p.by_channel) {
          // A full block's lane slices depend only on its first plane's channel (a multiple of channel_step); the
          // partial last block rebuilds its slot and leaves it invalid.
          const int64_t slot = (n0 % C) / p.channel_step;
          lanes = lanes_base + slot * p.R * p.slot_elems;
          ready = blk.count == P && built[slot];
          built[slot] = blk.count == P;
        } else {
          lanes = lanes_base;
          ready = std::equal(slices, slices + P, held);
          std::copy(slices, slices + P, held);
        }
        if (!ready) {
          for (int64_t j = 0; j < p.R; ++j) {
            for (int l = 0; l < P; ++l) response_slices[l] = slices[l] + j * p.wplane;
            p.k.gather_weight(p.g, response_slices, lanes + j * p.slot_elems);
          }
        }
        blk.weight.slice = nullptr;
        blk.weight.lanes = lanes;
        blk.weight_step = p.slot_elems;
      }
      p.entry(p.g, blk);
      if (sums) {
        // A run of blocks that add into the same slices (a weight shared over the batch) sums in lane layout first.
        const bool more = p.shared_sums && blk.count == P && run + 1 < kMaxSumRun && blkno + 1 < b1 &&
                          same_slices(blkno + 1);
        if (more) {
          ++run;
        } else {
          for (int64_t j = 0; j < p.R; ++j) {
            for (int l = 0; l < blk.count; ++l) response_sinks[l] = sinks[l] + j * p.wplane;
            p.k.flush_sums(p.g, blk.sums + j * p.sum_elems, blk.count, response_sinks);
          }
          run = 0;
        }
      }
    }
  });
  if (p.shared_sums) {
    const int used = next_acc.load();
    at::parallel_for(0, acc_elems, int64_t{1} << 14, [&](int64_t e0, int64_t e1) {
      for (int t = 0; t < used; ++t) {
        const double* a = thread_acc[t];
        for (int64_t e = e0; e < e1; ++e) grad[e] += a[e];
      }
    });
  }
}

// spectra: the saved spectra of the *_save / *_saved entries, contiguous [B, C, 2, Wf, H] of the grid.
template <typename T>
void run(Entry e, const at::Tensor& in, const at::Tensor* src, const at::Tensor& out, const PlaneWeight& w,
         bool conj_weight, const at::Tensor& grad, Grid grid, const at::Tensor* spectra = nullptr) {
  const RoundTripPlan<T> plan(e, in, src, out, w, conj_weight, grid, spectra);
  run_blocks<T>(plan, in, src, out, grad.defined() ? grad.mutable_data_ptr<double>() : nullptr, spectra);
}

at::Tensor weight_as_complex(const PlaneWeight& w) { return w.complex ? at::view_as_complex(w.data) : w.data; }

// ATen FFT path for sizes the lane FFT does not cover (large prime factors).
at::Tensor aten_forward(const at::Tensor& in, const PlaneWeight& w, bool conj_weight, Grid grid) {
  const std::array<int64_t, 2> s{grid.H, grid.W};
  at::Tensor wc = weight_as_complex(w);
  if (conj_weight && w.complex) wc = wc.conj();
  const at::Tensor spec = at::fft_rfft2(in, s, {-2, -1}, "ortho") * wc;
  // The crop is a no-op view on an unpadded grid.
  return at::fft_irfft2(spec, s, {-2, -1}, "ortho").narrow(2, 0, in.size(2)).narrow(3, 0, in.size(3)).contiguous();
}

at::Tensor aten_grad_weight(const at::Tensor& grad, const at::Tensor& x, const PlaneWeight& w, Grid grid) {
  const std::array<int64_t, 2> s{grid.H, grid.W};
  const at::Tensor G = at::fft_rfft2(grad, s, {-2, -1}, "ortho");
  const at::Tensor X = at::fft_rfft2(x, s, {-2, -1}, "ortho");
  return spectra_grad_weight(G, X, w, grid.W).to(at::kDouble).contiguous();
}

at::Tensor aten_energy(const at::Tensor& x) {
  const at::Tensor X = at::fft_rfft2(x.to(at::kDouble), c10::nullopt, {-2, -1}, "ortho");
  return (at::abs(X).square() * half_spectrum_doubling(x.size(3), x.options().dtype(at::kDouble))).sum(1, true);
}

// The saved spectra's layout, [B, C, 2, Wf, H], from the half spectrum X = rfft2(x, s) [B, C, H, Wf] and back.
at::Tensor spectra_layout(const at::Tensor& X) { return at::view_as_real(X).permute({0, 1, 4, 3, 2}).contiguous(); }
at::Tensor spectra_as_complex(const at::Tensor& spectra) {
  return at::view_as_complex(spectra.permute({0, 1, 4, 3, 2}).contiguous());
}

at::Tensor zero_sums(const PlaneWeight& w) { return at::zeros(w.data.sizes(), w.data.options().dtype(at::kDouble)); }

// [B, 1, H, W//2+1]: one accumulator slice per sample.
PlaneWeight per_sample_groups(const at::Tensor& x) {
  return PlaneWeight{at::empty({x.size(0), 1, x.size(2), x.size(3) / 2 + 1}, x.options()), false};
}

}  // namespace

bool roundtrip_fused(int64_t H, int64_t W) { return use_lane_fft(H, W); }

bool roundtrip_keeps_spectra(int64_t H, int64_t W) {
  // A block's half spectrum: W/2+1 columns of H (+1, roundtrip_column_stride) lane vectors, real and imaginary.
  const int64_t vector_bytes = roundtrip_lanes<float>().lanes * static_cast<int64_t>(sizeof(float));
  const int64_t spectrum_bytes = 2 * (W / 2 + 1) * (H + 1) * vector_bytes;
  return use_lane_fft(H, W) && 2 * spectrum_bytes > cpu_caches().l2;
}

at::Tensor roundtrip_forward(const at::Tensor& x, const PlaneWeight& w, at::IntArrayRef grid) {
  const Grid gr = grid_of(x, grid);
  if (!use_lane_fft(gr.H, gr.W)) return aten_forward(repeat_responses(x, w), w, false, gr);
  at::Tensor out = at::empty({x.size(0), x.size(1) * w.responses, x.size(2), x.size(3)}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "roundtrip_forward", [&] {
    run<scalar_t>(Entry::forward, x, nullptr, out, w, false, at::Tensor(), gr);
  });
  return out;
}

at::Tensor roundtrip_backward_input(const at::Tensor& grad, const PlaneWeight& w, at::IntArrayRef grid) {
  const Grid gr = grid_of(grad, grid);
  if (!use_lane_fft(gr.H, gr.W)) return sum_responses(aten_forward(grad, w, true, gr), w);
  at::Tensor gx = at::empty({grad.size(0), grad.size(1) / w.responses, grad.size(2), grad.size(3)}, grad.options());
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "roundtrip_backward_input", [&] {
    run<scalar_t>(Entry::input_grad, grad, nullptr, gx, w, true, at::Tensor(), gr);
  });
  return gx;
}

at::Tensor roundtrip_weight_grad(const at::Tensor& grad, const at::Tensor& x, const PlaneWeight& w,
                                 at::IntArrayRef grid) {
  const Grid gr = grid_of(x, grid);
  if (!use_lane_fft(gr.H, gr.W)) return aten_grad_weight(grad, repeat_responses(x, w), w, gr);
  at::Tensor gw = zero_sums(w);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "roundtrip_weight_grad", [&] {
    run<scalar_t>(Entry::weight_grad, grad, &x, at::Tensor(), w, true, gw, gr);
  });
  return gw;
}

std::tuple<at::Tensor, at::Tensor> roundtrip_backward(const at::Tensor& grad, const at::Tensor& x,
                                                      const PlaneWeight& w, at::IntArrayRef grid) {
  const Grid gr = grid_of(x, grid);
  if (!use_lane_fft(gr.H, gr.W)) {
    return {sum_responses(aten_forward(grad, w, true, gr), w), aten_grad_weight(grad, repeat_responses(x, w), w, gr)};
  }
  at::Tensor gx = at::empty(x.sizes(), x.options());
  at::Tensor gw = zero_sums(w);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "roundtrip_backward", [&] {
    run<scalar_t>(Entry::backward, grad, &x, gx, w, true, gw, gr);
  });
  return {gx, gw};
}

std::tuple<at::Tensor, at::Tensor> roundtrip_forward_saving(const at::Tensor& x, const PlaneWeight& w,
                                                            at::IntArrayRef grid) {
  TORCH_CHECK(w.responses == 1, "specdiff: the saving forward takes one filter per channel of x");
  const Grid gr = grid_of(x, grid);
  if (!use_lane_fft(gr.H, gr.W)) {
    const std::array<int64_t, 2> s{gr.H, gr.W};
    return {aten_forward(x, w, false, gr), spectra_layout(at::fft_rfft2(x, s, {-2, -1}))};
  }
  at::Tensor out = at::empty(x.sizes(), x.options());
  at::Tensor spectra = at::empty({x.size(0), x.size(1), 2, gr.W / 2 + 1, gr.H}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "roundtrip_forward_saving", [&] {
    run<scalar_t>(Entry::forward_save, x, nullptr, out, w, false, at::Tensor(), gr, &spectra);
  });
  return {out, spectra};
}

std::tuple<at::Tensor, at::Tensor> roundtrip_backward_saved(const at::Tensor& grad, const at::Tensor& spectra,
                                                            const PlaneWeight& w, bool need_x, at::IntArrayRef grid) {
  TORCH_CHECK(w.responses == 1, "specdiff: the saved-spectrum backward takes one filter per channel of x");
  const Grid gr = grid_of(grad, grid);
  if (!use_lane_fft(gr.H, gr.W)) {
    const std::array<int64_t, 2> s{gr.H, gr.W};
    const at::Tensor G = at::fft_rfft2(grad, s, {-2, -1}, "ortho");
    const at::Tensor X = spectra_as_complex(spectra) / std::sqrt(static_cast<double>(gr.H * gr.W));
    return {need_x ? aten_forward(grad, w, true, gr) : at::Tensor(),
            spectra_grad_weight(G, X, w, gr.W).to(at::kDouble).contiguous()};
  }
  at::Tensor gx = need_x ? at::empty(grad.sizes(), grad.options()) : at::Tensor();
  at::Tensor gw = zero_sums(w);
  AT_DISPATCH_FLOATING_TYPES(grad.scalar_type(), "roundtrip_backward_saved", [&] {
    run<scalar_t>(need_x ? Entry::backward_saved : Entry::weight_grad_saved, grad, nullptr, gx, w, true, gw, gr,
                  &spectra);
  });
  return {gx, gw};
}

at::Tensor spectral_energy(const at::Tensor& x) {
  check_real_image(x, "x");
  if (!use_lane_fft(x.size(2), x.size(3))) return aten_energy(x);
  const PlaneWeight groups = per_sample_groups(x);
  at::Tensor energy = zero_sums(groups);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "spectral_energy", [&] {
    run<scalar_t>(Entry::energy, x, nullptr, at::Tensor(), groups, false, energy, grid_of(x, {}));
  });
  return energy;
}

std::tuple<at::Tensor, at::Tensor> roundtrip_forward_with_energy(const at::Tensor& x, const PlaneWeight& w) {
  const int64_t B = x.size(0);
  TORCH_CHECK(!w.complex && w.data.size(0) == B && w.data.size(1) == 1,
              "specdiff: internal: the energy pass needs a real per-sample weight [B, 1, H, W//2+1]");
  const Grid gr = grid_of(x, {});
  if (!use_lane_fft(gr.H, gr.W)) return {aten_forward(x, w, false, gr), aten_energy(x)};
  at::Tensor out = at::empty(x.sizes(), x.options());
  at::Tensor energy = zero_sums(w);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "roundtrip_forward_with_energy", [&] {
    run<scalar_t>(Entry::forward_energy, x, nullptr, out, w, false, energy, gr);
  });
  return {out, energy};
}

}  // namespace specdiff::cpu
