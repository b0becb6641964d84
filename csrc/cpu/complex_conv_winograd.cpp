// Winograd's F(4x4, 3x3) form of the complex convolutions (complex_conv_algorithms.h; the lane kernels in
// lanes/winograd_impl.h): x and the output in channels_last, the weights transformed on every call, blocks of tiles
// in parallel, each thread in its reused workspace. The input's gradient is the same convolution with the flipped
// conjugate-transposed weight; the weights' gradient sums conj(V)^T dM per tile position.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>

#include "common/cpu_caches.h"
#include "cpu/complex_conv_algorithms.h"
#include "cpu/lanes/winograd.h"
#include "cpu/workspace.h"

namespace specdiff::cpu {

namespace {

int64_t tile_count(int64_t B, int64_t OH, int64_t OW) { return B * ((OH + 3) / 4) * ((OW + 3) / 4); }

// The transformed weights [36][3][Cin][Cout] of WinogradConv: G g G^T of Wr, Wi - Wr and Wr + Wi, each 3x3 g.
at::Tensor winograd_weights(const at::Tensor& wr_in, const at::Tensor& wi_in) {
  const at::Tensor wr = wr_in.contiguous(), wi = wi_in.contiguous();
  const int64_t cout = wr.size(0), cin = wr.size(1);
  at::Tensor u = at::empty({36, 3, cin, cout}, wr.options());
  AT_DISPATCH_FLOATING_TYPES(wr.scalar_type(), "complex_conv_winograd_weights", [&] {
    using T = scalar_t;
    const T *pr = wr.const_data_ptr<T>(), *pi = wi.const_data_ptr<T>();
    T* pu = u.mutable_data_ptr<T>();
    // G's rows applied to (g0, g1, g2), for a run of kRun output channels at once.
    constexpr int64_t kRun = 16;
    using Run = std::array<T, kRun>;
    const auto g6 = [](const Run& g0, const Run& g1, const Run& g2, Run* o, int s) {
      for (int64_t c = 0; c < kRun; ++c) {
        o[0][c] = g0[c] / 4;
        o[s][c] = -(g0[c] + g1[c] + g2[c]) / 6;
        o[2 * s][c] = -(g0[c] - g1[c] + g2[c]) / 6;
        o[3 * s][c] = g0[c] / 24 + g1[c] / 12 + g2[c] / 6;
        o[4 * s][c] = g0[c] / 24 - g1[c] / 12 + g2[c] / 6;
        o[5 * s][c] = g2[c];
      }
    };
    // Each (input channel, run of output channels) writes whole rows of kRun values to the 36 positions: one
    // value at a time, the 36 rows (3 Cin Cout apart) would evict each other from L1.
    const int64_t runs = (cout + kRun - 1) / kRun;
    at::parallel_for(0, cin * runs, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t ci = task / runs, co0 = task % runs * kRun, n = std::min(kRun, cout - co0);
        for (int j = 0; j < 3; ++j) {
          Run g[9]{}, t[18], o[36];
          for (int64_t c = 0; c < n; ++c) {
            const int64_t at = ((co0 + c) * cin + ci) * 9;
            for (int e = 0; e < 9; ++e) {
              const T r = pr[at + e], i = pi[at + e];
              g[e][c] = j == 0 ? r : j == 1 ? i - r : r + i;
            }
          }
          for (int c = 0; c < 3; ++c) g6(g[c], g[3 + c], g[6 + c], t + c, 3);  // G g: [6][3]
          for (int r = 0; r < 6; ++r) g6(t[3 * r], t[3 * r + 1], t[3 * r + 2], o + 6 * r, 1);  // (G g) G^T
          for (int xi = 0; xi < 36; ++xi) std::copy_n(o[xi].data(), n, pu + ((xi * 3 + j) * cin + ci) * cout + co0);
        }
      }
    });
  });
  return u;
}

// Tiles per block of the Winograd kernels, a multiple of rows: `fit` (what keeps a block's scratch within its share of
// the detected L2: a quarter in the forward, which also streams the transformed weights through it, half in the
// weights' gradient; 512 KiB and 1 MiB on the 2 MiB L2 the blocks were first measured on) or, for
// convolutions of at least 256 x 128 channels, enough tiles to share the transformed weights (36 x 3 Cin Cout
// values streamed per block in the forward, as many sums per thread in the weights' gradient): Cin Cout / 1024,
// up to 64, but no more than a thread's share of the tiles (docs/cpu_kernels.md).
int64_t winograd_tile_block(int64_t cin, int64_t cout, int64_t tiles, int64_t fit, int64_t rows) {
  const int64_t threads = at::get_num_threads();
  const int64_t wide = cin * cout >= 256 * 128 ? std::min<int64_t>(64, cin * cout / 1024) : 0;
  const int64_t share = std::min(wide, (tiles + threads - 1) / threads);
  if (share <= fit) return std::max<int64_t>(1, fit / rows) * rows;
  return (share + rows - 1) / rows * rows;  // rounded up: the threads' blocks stay even
}

// The complex convolution of the split-layout x by Wr + i Wi through WinogradConv; the result in fmt.
at::Tensor winograd_conv(const at::Tensor& x_in, const at::Tensor& wr, const at::Tensor& wi,
                         const std::optional<at::Tensor>& br, const std::optional<at::Tensor>& bi, int64_t pad_h,
                         int64_t pad_w, at::MemoryFormat fmt) {
  const auto cl = at::MemoryFormat::ChannelsLast;
  const at::Tensor x = to_channels_last(x_in, CallSlot::operand);
  const int64_t B = x.size(0), C = x.size(1) / 2, H = x.size(2), W = x.size(3), cout = wr.size(0);
  const int64_t OH = H + 2 * pad_h - 2, OW = W + 2 * pad_w - 2;
  // The output itself, or (relayout below) an intermediate.
  at::Tensor y = fmt == cl ? at::empty({B, 2 * cout, OH, OW}, x.options().memory_format(cl))
                           : channels_last_scratch(CallSlot::output, {B, 2 * cout, OH, OW}, x.options());
  const at::Tensor u = winograd_weights(wr, wi);
  const at::Tensor bre = br.has_value() ? br->contiguous() : at::Tensor();
  const at::Tensor bim = bi.has_value() ? bi->contiguous() : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "complex_conv_winograd", [&] {
    using T = scalar_t;
    const WinogradKernels<T>& k = winograd_lanes<T>();
    const int64_t per_tile = winograd_scratch_elems(C, cout, 1) * static_cast<int64_t>(sizeof(T));
    const int64_t tiles = tile_count(B, OH, OW);
    const int64_t tile_block = winograd_tile_block(C, cout, tiles, cpu_caches().l2 / 4 / per_tile, k.rows);
    const int64_t blocks = (tiles + tile_block - 1) / tile_block;
    WinogradConv<T> conv{x.const_data_ptr<T>(), u.const_data_ptr<T>(),
                         bre.defined() ? bre.const_data_ptr<T>() : nullptr,
                         bim.defined() ? bim.const_data_ptr<T>() : nullptr,
                         y.mutable_data_ptr<T>(), B, H, W, C, cout, OH, OW, pad_h, pad_w, tile_block};
    const int64_t scratch_bytes = winograd_scratch_elems(C, cout, tile_block) * static_cast<int64_t>(sizeof(T));
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      k.forward(conv, b0, b1, reinterpret_cast<T*>(thread_workspace(scratch_bytes)));
    });
  });
  return fmt == at::MemoryFormat::ChannelsLast ? y : relayout(y, false);
}

// The weights' gradients (grad Wr, grad Wi) of the Winograd convolution of x (channels_last split) with
// padding (pad_h, pad_w), from the channels_last split upstream gradient: sums of conj(V)^T dM over blocks of
// tiles (WinogradWeightGradFn), one per thread's share of the blocks, added up and taken back through G^T . G.
std::pair<at::Tensor, at::Tensor> winograd_weight_grad(const at::Tensor& x, const at::Tensor& grad, int64_t pad_h,
                                                       int64_t pad_w) {
  const int64_t B = x.size(0), C = x.size(1) / 2, H = x.size(2), W = x.size(3);
  const int64_t cout = grad.size(1) / 2, OH = grad.size(2), OW = grad.size(3);
  const int64_t per_part = 36 * 2 * C * cout;
  at::Tensor gw[2] = {at::empty({cout, C, 3, 3}, x.options()), at::empty({cout, C, 3, 3}, x.options())};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "complex_conv_winograd_weight_grad", [&] {
    using T = scalar_t;
    const WinogradKernels<T>& k = winograd_lanes<T>();
    // Tiles are the GEMMs' reduction here: long blocks (at least 16 tiles, up to half the L2 of scratch) keep the
    // accumulators' traffic small.
    const int64_t per_tile = winograd_grad_scratch_elems(C, cout, 1) * static_cast<int64_t>(sizeof(T));
    const int64_t tiles = tile_count(B, OH, OW);
    const int64_t tile_block =
        winograd_tile_block(C, cout, tiles, std::max<int64_t>(16, cpu_caches().l2 / 2 / per_tile), 1);
    const int64_t blocks = (tiles + tile_block - 1) / tile_block;
    const WinogradConv<T> conv{x.const_data_ptr<T>(), nullptr, nullptr, nullptr, nullptr, B, H, W, C, cout, OH, OW,
                               pad_h, pad_w, tile_block};
    const T* g = grad.const_data_ptr<T>();
    // One part of the blocks per thread, each with its own sums in the thread's workspace (zeroed by the thread
    // that fills them): the result does not depend on which thread ran what. The sums take 72 Cin Cout values per
    // part (19 MB at 256 x 256 channels in float32), so many threads share fewer parts: at most 256 MiB of them,
    // but 2 parts.
    const int64_t budget = std::max<int64_t>(2, (int64_t{256} << 20) / (per_part * static_cast<int64_t>(sizeof(T))));
    const int64_t parts = std::min<int64_t>({at::get_num_threads(), blocks, budget});
    std::vector<const T*> part_sums(parts, nullptr);
    at::parallel_for(0, parts, 1, [&](int64_t q0, int64_t q1) {
      WorkspaceLayout layout;
      const int64_t off_scratch = layout.add<T>(winograd_grad_scratch_elems(C, cout, tile_block));
      const int64_t off_sums = layout.add<T>((q1 - q0) * per_part);
      char* ws = thread_workspace(layout.bytes());
      for (int64_t q = q0; q < q1; ++q) {
        T* mine = at_offset<T>(ws, off_sums) + (q - q0) * per_part;
        std::fill(mine, mine + per_part, T(0));
        k.weight_grad(conv, g, q * blocks / parts, (q + 1) * blocks / parts, at_offset<T>(ws, off_scratch), mine);
        part_sums[q] = mine;
      }
    });
    // Per (part, input channel, run of output channels): the parts' sums D [6][6], then G^T D G [3][3].
    T* out[2] = {gw[0].mutable_data_ptr<T>(), gw[1].mutable_data_ptr<T>()};
    const auto gt6 = [](const T* d, int s, T* r, int rs) {  // r = G^T d for 6 values d[0], d[s], ...
      const T p12 = d[s] + d[2 * s], p34 = d[3 * s] + d[4 * s];
      r[0] = d[0] / 4 - p12 / 6 + p34 / 24;
      r[rs] = (d[2 * s] - d[s]) / 6 + (d[3 * s] - d[4 * s]) / 12;
      r[2 * rs] = (p34 - p12) / 6 + d[5 * s];
    };
    constexpr int64_t kRun = 16;
    const int64_t runs = (cout + kRun - 1) / kRun;
    at::parallel_for(0, 2 * C * runs, 1, [&](int64_t begin, int64_t end) {
      for (int64_t task = begin; task < end; ++task) {
        const int64_t part = task / (C * runs), ci = task / runs % C, co0 = task % runs * kRun;
        const int64_t n = std::min(kRun, cout - co0);
        T d[36][kRun] = {};
        for (int64_t q = 0; q < parts; ++q) {
          for (int xi = 0; xi < 36; ++xi) {
            const T* src = part_sums[q] + ((xi * 2 + part) * C + ci) * cout + co0;
            for (int64_t c = 0; c < n; ++c) d[xi][c] += src[c];
          }
        }
        for (int64_t c = 0; c < n; ++c) {
          T e[36], m[18], w9[9];
          for (int xi = 0; xi < 36; ++xi) e[xi] = d[xi][c];
          for (int j = 0; j < 6; ++j) gt6(e + j, 6, m + j, 6);          // G^T D: [3][6]
          for (int a = 0; a < 3; ++a) gt6(m + 6 * a, 1, w9 + 3 * a, 1);  // (G^T D) G: [3][3]
          std::copy_n(w9, 9, out[part] + ((co0 + c) * C + ci) * 9);
        }
      }
    });
  });
  return {gw[0], gw[1]};
}

}  // namespace

// Padding at most 2, so that the input's gradient, the same convolution with the flipped conjugate-transposed weight
// and padding 2 - p, is one too; channels in multiples of 16, whole vectors of every ISA.
bool winograd_fits(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p) {
  const auto small = [](int64_t v) { return v >= 0 && v <= 2; };
  return !p.transposed && p.groups == 1 && weight_re.size(2) == 3 && weight_re.size(3) == 3 &&
         p.stride == std::vector<int64_t>{1, 1} && p.dilation == std::vector<int64_t>{1, 1} && small(p.padding[0]) &&
         small(p.padding[1]) && x.size(1) / 2 % 16 == 0 && weight_re.size(0) % 16 == 0;
}

int64_t winograd_tiles(const at::Tensor& x, const ComplexConvParams& p) {
  return tile_count(x.size(0), x.size(2) + 2 * p.padding[0] - 2, x.size(3) + 2 * p.padding[1] - 2);
}

at::Tensor winograd_forward(const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi, const OptionalTensor& br,
                            const OptionalTensor& bi, const ComplexConvParams& p, at::MemoryFormat fmt) {
  return winograd_conv(x, wr, wi, br, bi, p.padding[0], p.padding[1], fmt);
}

// The input's gradient through Winograd: the convolution of grad by the flipped conjugate transpose of the weight,
// padding 2 - p; the weights' gradients through winograd_weight_grad; the biases' as sums of grad.
ConvGrads winograd_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi,
                            const ComplexConvParams& p, std::array<bool, 3> mask, at::MemoryFormat fmt) {
  const int64_t cout = wr.size(0);
  const at::Tensor g = to_channels_last(grad, CallSlot::grad);
  at::Tensor gx, gwr, gwi, gbr, gbi;
  if (mask[0]) {
    const at::Tensor fr = wr.flip({2, 3}).transpose(0, 1), fi = wi.flip({2, 3}).transpose(0, 1).neg();
    gx = winograd_conv(g, fr, fi, std::nullopt, std::nullopt, 2 - p.padding[0], 2 - p.padding[1], fmt);
  } else {
    gx = at::zeros(x.sizes(), x.options().memory_format(fmt));
  }
  if (mask[1]) {
    const at::Tensor xc = to_channels_last(x, CallSlot::operand);
    std::tie(gwr, gwi) = winograd_weight_grad(xc, g, p.padding[0], p.padding[1]);
  } else {
    gwr = at::zeros(wr.sizes(), wr.options());
    gwi = at::zeros(wr.sizes(), wr.options());
  }
  if (mask[2]) {
    gbr = grad.narrow(1, 0, cout).sum({0, 2, 3});
    gbi = grad.narrow(1, cout, cout).sum({0, 2, 3});
  } else {
    gbr = at::zeros({cout}, x.options());
    gbi = at::zeros({cout}, x.options());
  }
  return {gx, gwr, gwi, gbr, gbi};
}

}  // namespace specdiff::cpu
