// The block form of the complex convolutions (complex_conv_algorithms.h): ONE real convolution (oneDNN) of the
// split-layout x with the block weight [[Wr, -Wi], [Wi, Wr]], arranged per group. It adds up exactly the products
// of the reference's four convolutions, so inf and NaN land where the reference's do: the fallback for non-finite
// operands.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "cpu/complex_conv_algorithms.h"

namespace specdiff::cpu {

namespace {

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

}  // namespace

at::Tensor block_forward(const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
                         const OptionalTensor& bias_re, const OptionalTensor& bias_im, const ComplexConvParams& p,
                         at::MemoryFormat fmt) {
  const int64_t g = p.groups;
  const at::Tensor y = at::convolution(to_group_major(x, g, fmt), block_weight(weight_re, weight_im, p, fmt),
                                       block_bias(bias_re, bias_im, out_channels(weight_re, p), x, g), p.stride,
                                       p.padding, p.dilation, p.transposed, p.output_padding, g);
  return from_group_major(y, g, fmt);
}

ConvGrads block_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& weight_re,
                         const at::Tensor& weight_im, const ComplexConvParams& p, std::array<bool, 3> mask,
                         at::MemoryFormat fmt) {
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
