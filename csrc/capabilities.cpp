// The build and run-time facts, and the choices the kernels make, as ops Python can ask (specdiff/extension.py),
// so that no rule of the kernels is mirrored as a constant in Python. CatchAll kernels: they take no tensor, or
// read only the sizes, dtypes and layout of the ones they take (meta tensors included).
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include <string>
#include <vector>

#include "common/band_params.h"
#include "common/cpu_caches.h"
#include "common/cpu_isa.h"
#include "common/fft_plan.h"
#include "cpu/band_mask.h"
#include "cpu/complex_conv.h"
#include "cpu/roundtrip.h"
#include "cpu/workspace.h"

#ifdef SPECDIFF_WITH_CUDA
#include "cuda/roundtrip_plan.h"
#endif

namespace specdiff {

namespace {

std::string cpu_isa_op() { return cpu_isa_name(active_cpu_isa()); }

std::string detected_cpu_isa_op() { return cpu_isa_name(detected_cpu_isa()); }

std::string set_cpu_isa_op(const std::string& name) {
  const std::string previous = cpu_isa_name(active_cpu_isa());
  set_cpu_isa(name);
  return previous;
}

bool built_with_cuda_op() {
#ifdef SPECDIFF_WITH_CUDA
  return true;
#else
  return false;
#endif
}

int64_t max_fft_radix_op() { return kMaxRadix; }

// [L1d bytes, L1d ways, L2 bytes, last-level bytes, CPUs sharing the last level, line bytes].
std::vector<int64_t> cpu_caches_op() {
  const CpuCaches& c = cpu_caches();
  return {c.l1d, c.l1d_ways, c.l2, c.llc, c.llc_cpus, c.line};
}

// Whether the CPU kernels write an output of `bytes` with streaming stores, under the current thread count.
bool stream_output_op(int64_t bytes) { return stream_output(bytes); }

// Whether a CPU band loop reading `tables` tables of `plane_bytes` takes its planes two at a time (cpu/band_mask.h).
bool band_planes_in_pairs_op(int64_t plane_bytes, int64_t tables) {
  return cpu::band_planes_in_pairs(plane_bytes, static_cast<int>(tables));
}

// The band arguments' rule of every device (common/band_params.h): raises ValueError, or returns.
void check_band_args_op(c10::string_view kind, double temperature) { check_band_args(kind, temperature); }

// Whether the kernels of `device` run planes of H x W through their fused FFT round trip.
bool roundtrip_fused_op(c10::string_view device, int64_t H, int64_t W) {
  if (device == "cpu") return cpu::roundtrip_fused(H, W);
#ifdef SPECDIFF_WITH_CUDA
  if (device == "cuda") return cuda::roundtrip_fused_size(H, W, cuda::RoundTripTuning::from_env());
#endif
  return false;
}

// Whether spectral_filter2d's CPU autograd keeps x's spectrum for the weight gradient on an H x W grid (one filter
// per channel; cpu/roundtrip.h).
bool roundtrip_keeps_spectra_op(int64_t H, int64_t W) { return cpu::roundtrip_keeps_spectra(H, W); }

// [in use, idle, peak] bytes of the blocks behind the tensors ops keep for their backward (cpu/workspace.h).
std::vector<int64_t> kept_bytes_op() {
  const cpu::KeptBytes b = cpu::kept_bytes();
  return {b.in_use, b.idle, b.peak};
}

std::string complex_conv_algorithm_op(const std::string& name) { return cpu::set_conv_algorithm(name); }

// The algorithm the CPU complex convolution of x by weights shaped like weight_re picks for finite operands.
std::string complex_conv_choice_op(const at::Tensor& x, const at::Tensor& weight_re, std::vector<int64_t> stride,
                                   std::vector<int64_t> padding, std::vector<int64_t> dilation,
                                   std::vector<int64_t> output_padding, int64_t groups, bool transposed) {
  const cpu::ComplexConvParams p{stride, padding, dilation, output_padding, groups, transposed};
  cpu::check_complex_conv(x, weight_re, weight_re, std::nullopt, std::nullopt, p);
  return cpu::conv_algorithm_name(cpu::choose_algorithm(x, weight_re, p, cpu::conv_memory_format(x)));
}

}  // namespace

TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def("_cpu_isa() -> str", &cpu_isa_op);
  m.def("_detected_cpu_isa() -> str", &detected_cpu_isa_op);
  m.def("_set_cpu_isa(str isa) -> str", &set_cpu_isa_op);
  m.def("_built_with_cuda() -> bool", &built_with_cuda_op);
  m.def("_max_fft_radix() -> int", &max_fft_radix_op);
  m.def("_cpu_caches() -> int[]", &cpu_caches_op);
  m.def("_stream_output(int bytes) -> bool", &stream_output_op);
  m.def("_band_planes_in_pairs(int plane_bytes, int tables) -> bool", &band_planes_in_pairs_op);
  m.def("_check_band_args(str kind, float temperature) -> ()", &check_band_args_op);
  m.def("_roundtrip_fused(str device, int H, int W) -> bool", &roundtrip_fused_op);
  m.def("_roundtrip_keeps_spectra(int H, int W) -> bool", &roundtrip_keeps_spectra_op);
  m.def("_kept_bytes() -> int[]", &kept_bytes_op);
  m.def("_complex_conv_algorithm(str algorithm) -> str", &complex_conv_algorithm_op);
  m.def(
      "_complex_conv_choice(Tensor x, Tensor weight_re, int[2] stride, int[2] padding, int[2] dilation, "
      "int[2] output_padding, int groups, bool transposed) -> str",
      &complex_conv_choice_op);
}

}  // namespace specdiff
