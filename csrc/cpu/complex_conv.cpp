// The complex convolutions' driver: argument checks, the one chooser of the algorithm (choose_algorithm, as
// PyTorch's select_conv_backend in aten/src/ATen/native/ConvUtils.h) and the layout helpers the algorithms share.
// Each algorithm has its own file (complex_conv_algorithms.h); the measurements behind the choice are in
// docs/cpu_kernels.md.
#include "cpu/complex_conv.h"

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>
#include <initializer_list>
#include <string>
#include <vector>

#include "common/checks.h"
#include "cpu/complex_conv_algorithms.h"
#include "cpu/lanes/conv_layout.h"

namespace specdiff::cpu {

namespace {

// What a weight looks like, for messages: conv2d and conv_transpose2d order their dims differently.
const char* weight_layout(const ComplexConvParams& p) {
  return p.transposed ? "[Cin, Cout/groups, kh, kw]" : "[Cout, Cin/groups, kh, kw]";
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
// fake impls): converting a contiguous x to channels_last and back costs more than oneDNN's own reorders
// (docs/cpu_kernels.md).
at::MemoryFormat io_memory_format(const at::Tensor& x) {
  return x.is_contiguous(at::MemoryFormat::ChannelsLast) && !x.is_contiguous() ? at::MemoryFormat::ChannelsLast
                                                                               : at::MemoryFormat::Contiguous;
}

// The algorithm tests and benchmarks force (set_conv_algorithm), or -1: choose.
std::atomic<int>& forced_slot() {
  static std::atomic<int> slot{-1};
  return slot;
}

// Winograd's form, where it fits, does 1/4 of Gauss's multiply-adds but transforms the weights on every call
// (twice with the input's gradient), pays per block of tiles for streaming them and per thread for the weight
// gradient's sums: it wins from about 64 output tiles, up to 512 x 512 channels (wider is not measured, and its
// transformed weights alone would take 36 x 3 Cin Cout values).
bool winograd_pays_off(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p) {
  return winograd_tiles(x, p) >= 64 && x.size(1) / 2 * weight_re.size(0) <= 512 * 512;
}

// Gauss's form saves a quarter of the multiply-adds but runs three half-width convolutions and two elementwise
// passes: it wins when the kernel has spatial extent (1x1 convolutions measured slower than even the
// four-convolution reference) and the half width is itself a whole multiple of oneDNN's 16-channel blocking.
bool gauss_pays_off(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p) {
  const int64_t cin = x.size(1) / 2 / p.groups, cout = out_channels(weight_re, p) / p.groups;
  return weight_re.size(2) * weight_re.size(3) > 1 && cin % 16 == 0 && cout % 16 == 0;
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
ConvAlgorithm choose_algorithm_for_values(const at::Tensor& x, const at::Tensor& weight_re, const at::Tensor& weight_im,
                                      std::initializer_list<const at::Tensor*> others, const ComplexConvParams& p,
                                      at::MemoryFormat fmt) {
  const ConvAlgorithm a = choose_algorithm(x, weight_re, p, fmt);
  if (a == ConvAlgorithm::block) return a;
  bool finite = all_finite(x) && all_finite(weight_re) && all_finite(weight_im);
  for (const at::Tensor* t : others) finite = finite && (t == nullptr || !t->defined() || all_finite(*t));
  return finite ? a : ConvAlgorithm::block;
}

}  // namespace

int64_t out_channels(const at::Tensor& weight_re, const ComplexConvParams& p) {
  return p.transposed ? weight_re.size(1) * p.groups : weight_re.size(0);
}

at::Tensor channels_last_scratch(CallSlot slot, at::IntArrayRef sizes, const at::TensorOptions& options) {
  TORCH_INTERNAL_ASSERT(sizes.size() == 4 && options.device().is_cpu());
  const int64_t bytes = c10::multiply_integers(sizes) * static_cast<int64_t>(options.dtype().itemsize());
  return at::from_blob(call_workspace(slot, bytes), sizes, c10::get_channels_last_strides_2d(sizes), options);
}

namespace {

// out = t in out's layout (t contiguous and out channels_last, or the reverse): one pass of the lane kernels'
// register-tile transposes.
void relayout_into(const at::Tensor& t, const at::Tensor& out, bool to_channels_last) {
  const int64_t B = t.size(0), C = t.size(1), P = t.size(2) * t.size(3);
  AT_DISPATCH_FLOATING_TYPES(t.scalar_type(), "complex_conv_relayout", [&] {
    using T = scalar_t;
    const T* in = t.const_data_ptr<T>();
    T* o = out.mutable_data_ptr<T>();
    const RelayoutFn<T> fn = to_channels_last ? conv_layout_lanes<T>().planes_to_channels_last
                                              : conv_layout_lanes<T>().channels_last_to_planes;
    for_pixel_chunks(B, P, [&](int64_t b, int64_t p0, int64_t p1) { fn(in + b * C * P, C, P, p0, p1, o + b * C * P); });
  });
}

}  // namespace

at::Tensor relayout(const at::Tensor& t, bool to_channels_last) {
  at::Tensor out = at::empty(t.sizes(), t.options().memory_format(to_channels_last ? at::MemoryFormat::ChannelsLast
                                                                                   : at::MemoryFormat::Contiguous));
  relayout_into(t, out, to_channels_last);
  return out;
}

at::Tensor to_channels_last(const at::Tensor& t, CallSlot slot) {
  const auto cl = at::MemoryFormat::ChannelsLast;
  if (t.is_contiguous(cl) || !t.is_contiguous()) return t.contiguous(cl);
  at::Tensor out = channels_last_scratch(slot, t.sizes(), t.options());
  relayout_into(t, out, true);
  return out;
}

ConvAlgorithm choose_algorithm(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p,
                               at::MemoryFormat fmt) {
  const int forced = forced_slot().load();
  if (forced >= 0) {
    // Under a forced algorithm a convolution it cannot serve takes the nearest that can: Gauss's form for
    // "winograd", the block form for "gemm".
    const auto a = static_cast<ConvAlgorithm>(forced);
    if (a == ConvAlgorithm::winograd) return winograd_fits(x, weight_re, p) ? a : ConvAlgorithm::gauss;
    if (a == ConvAlgorithm::gemm) return gemm_fits(x, weight_re, p, fmt) ? a : ConvAlgorithm::block;
    return a;
  }
  if (gemm_fits(x, weight_re, p, fmt)) return ConvAlgorithm::gemm;
  if (winograd_fits(x, weight_re, p) && winograd_pays_off(x, weight_re, p)) return ConvAlgorithm::winograd;
  return gauss_pays_off(x, weight_re, p) ? ConvAlgorithm::gauss : ConvAlgorithm::block;
}

at::MemoryFormat conv_memory_format(const at::Tensor& x) { return io_memory_format(x); }

const char* conv_algorithm_name(ConvAlgorithm a) {
  switch (a) {
    case ConvAlgorithm::block:
      return "block";
    case ConvAlgorithm::gauss:
      return "gauss";
    case ConvAlgorithm::gemm:
      return "gemm";
    case ConvAlgorithm::winograd:
      return "winograd";
  }
  return "block";
}

std::string set_conv_algorithm(const std::string& name) {
  int slot = -1;
  for (ConvAlgorithm a : {ConvAlgorithm::block, ConvAlgorithm::gauss, ConvAlgorithm::gemm, ConvAlgorithm::winograd}) {
    if (name == conv_algorithm_name(a)) slot = static_cast<int>(a);
  }
  TORCH_CHECK(slot >= 0 || name == "auto", "specdiff: unknown complex conv algorithm '", name,
              "'; expected auto, block, gauss, gemm or winograd");
  const int previous = forced_slot().exchange(slot);
  return previous < 0 ? "auto" : conv_algorithm_name(static_cast<ConvAlgorithm>(previous));
}

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
  switch (choose_algorithm_for_values(x, weight_re, weight_im,
                                      {bias_re ? &*bias_re : nullptr, bias_im ? &*bias_im : nullptr}, p, fmt)) {
    case ConvAlgorithm::gemm:
      return gemm_forward(x, weight_re, weight_im, bias_re, bias_im, p);
    case ConvAlgorithm::gauss:
      return gauss_forward(x, weight_re, weight_im, bias_re, bias_im, p, fmt);
    case ConvAlgorithm::winograd:
      return winograd_forward(x, weight_re, weight_im, bias_re, bias_im, p, fmt);
    case ConvAlgorithm::block:
      break;
  }
  return block_forward(x, weight_re, weight_im, bias_re, bias_im, p, fmt);
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
  switch (choose_algorithm_for_values(x, weight_re, weight_im, {&grad}, p, fmt)) {
    case ConvAlgorithm::gemm:
      return gemm_backward(grad, x, weight_re, weight_im, p, mask);
    case ConvAlgorithm::gauss:
      return gauss_backward(grad, x, weight_re, weight_im, p, mask, fmt);
    case ConvAlgorithm::winograd:
      return winograd_backward(grad, x, weight_re, weight_im, p, mask, fmt);
    case ConvAlgorithm::block:
      break;
  }
  return block_backward(grad, x, weight_re, weight_im, p, mask, fmt);
}

}  // namespace specdiff::cpu
