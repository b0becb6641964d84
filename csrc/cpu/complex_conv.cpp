#include "cpu/complex_conv.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <initializer_list>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "common/checks.h"
#include "common/cpu_isa.h"
#include "cpu/complex_pointwise.h"

namespace specdiff::cpu {

namespace {

// What a weight looks like, for messages: conv2d and conv_transpose2d order their dims differently.
const char* weight_layout(const ComplexConvParams& p) {
  return p.transposed ? "[Cin, Cout/groups, kh, kw]" : "[Cout, Cin/groups, kh, kw]";
}

int64_t out_channels(const at::Tensor& weight_re, const ComplexConvParams& p) {
  return p.transposed ? weight_re.size(1) * p.groups : weight_re.size(0);
}

std::vector<int64_t> output_size(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p) {
  std::vector<int64_t> size{x.size(0), 2 * out_channels(weight_re, p)};
  for (int d = 0; d < 2; ++d) {
    const int64_t in = x.size(d + 2), k = weight_re.size(d + 2);
    const int64_t span = p.dilation[d] * (k - 1) + 1;  // the dilated kernel
    size.push_back(p.transposed ? (in - 1) * p.stride[d] - 2 * p.padding[d] + span + p.output_padding[d]
                                : (in + 2 * p.padding[d] - span) / p.stride[d] + 1);
  }
  return size;
}

void check_params(const ComplexConvParams& p) {
  TORCH_CHECK(p.stride.size() == 2 && p.padding.size() == 2 && p.dilation.size() == 2 && p.output_padding.size() == 2,
              "specdiff: stride, padding, dilation and output_padding must have 2 elements each");
  TORCH_CHECK(p.groups >= 1, "specdiff: groups must be a positive integer, got ", p.groups);
  for (int d = 0; d < 2; ++d) {
    TORCH_CHECK(p.stride[d] >= 1, "specdiff: stride must be positive, got ", p.stride);
    TORCH_CHECK(p.dilation[d] >= 1, "specdiff: dilation must be positive, got ", p.dilation);
    TORCH_CHECK(p.padding[d] >= 0, "specdiff: padding must be non-negative, got ", p.padding);
    TORCH_CHECK(p.output_padding[d] >= 0 && (p.output_padding[d] < p.stride[d] || p.output_padding[d] < p.dilation[d]),
                "specdiff: output_padding must be non-negative and smaller than stride or dilation, got ",
                p.output_padding);
  }
}

void check_bias(const std::optional<at::Tensor>& bias, const char* name, const at::Tensor& x, int64_t cout) {
  if (!bias.has_value()) return;
  check_same_device(x, "x", *bias, name);
  TORCH_CHECK(bias->dim() == 1 && bias->size(0) == cout, "specdiff: ", name, " must be a 1-D tensor [Cout] = [",
              cout, "], got shape ", bias->sizes());
  TORCH_CHECK(bias->scalar_type() == x.scalar_type(), "specdiff: ", name, " must have x's dtype ", x.scalar_type(),
              ", got ", bias->scalar_type());
}

// Layout of the convolution, the output and grad_x: channels_last when x is, else contiguous (mirrored by the
// fake impls). Measured on CPU (oneDNN, float32, 2 threads, the standard shapes): converting a contiguous x
// to channels_last and back costs more than oneDNN's own reorders, so x's layout is kept.
at::MemoryFormat io_memory_format(const at::Tensor& x) {
  return x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous() ? at::MemoryFormat::ChannelsLast
                                                                               : at::MemoryFormat::Contiguous;
}

// [B, 2, g, c, H, W] (split layout) -> [B, g, 2, c, H, W]: each group of the real convolution then sees the
// real and imaginary channels of its own complex group. Splitting one dim is a view for any strides.
at::Tensor to_group_major(const at::Tensor& t, int64_t g, at::MemoryFormat fmt) {
  if (g == 1) return t.contiguous(fmt);
  const int64_t b = t.size(0), c = t.size(1) / (2 * g), h = t.size(2), w = t.size(3);
  at::Tensor out = at::empty(t.sizes(), t.options().memory_format(fmt));
  out.view({b, g, 2, c, h, w}).copy_(t.view({b, 2, g, c, h, w}).transpose(1, 2));
  return out;
}

at::Tensor from_group_major(const at::Tensor& t, int64_t g, at::MemoryFormat fmt) {
  if (g == 1) return t.contiguous(fmt);
  const int64_t b = t.size(0), c = t.size(1) / (2 * g), h = t.size(2), w = t.size(3);
  at::Tensor out = at::empty(t.sizes(), t.options().memory_format(fmt));
  out.view({b, 2, g, c, h, w}).copy_(t.view({b, g, 2, c, h, w}).transpose(1, 2));
  return out;
}

// The block weight, per group, with rows split by the real/imaginary part of the weight's dim 0 and columns by
// that of its dim 1: conv2d (dim 0 = output) [[Wr, -Wi], [Wi, Wr]]; conv_transpose2d (dim 0 = input)
// [[Wr, Wi], [-Wi, Wr]]. Row (g, p, o) is channel (2g + p) * a + o, column (q, i) is q * b + i, where a and b
// are weight_re.size(0) / groups and weight_re.size(1). Only the sign of the two Wi blocks differs.
struct BlockLayout {
  int64_t g, a, b, kh, kw;
  double sign01, sign10;  // the Wi block in row half 0 / column half 1, and in row half 1 / column half 0

  BlockLayout(const at::Tensor& wr, const ComplexConvParams& p)
      : g(p.groups), a(wr.size(0) / p.groups), b(wr.size(1)), kh(wr.size(2)), kw(wr.size(3)),
        sign01(p.transposed ? 1.0 : -1.0), sign10(p.transposed ? -1.0 : 1.0) {}

  // Weights are small: stay serial below ~64k block elements, where OpenMP hand-offs cost more than the copy.
  int64_t grain() const { return std::max<int64_t>(1, (int64_t{1} << 14) / (b * kh * kw)); }

  // f(src, off00, off01, off10, off11): src indexes the contiguous [g*a, b, kh, kw] weight, offXY the element
  // of block (X, Y) in a 4-D block tensor with strides st.
  template <typename F>
  void for_each(at::IntArrayRef st, const F& f) const {
    at::parallel_for(0, g * a, grain(), [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        const int64_t row0 = (row / a * 2) * a + row % a, row1 = row0 + a;
        for (int64_t i = 0; i < b; ++i) {
          for (int64_t y = 0; y < kh; ++y) {
            for (int64_t x = 0; x < kw; ++x) {
              const int64_t src = ((row * b + i) * kh + y) * kw + x, yx = y * st[2] + x * st[3];
              f(src, row0 * st[0] + i * st[1] + yx, row0 * st[0] + (b + i) * st[1] + yx,
                row1 * st[0] + i * st[1] + yx, row1 * st[0] + (b + i) * st[1] + yx);
            }
          }
        }
      }
    });
  }
};

at::Tensor block_weight(const at::Tensor& wr, const at::Tensor& wi, const ComplexConvParams& p,
                        at::MemoryFormat fmt) {
  const BlockLayout L(wr, p);
  at::Tensor blk = at::empty({2 * L.g * L.a, 2 * L.b, L.kh, L.kw}, wr.options().memory_format(fmt));
  const at::Tensor r = wr.contiguous(), i = wi.contiguous();
  AT_DISPATCH_FLOATING_TYPES(wr.scalar_type(), "complex_conv_block_weight", [&] {
    const scalar_t *re = r.const_data_ptr<scalar_t>(), *im = i.const_data_ptr<scalar_t>();
    scalar_t* out = blk.mutable_data_ptr<scalar_t>();
    const auto s01 = static_cast<scalar_t>(L.sign01), s10 = static_cast<scalar_t>(L.sign10);
    L.for_each(blk.strides(), [&](int64_t src, int64_t o00, int64_t o01, int64_t o10, int64_t o11) {
      out[o00] = out[o11] = re[src];
      out[o01] = s01 * im[src];
      out[o10] = s10 * im[src];
    });
  });
  return blk;
}

// The chain rule through block_weight: grad Wr = G(0,0) + G(1,1), grad Wi = sign01 G(0,1) + sign10 G(1,0).
std::pair<at::Tensor, at::Tensor> fold_block_weight_grad(const at::Tensor& gblk, const at::Tensor& wr,
                                                         const ComplexConvParams& p) {
  const BlockLayout L(wr, p);
  at::Tensor gr = at::empty(wr.sizes(), wr.options()), gi = at::empty(wr.sizes(), wr.options());
  AT_DISPATCH_FLOATING_TYPES(wr.scalar_type(), "complex_conv_fold_block_weight_grad", [&] {
    const scalar_t* in = gblk.const_data_ptr<scalar_t>();
    scalar_t *re = gr.mutable_data_ptr<scalar_t>(), *im = gi.mutable_data_ptr<scalar_t>();
    const auto s01 = static_cast<scalar_t>(L.sign01), s10 = static_cast<scalar_t>(L.sign10);
    L.for_each(gblk.strides(), [&](int64_t dst, int64_t o00, int64_t o01, int64_t o10, int64_t o11) {
      re[dst] = in[o00] + in[o11];
      im[dst] = s01 * in[o01] + s10 * in[o10];
    });
  });
  return {gr, gi};
}

// [g, 2, Cout/g]: the bias in the group-major channel order of the real convolution's output.
std::optional<at::Tensor> block_bias(const std::optional<at::Tensor>& br, const std::optional<at::Tensor>& bi,
                                     int64_t cout, const at::Tensor& like, int64_t g) {
  if (!br.has_value() && !bi.has_value()) return std::nullopt;
  at::Tensor blk = at::zeros({g, 2, cout / g}, like.options());
  if (br.has_value()) blk.select(1, 0).copy_(br->view({g, cout / g}));
  if (bi.has_value()) blk.select(1, 1).copy_(bi->view({g, cout / g}));
  return blk.view({2 * cout});
}

// ---- Gauss's form: three half-width products k = conv(xr + xi, Wr), u = conv(xi, Wr + Wi), v = conv(xr, Wr - Wi),
// then re = k - u and im = k - v. The three run as three separate convolutions in channels_last, whatever x's
// layout: the operands are new tensors anyway, and oneDNN runs three channels_last convolutions faster than one
// grouped convolution of the stacked operands. Measured fwd+bwd in one process (2 threads; 64x64x32x32,
// 32x128x16x16, 16x32x64x64, 8x16x128x128 as B x C x H x W): 240 | 111 | 77 | 40 ms separate, against
// 264 | 117 | 75 | 54 grouped (the previous form) and 283 | 132 | 77 | 44 for the block weight.

enum class Algorithm { automatic, block, gauss, gemm, winograd };

std::atomic<int>& algorithm_slot() {
  static std::atomic<int> slot{static_cast<int>(Algorithm::automatic)};
  return slot;
}

using Triple = std::array<at::Tensor, 3>;

// Runs fn(b, p0, p1) over every sample b and range of at most 256 of its P pixels, in parallel: the tasks of the
// layout-changing passes.
template <typename F>
void for_pixel_chunks(int64_t B, int64_t P, const F& fn) {
  constexpr int64_t kChunk = 256;
  const int64_t chunks = (P + kChunk - 1) / kChunk;
  at::parallel_for(0, B * chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t task = begin; task < end; ++task) {
      const int64_t b = task / chunks, p0 = task % chunks * kChunk;
      fn(b, p0, std::min(P, p0 + kChunk));
    }
  });
}

// Gauss's operands from a split-layout t = [re | im] (contiguous or channels_last), each [B, C, H, W] in
// channels_last: [re + im, im, re] (the forward's inputs, and the backward's upstream gradients), or
// [re, re - im, re + im] (the backward's inputs). One pass over t; from the contiguous layout through the lane
// kernels' register-tile transposes.
Triple gauss_operands(const at::Tensor& t_in, bool backward_input) {
  const bool cl = !t_in.is_contiguous() && t_in.is_contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor t = cl ? t_in : t_in.contiguous();
  const int64_t B = t.size(0), C = t.size(1) / 2, P = t.size(2) * t.size(3);
  const auto part = [&] {
    return at::empty({B, C, t.size(2), t.size(3)}, t.options().memory_format(at::MemoryFormat::ChannelsLast));
  };
  Triple out{part(), part(), part()};
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "complex_conv_gauss_operands", [&] {
    using T = scalar_t;
    const T* in = t.const_data_ptr<T>();
    T* o[3] = {out[0].mutable_data_ptr<T>(), out[1].mutable_data_ptr<T>(), out[2].mutable_data_ptr<T>()};
    const GaussSplitFn<T> split = lane_kernels<T>().gauss_split;
    for_pixel_chunks(B, P, [&](int64_t b, int64_t p0, int64_t p1) {
      const int64_t base = b * P * C;
      if (!cl) return split(in + 2 * base, C, P, p0, p1, backward_input, o[0] + base, o[1] + base, o[2] + base);
      for (int64_t p = p0; p < p1; ++p) {  // channels_last in and out: pixel by pixel
        const T *re = in + 2 * base + 2 * p * C, *im = re + C;
        T *a = o[0] + base + p * C, *d = o[1] + base + p * C, *e = o[2] + base + p * C;
        if (backward_input) {
          for (int64_t c = 0; c < C; ++c) a[c] = re[c], d[c] = re[c] - im[c], e[c] = re[c] + im[c];
        } else {
          for (int64_t c = 0; c < C; ++c) a[c] = re[c] + im[c], d[c] = im[c], e[c] = re[c];
        }
      }
    });
  });
  return out;
}

// The split layout [k - u ; k - v] in fmt from channels_last k, u, v. One pass.
at::Tensor gauss_combine(const Triple& kuv, at::MemoryFormat fmt) {
  const at::Tensor k = kuv[0].contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor u = kuv[1].contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor v = kuv[2].contiguous(at::MemoryFormat::ChannelsLast);
  const int64_t B = k.size(0), C = k.size(1), P = k.size(2) * k.size(3);
  at::Tensor out = at::empty({B, 2 * C, k.size(2), k.size(3)}, k.options().memory_format(fmt));
  const bool cl = fmt == at::MemoryFormat::ChannelsLast;
  AT_DISPATCH_FLOATING_TYPES(k.scalar_type(), "complex_conv_gauss_combine", [&] {
    using T = scalar_t;
    const T *pk = k.const_data_ptr<T>(), *pu = u.const_data_ptr<T>(), *pv = v.const_data_ptr<T>();
    T* po = out.mutable_data_ptr<T>();
    const GaussMergeFn<T> merge = lane_kernels<T>().gauss_merge;
    for_pixel_chunks(B, P, [&](int64_t b, int64_t p0, int64_t p1) {
      const int64_t base = b * P * C;
      if (!cl) return merge(pk + base, pu + base, pv + base, C, P, p0, p1, po + 2 * base);
      for (int64_t p = p0; p < p1; ++p) {  // channels_last in and out: pixel by pixel
        const int64_t src = base + p * C;
        T *re = po + 2 * base + 2 * p * C, *im = re + C;
        for (int64_t c = 0; c < C; ++c) re[c] = pk[src + c] - pu[src + c], im[c] = pk[src + c] - pv[src + c];
      }
    });
  });
  return out;
}

// The weights [Wr, Wr + Wi, Wr - Wi] (forward) or [Wr, Wr - Wi, Wr + Wi] (backward), channels_last.
Triple gauss_weights(const at::Tensor& wr, const at::Tensor& wi, bool backward) {
  const auto cl = at::MemoryFormat::ChannelsLast;
  const at::Tensor sum = at::add(wr, wi).contiguous(cl), diff = at::sub(wr, wi).contiguous(cl);
  return {wr.contiguous(cl), backward ? diff : sum, backward ? sum : diff};
}

at::Tensor gauss_forward(const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi,
                         const std::optional<at::Tensor>& br, const std::optional<at::Tensor>& bi,
                         const ComplexConvParams& p, at::MemoryFormat fmt) {
  // re = k - u + br, im = k - v + bi: the biases enter u and v negated.
  const auto negated = [](const std::optional<at::Tensor>& b) {
    return b.has_value() ? std::optional<at::Tensor>(-*b) : std::nullopt;
  };
  const std::optional<at::Tensor> bias[3] = {std::nullopt, negated(br), negated(bi)};
  const Triple xs = gauss_operands(x, false), ws = gauss_weights(wr, wi, false);
  Triple kuv;
  for (int j = 0; j < 3; ++j) {
    kuv[j] = at::convolution(xs[j], ws[j], bias[j], p.stride, p.padding, p.dilation, p.transposed, p.output_padding,
                             p.groups);
  }
  return gauss_combine(kuv, fmt);
}

// The adjoint of Gauss's form for grad = a + i b: grad_x = [m1 - m2 ; m1 - m3] with m1 = A^T (a + b),
// m2 = (A - B)^T b, m3 = (A + B)^T a (A, B the real convolutions by Wr, Wi); grad Wr = n1 - n2 and
// grad Wi = n1 - n3 with n1 = corr(a + b, xr), n2 = corr(b, xr - xi), n3 = corr(a, xr + xi). Each pair (m_j, n_j)
// shares its upstream gradient: one convolution_backward per product on [a + b | b | a], [xr | xr - xi | xr + xi]
// and [Wr | Wr - Wi | Wr + Wi]; its bias gradients are [. | sum b | sum a].
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> gauss_backward(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi,
    const ComplexConvParams& p, std::array<bool, 3> mask, at::MemoryFormat fmt) {
  const int64_t cin = x.size(1) / 2, cout = grad.size(1) / 2;
  const Triple gs = gauss_operands(grad, false), ws = gauss_weights(wr, wi, true);
  // Without weight gradients only the input's shape matters.
  const auto cl = at::MemoryFormat::ChannelsLast;
  const at::Tensor shape_only =
      mask[1] ? at::Tensor() : at::empty({x.size(0), cin, x.size(2), x.size(3)}, x.options().memory_format(cl));
  const Triple xs = mask[1] ? gauss_operands(x, true) : Triple{shape_only, shape_only, shape_only};
  const std::vector<int64_t> bias_sizes{cout};
  Triple m, n, gb;
  for (int j = 0; j < 3; ++j) {
    const bool need_bias = mask[2] && j > 0;
    std::tie(m[j], n[j], gb[j]) = at::convolution_backward(
        gs[j], xs[j], ws[j], need_bias ? at::OptionalIntArrayRef(bias_sizes) : std::nullopt, p.stride, p.padding,
        p.dilation, p.transposed, p.output_padding, p.groups, {mask[0], mask[1], need_bias});
  }
  const at::Tensor gx = mask[0] ? gauss_combine(m, fmt) : at::zeros(x.sizes(), x.options().memory_format(fmt));
  at::Tensor gwr = at::zeros(wr.sizes(), wr.options()), gwi = at::zeros(wr.sizes(), wr.options());
  if (mask[1]) {
    at::sub_out(gwr, n[0], n[1]);
    at::sub_out(gwi, n[0], n[2]);
  }
  at::Tensor gbr = mask[2] ? gb[2] : at::zeros({cout}, x.options());
  at::Tensor gbi = mask[2] ? gb[1] : at::zeros({cout}, x.options());
  return {gx, gwr, gwi, gbr, gbi};
}

// t (contiguous) in channels_last, or (channels_last) back in the contiguous layout: one pass of the lane
// kernels' register-tile transposes.
at::Tensor relayout(const at::Tensor& t, bool to_channels_last) {
  at::Tensor out = at::empty(t.sizes(), t.options().memory_format(to_channels_last ? at::MemoryFormat::ChannelsLast
                                                                                   : at::MemoryFormat::Contiguous));
  const int64_t B = t.size(0), C = t.size(1), P = t.size(2) * t.size(3);
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "complex_conv_relayout", [&] {
    using T = scalar_t;
    const T* in = t.const_data_ptr<T>();
    T* o = out.mutable_data_ptr<T>();
    const RelayoutFn<T> fn =
        to_channels_last ? lane_kernels<T>().planes_to_channels_last : lane_kernels<T>().channels_last_to_planes;
    for_pixel_chunks(B, P, [&](int64_t b, int64_t p0, int64_t p1) { fn(in + b * C * P, C, P, p0, p1, o + b * C * P); });
  });
  return out;
}

// t in channels_last: through relayout from the contiguous layout, else through ATen.
at::Tensor to_channels_last(const at::Tensor& t) {
  const auto cl = at::MemoryFormat::ChannelsLast;
  return t.is_contiguous(cl) || !t.is_contiguous() ? t.contiguous(cl) : relayout(t, true);
}

// Winograd's F(4x4, 3x3) (lane_winograd.h) serves 3x3 convolutions of stride 1, no dilation, one group, padding
// at most 2 (so that the input's gradient, the same convolution with the flipped conjugate-transposed weight and
// padding 2 - p, is one too), and channels in whole vectors.
bool winograd_fits(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p) {
  const auto small = [](int64_t v) { return v >= 0 && v <= 2; };
  return !p.transposed && p.groups == 1 && weight_re.size(2) == 3 && weight_re.size(3) == 3 &&
         p.stride == std::vector<int64_t>{1, 1} && p.dilation == std::vector<int64_t>{1, 1} && small(p.padding[0]) &&
         small(p.padding[1]) && x.size(1) / 2 % 16 == 0 && weight_re.size(0) % 16 == 0;
}

// The 4x4 tiles of B outputs of OH x OW pixels (Winograd's form computes whole tiles).
int64_t winograd_tiles(int64_t B, int64_t OH, int64_t OW) { return B * ((OH + 3) / 4) * ((OW + 3) / 4); }

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

// Tiles per block of the Winograd kernels, a multiple of rows: `fit` (what keeps a block's scratch in L2) or, for
// convolutions of at least 256 x 128 channels, enough tiles to share the transformed weights (36 x 3 Cin Cout
// values streamed per block in the forward, as many sums per thread in the weights' gradient): Cin Cout / 1024,
// up to 64, but no more than a thread's share of the tiles. Measured fwd+bwd (2 threads, in one process):
// 8x256x16x16 61-67 ms with these blocks against 86 with the fit (Gauss: 101), 16x512x16x16 418-428 against 782
// (Gauss: 774-791); at 128 x 128 channels they were 1-10% slower than the fit.
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
  const at::Tensor x = to_channels_last(x_in);
  const int64_t B = x.size(0), C = x.size(1) / 2, H = x.size(2), W = x.size(3), cout = wr.size(0);
  const int64_t OH = H + 2 * pad_h - 2, OW = W + 2 * pad_w - 2;
  at::Tensor y = at::empty({B, 2 * cout, OH, OW}, x.options().memory_format(at::MemoryFormat::ChannelsLast));
  const at::Tensor u = winograd_weights(wr, wi);
  const at::Tensor bre = br.has_value() ? br->contiguous() : at::Tensor();
  const at::Tensor bim = bi.has_value() ? bi->contiguous() : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "complex_conv_winograd", [&] {
    using T = scalar_t;
    const LaneKernels<T>& k = lane_kernels<T>();
    const int64_t per_tile = winograd_scratch_elems(C, cout, 1) * static_cast<int64_t>(sizeof(T));
    const int64_t tiles = winograd_tiles(B, OH, OW);
    const int64_t tile_block = winograd_tile_block(C, cout, tiles, (512 << 10) / per_tile, k.winograd_rows);
    const int64_t blocks = (tiles + tile_block - 1) / tile_block;
    WinogradConv<T> conv{x.const_data_ptr<T>(), u.const_data_ptr<T>(),
                         bre.defined() ? bre.const_data_ptr<T>() : nullptr,
                         bim.defined() ? bim.const_data_ptr<T>() : nullptr,
                         y.mutable_data_ptr<T>(), B, H, W, C, cout, OH, OW, pad_h, pad_w, tile_block};
    at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
      std::unique_ptr<T[]> scratch(new T[winograd_scratch_elems(C, cout, tile_block)]);
      k.winograd_conv(conv, b0, b1, scratch.get());
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
    const LaneKernels<T>& k = lane_kernels<T>();
    // Tiles are the GEMMs' reduction here: long blocks (at least 16 tiles, up to 1 MiB of scratch) keep the
    // accumulators' traffic small.
    const int64_t per_tile = winograd_grad_scratch_elems(C, cout, 1) * static_cast<int64_t>(sizeof(T));
    const int64_t tiles = winograd_tiles(B, OH, OW);
    const int64_t tile_block = winograd_tile_block(C, cout, tiles, std::max<int64_t>(16, (1 << 20) / per_tile), 1);
    const int64_t blocks = (tiles + tile_block - 1) / tile_block;
    const WinogradConv<T> conv{x.const_data_ptr<T>(), nullptr, nullptr, nullptr, nullptr, B, H, W, C, cout, OH, OW,
                               pad_h, pad_w, tile_block};
    const T* g = grad.const_data_ptr<T>();
    // One part of the blocks per thread, each with its own sums (zeroed by the thread that fills them): the
    // result does not depend on which thread ran what. The sums take 72 Cin Cout values per part (19 MB at
    // 256 x 256 channels in float32), so many threads share fewer parts: at most 256 MiB of them, but 2 parts.
    const int64_t budget = std::max<int64_t>(2, (int64_t{256} << 20) / (per_part * static_cast<int64_t>(sizeof(T))));
    const int64_t parts = std::min<int64_t>({at::get_num_threads(), blocks, budget});
    std::unique_ptr<T[]> sums(new T[parts * per_part]);
    at::parallel_for(0, parts, 1, [&](int64_t q0, int64_t q1) {
      std::unique_ptr<T[]> scratch(new T[winograd_grad_scratch_elems(C, cout, tile_block)]);
      for (int64_t q = q0; q < q1; ++q) {
        T* mine = sums.get() + q * per_part;
        std::fill(mine, mine + per_part, T(0));
        k.winograd_weight_grad(conv, g, q * blocks / parts, (q + 1) * blocks / parts, scratch.get(), mine);
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
            const T* src = sums.get() + q * per_part + ((xi * 2 + part) * C + ci) * cout + co0;
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

// The input's gradient through Winograd: the convolution of grad by the flipped conjugate transpose of the weight,
// padding 2 - p; the weights' gradients through winograd_weight_grad; the biases' as sums of grad.
std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> winograd_backward(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi,
    const ComplexConvParams& p, std::array<bool, 3> mask, at::MemoryFormat fmt) {
  const int64_t cout = wr.size(0);
  const at::Tensor g = to_channels_last(grad);
  at::Tensor gx, gwr, gwi, gbr, gbi;
  if (mask[0]) {
    const at::Tensor fr = wr.flip({2, 3}).transpose(0, 1), fi = wi.flip({2, 3}).transpose(0, 1).neg();
    gx = winograd_conv(g, fr, fi, std::nullopt, std::nullopt, 2 - p.padding[0], 2 - p.padding[1], fmt);
  } else {
    gx = at::zeros(x.sizes(), x.options().memory_format(fmt));
  }
  if (mask[1]) {
    std::tie(gwr, gwi) = winograd_weight_grad(to_channels_last(x), g, p.padding[0], p.padding[1]);
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

// GEMMs (complex_pointwise.h) serve pointwise convolutions: 1x1 kernel, stride 1, no padding, not transposed, on
// the contiguous layout (a channels_last x keeps oneDNN, whose layout is already one GEMM).
bool is_pointwise(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p, at::MemoryFormat fmt) {
  return !p.transposed && fmt == at::MemoryFormat::Contiguous && weight_re.size(2) == 1 && weight_re.size(3) == 1 &&
         p.stride == std::vector<int64_t>{1, 1} && p.padding == std::vector<int64_t>{0, 0} &&
         pointwise_available(x.scalar_type(), x.size(2) * x.size(3), std::max(x.size(1) / 2, weight_re.size(0)));
}

// The one predicate choosing the algorithm. Gauss's form saves a quarter of the multiply-adds but runs three
// half-width convolutions and two elementwise passes; it wins once the half width is itself a full multiple of
// oneDNN's 16-channel blocking. Measured (CPU, AVX-512, 2 threads, fwd+bwd time block/gauss, 3x3): 1.12-1.30 for
// C = 48, 64, 128 complex channels per group; 1.04-1.15 for C = 32 and 1.01-1.06 for C = 16 (16x32x32 to
// 8x128x128 images, both layouts); 0.50-0.91 for C = 8, 24, 40.
// Winograd's form, where it fits, does 1/4 of Gauss's multiply-adds but transforms the weights on every call
// (twice with the input's gradient), pays per block of tiles for streaming them, and per thread for the weight
// gradient's sums; it wins from about 64 output tiles. Measured (fwd+bwd time gauss/winograd, 2 threads):
// 1.42-2.38 from 128 tiles (C = 16 to 128, 8x8 to 64x64 images), 1.36-1.85 at 64 tiles; 0.31-0.83 at 1 to 16
// tiles, 1.16 at 18; C = 256 and 512 (with winograd_tile_block's longer blocks): 1.56-1.94 from 128 tiles,
// 1.16-1.22 at 64. Wider than 512 x 512 channels is not measured (its transformed weights alone would take
// 36 x 3 Cin Cout values), so it keeps Gauss's form.
// Pointwise convolutions take the GEMM form under "auto" and "gemm"; the other convolutions under "gemm" take
// the block form. A forced "winograd" takes Gauss's form where Winograd's does not fit.
Algorithm choose_algorithm(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p,
                           at::MemoryFormat fmt) {
  const auto forced = static_cast<Algorithm>(algorithm_slot().load());
  if (forced == Algorithm::block || forced == Algorithm::gauss) return forced;
  if (forced == Algorithm::winograd) return winograd_fits(x, weight_re, p) ? forced : Algorithm::gauss;
  if (is_pointwise(x, weight_re, p, fmt)) return Algorithm::gemm;
  if (forced == Algorithm::gemm) return Algorithm::block;
  if (winograd_fits(x, weight_re, p)) {
    const int64_t tiles = winograd_tiles(x.size(0), x.size(2) + 2 * p.padding[0] - 2, x.size(3) + 2 * p.padding[1] - 2);
    if (tiles >= 64 && x.size(1) / 2 * weight_re.size(0) <= 512 * 512) return Algorithm::winograd;
  }
  // Gauss saves a quarter of the multiplies but pays for its operand and combining passes; that only wins when
  // the kernel has spatial extent (1x1 convolutions measured slower than even the 4-conv reference).
  const int64_t cin = x.size(1) / 2 / p.groups, cout = out_channels(weight_re, p) / p.groups;
  const bool spatial = weight_re.size(2) * weight_re.size(3) > 1;
  return spatial && cin % 16 == 0 && cout % 16 == 0 ? Algorithm::gauss : Algorithm::block;
}

// False when t holds an inf or a NaN: one read pass (aminmax propagates NaN).
bool all_finite(const at::Tensor& t) {
  if (t.numel() == 0) return true;
  const auto [lo, hi] = at::aminmax(t);
  return std::isfinite(lo.item<double>()) && std::isfinite(hi.item<double>());
}

// The algorithm of one call: choose_algorithm's, except that operands holding inf or NaN take the block form.
// Winograd's transforms mix a tile's neighbouring inputs (one NaN pixel would poison whole 4x4 output tiles) and
// Gauss's form (the GEMMs' too) subtracts products (inf - inf = NaN where the reference has inf); the block form
// adds up exactly the products of the reference's four convolutions, so its inf and NaN land where the
// reference's do. The check runs only where another algorithm was chosen.
Algorithm choose_algorithm_for_values(const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
                                      std::initializer_list<const at::Tensor*> others, const ComplexConvParams& p,
                                      at::MemoryFormat fmt) {
  const Algorithm a = choose_algorithm(x, weight_re, p, fmt);
  if (a == Algorithm::block) return a;
  bool finite = all_finite(x) && all_finite(weight_re) && all_finite(weight_im);
  for (const at::Tensor* t : others) finite = finite && (t == nullptr || !t->defined() || all_finite(*t));
  return finite ? a : Algorithm::block;
}

const char* algorithm_name(Algorithm a) {
  switch (a) {
    case Algorithm::block:
      return "block";
    case Algorithm::gauss:
      return "gauss";
    case Algorithm::gemm:
      return "gemm";
    case Algorithm::winograd:
      return "winograd";
    case Algorithm::automatic:
      break;
  }
  return "auto";
}

// For tests and benchmarks: forces "block", "gauss", "gemm" or "winograd" ("auto": the predicate decides); returns
// the previous.
std::string set_algorithm_op(const std::string& name) {
  TORCH_CHECK(name == "auto" || name == "block" || name == "gauss" || name == "gemm" || name == "winograd",
              "specdiff: unknown complex conv algorithm '", name, "'; expected auto, block, gauss, gemm or winograd");
  const Algorithm a = name == "block"      ? Algorithm::block
                      : name == "gauss"    ? Algorithm::gauss
                      : name == "gemm"     ? Algorithm::gemm
                      : name == "winograd" ? Algorithm::winograd
                                           : Algorithm::automatic;
  return algorithm_name(static_cast<Algorithm>(algorithm_slot().exchange(static_cast<int>(a))));
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(specdiff, m) { m.def("_complex_conv_algorithm(str algorithm) -> str", &set_algorithm_op); }

void check_complex_conv(const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
                        const std::optional<at::Tensor>& bias_re, const std::optional<at::Tensor>& bias_im,
                        const ComplexConvParams& p) {
  check_real_image(x, "x");
  check_not_empty(x, "x", "[B, 2*Cin, H, W]", /*empty_batch=*/true);
  TORCH_CHECK(x.size(1) % 2 == 0, "specdiff: x must have an even channel count on the split layout [B, 2*Cin, H, W] ",
              "(real half first), got ", x.size(1), " channels");
  check_params(p);
  const int64_t cin = x.size(1) / 2;
  check_same_device(x, "x", weight_re, "weight_re");
  check_same_device(x, "x", weight_im, "weight_im");
  TORCH_CHECK(weight_re.dim() == 4, "specdiff: weight_re must be a 4-D tensor ", weight_layout(p), ", got shape ",
              weight_re.sizes());
  TORCH_CHECK(weight_re.scalar_type() == x.scalar_type(), "specdiff: weight_re must have x's dtype ", x.scalar_type(),
              ", got ", weight_re.scalar_type());
  TORCH_CHECK(weight_im.sizes() == weight_re.sizes(), "specdiff: weight_im must have weight_re's shape ",
              weight_re.sizes(), ", got ", weight_im.sizes());
  TORCH_CHECK(weight_im.scalar_type() == x.scalar_type(), "specdiff: weight_im must have x's dtype ", x.scalar_type(),
              ", got ", weight_im.scalar_type());
  TORCH_CHECK(weight_re.size(2) >= 1 && weight_re.size(3) >= 1, "specdiff: weight_re must have kernel sizes kh, kw ",
              ">= 1, got shape ", weight_re.sizes());
  TORCH_CHECK(cin % p.groups == 0, "specdiff: groups=", p.groups, " must divide the complex input channels Cin=",
              cin, " of x [B, 2*Cin, H, W]");
  if (p.transposed) {
    TORCH_CHECK(weight_re.size(0) == cin, "specdiff: weight_re must be [Cin, Cout/groups, kh, kw] with Cin=", cin,
                " (x has 2*Cin=", x.size(1), " channels), got shape ", weight_re.sizes());
  } else {
    TORCH_CHECK(weight_re.size(0) % p.groups == 0, "specdiff: groups=", p.groups,
                " must divide the output channels Cout=weight_re.size(0)=", weight_re.size(0));
    TORCH_CHECK(weight_re.size(1) * p.groups == cin, "specdiff: weight_re must be [Cout, Cin/groups, kh, kw] with ",
                "Cin/groups=", cin / p.groups, " (x has 2*Cin=", x.size(1), " channels, groups=", p.groups,
                "), got shape ", weight_re.sizes());
  }
  const int64_t cout = out_channels(weight_re, p);
  TORCH_CHECK(cout > 0, "specdiff: weight_re ", weight_layout(p), " gives no output channels, got shape ",
              weight_re.sizes());
  check_bias(bias_re, "bias_re", x, cout);
  check_bias(bias_im, "bias_im", x, cout);
  const std::vector<int64_t> out = output_size(x, weight_re, p);
  TORCH_CHECK(out[2] >= 1 && out[3] >= 1, "specdiff: x of spatial size [", x.size(2), ", ", x.size(3),
              "] gives an empty output [", out[2], ", ", out[3], "] with weight_re ", weight_re.sizes(),
              ", padding ", p.padding, " and dilation ", p.dilation);
}

at::Tensor complex_conv_forward(const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
                                const std::optional<at::Tensor>& bias_re, const std::optional<at::Tensor>& bias_im,
                                const ComplexConvParams& p) {
  check_complex_conv(x, weight_re, weight_im, bias_re, bias_im, p);
  const at::MemoryFormat fmt = io_memory_format(x);
  const Algorithm algorithm = choose_algorithm_for_values(
      x, weight_re, weight_im, {bias_re ? &*bias_re : nullptr, bias_im ? &*bias_im : nullptr}, p, fmt);
  if (algorithm == Algorithm::gemm) return pointwise_forward(x, weight_re, weight_im, bias_re, bias_im, p.groups);
  if (algorithm == Algorithm::gauss) return gauss_forward(x, weight_re, weight_im, bias_re, bias_im, p, fmt);
  if (algorithm == Algorithm::winograd) {
    return winograd_conv(x, weight_re, weight_im, bias_re, bias_im, p.padding[0], p.padding[1], fmt);
  }
  const int64_t g = p.groups;
  const at::Tensor y = at::convolution(to_group_major(x, g, fmt), block_weight(weight_re, weight_im, p, fmt),
                                       block_bias(bias_re, bias_im, out_channels(weight_re, p), x, g), p.stride,
                                       p.padding, p.dilation, p.transposed, p.output_padding, g);
  return from_group_major(y, g, fmt);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor> complex_conv_backward(
    const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
    const ComplexConvParams& p, std::array<bool, 3> mask) {
  check_complex_conv(x, weight_re, weight_im, std::nullopt, std::nullopt, p);
  check_same_device(x, "x", grad, "grad");
  const std::vector<int64_t> out = output_size(x, weight_re, p);
  TORCH_CHECK(grad.sizes() == at::IntArrayRef(out) && grad.scalar_type() == x.scalar_type(), "specdiff: grad must be ",
              x.scalar_type(), " of the output's shape ", out, ", got ", grad.scalar_type(), " ", grad.sizes());
  const at::MemoryFormat fmt = io_memory_format(x);
  const Algorithm algorithm = choose_algorithm_for_values(x, weight_re, weight_im, {&grad}, p, fmt);
  if (algorithm == Algorithm::gemm) return pointwise_backward(grad, x, weight_re, weight_im, p.groups, mask);
  if (algorithm == Algorithm::gauss) return gauss_backward(grad, x, weight_re, weight_im, p, mask, fmt);
  if (algorithm == Algorithm::winograd) return winograd_backward(grad, x, weight_re, weight_im, p, mask, fmt);
  const int64_t g = p.groups, cout = out_channels(weight_re, p);
  const std::vector<int64_t> bias_sizes{2 * cout};
  auto [gx, gblk, gbias] = at::convolution_backward(
      to_group_major(grad, g, fmt), to_group_major(x, g, fmt), block_weight(weight_re, weight_im, p, fmt),
      mask[2] ? at::OptionalIntArrayRef(bias_sizes) : std::nullopt, p.stride, p.padding, p.dilation, p.transposed,
      p.output_padding, g, {mask[0], mask[1], mask[2]});

  gx = mask[0] ? from_group_major(gx, g, fmt) : at::zeros(x.sizes(), x.options().memory_format(fmt));
  at::Tensor gwr, gwi;
  if (mask[1]) {
    std::tie(gwr, gwi) = fold_block_weight_grad(gblk, weight_re, p);
  } else {
    gwr = at::zeros(weight_re.sizes(), weight_re.options());
    gwi = at::zeros(weight_re.sizes(), weight_re.options());
  }
  at::Tensor gbr, gbi;
  if (mask[2]) {
    const at::Tensor v = gbias.view({g, 2, cout / g});
    gbr = v.select(1, 0).reshape({cout});
    gbi = v.select(1, 1).reshape({cout});
  } else {
    gbr = at::zeros({cout}, x.options());
    gbi = at::zeros({cout}, x.options());
  }
  return {gx, gwr, gwi, gbr, gbi};
}

}  // namespace specdiff::cpu
