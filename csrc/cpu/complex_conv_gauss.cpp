// Gauss's form of the complex convolutions (complex_conv_algorithms.h): three half-width products
// k = conv(xr + xi, Wr), u = conv(xi, Wr + Wi), v = conv(xr, Wr - Wi), then re = k - u and im = k - v. The three
// run as three separate oneDNN convolutions in channels_last, whatever x's layout: the operands are new tensors
// anyway, and oneDNN runs three channels_last convolutions faster than one grouped convolution of the stacked
// operands (docs/cpu_kernels.md).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include <array>
#include <vector>

#include "cpu/complex_conv_algorithms.h"
#include "cpu/lanes/conv_layout.h"

namespace specdiff::cpu {

namespace {

using Triple = std::array<at::Tensor, 3>;

// Gauss's operands from a split-layout t = [re | im] (contiguous or channels_last), each [B, C, H, W] in
// channels_last: [re + im, im, re] (the forward's inputs, and the backward's upstream gradients), or with
// `adjoint` [re, re - im, re + im] (the backward's inputs). One pass over t; from the contiguous layout through
// the lane kernels' register-tile transposes. The three are intermediates: views of the calling thread's buffer
// for `slot` (cpu/workspace.h).
Triple gauss_operands(const at::Tensor& t_in, bool adjoint, CallSlot slot) {
  const bool cl = !t_in.is_contiguous() && t_in.is_contiguous(at::MemoryFormat::ChannelsLast);
  const at::Tensor t = cl ? t_in : t_in.contiguous();
  const int64_t B = t.size(0), C = t.size(1) / 2, P = t.size(2) * t.size(3);
  const at::Tensor parts = channels_last_scratch(slot, {3 * B, C, t.size(2), t.size(3)}, t.options());
  Triple out{parts.narrow(0, 0, B), parts.narrow(0, B, B), parts.narrow(0, 2 * B, B)};
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "complex_conv_gauss_operands", [&] {
    using T = scalar_t;
    const T* in = t.const_data_ptr<T>();
    T* o[3] = {out[0].mutable_data_ptr<T>(), out[1].mutable_data_ptr<T>(), out[2].mutable_data_ptr<T>()};
    const GaussSplitFn<T> split =
        adjoint ? conv_layout_lanes<T>().gauss_split_adjoint : conv_layout_lanes<T>().gauss_split_forward;
    for_pixel_chunks(B, P, [&](int64_t b, int64_t p0, int64_t p1) {
      const int64_t base = b * P * C;
      if (!cl) return split(in + 2 * base, C, P, p0, p1, o[0] + base, o[1] + base, o[2] + base);
      for (int64_t p = p0; p < p1; ++p) {  // channels_last in and out: pixel by pixel
        const T *re = in + 2 * base + 2 * p * C, *im = re + C;
        T *a = o[0] + base + p * C, *d = o[1] + base + p * C, *e = o[2] + base + p * C;
        if (adjoint) {
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
    const GaussMergeFn<T> merge = conv_layout_lanes<T>().gauss_merge;
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

}  // namespace

at::Tensor gauss_forward(const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi, const OptionalTensor& br,
                         const OptionalTensor& bi, const ComplexConvParams& p, at::MemoryFormat fmt) {
  // re = k - u + br, im = k - v + bi: the biases enter u and v negated.
  const auto negated = [](const std::optional<at::Tensor>& b) {
    return b.has_value() ? std::optional<at::Tensor>(-*b) : std::nullopt;
  };
  const std::optional<at::Tensor> bias[3] = {std::nullopt, negated(br), negated(bi)};
  const Triple xs = gauss_operands(x, false, CallSlot::operand), ws = gauss_weights(wr, wi, false);
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
ConvGrads gauss_backward(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& wr, const at::Tensor& wi,
                         const ComplexConvParams& p, std::array<bool, 3> mask, at::MemoryFormat fmt) {
  const int64_t cin = x.size(1) / 2, cout = grad.size(1) / 2;
  const Triple gs = gauss_operands(grad, false, CallSlot::grad), ws = gauss_weights(wr, wi, true);
  // Without weight gradients only the input's shape matters.
  const auto cl = at::MemoryFormat::ChannelsLast;
  const at::Tensor shape_only =
      mask[1] ? at::Tensor() : at::empty({x.size(0), cin, x.size(2), x.size(3)}, x.options().memory_format(cl));
  const Triple xs =
      mask[1] ? gauss_operands(x, true, CallSlot::operand) : Triple{shape_only, shape_only, shape_only};
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

}  // namespace specdiff::cpu
