#include "common/cpu_isa.h"

#include <ATen/Parallel.h>
#include <torch/library.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace specdiff {

namespace {

CpuIsa parse_isa(const std::string& name) {
  if (name == "base") return CpuIsa::base;
  if (name == "avx2") return CpuIsa::avx2;
  if (name == "avx512") return CpuIsa::avx512;
  throw std::invalid_argument("specdiff: unknown CPU ISA '" + name + "'; expected one of base, avx2, avx512");
}

bool cpu_supports(CpuIsa isa) {
#if defined(__x86_64__) && defined(__GNUC__)
  switch (isa) {
    case CpuIsa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw");
    case CpuIsa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CpuIsa::base:
      return true;
  }
  return false;
#else
  return isa == CpuIsa::base;
#endif
}

CpuIsa initial_isa() {
  if (const char* env = std::getenv("SPECDIFF_CPU_ISA")) {
    const CpuIsa isa = parse_isa(env);
    if (!cpu_supports(isa)) throw std::runtime_error(std::string("specdiff: SPECDIFF_CPU_ISA=") + env + " is not supported by this CPU");
    return isa;
  }
  return detected_cpu_isa();
}

std::atomic<int>& isa_slot() {
  static std::atomic<int> slot{static_cast<int>(initial_isa())};
  return slot;
}

}  // namespace

CpuIsa detected_cpu_isa() {
  if (cpu_supports(CpuIsa::avx512)) return CpuIsa::avx512;
  if (cpu_supports(CpuIsa::avx2)) return CpuIsa::avx2;
  return CpuIsa::base;
}

CpuIsa active_cpu_isa() { return static_cast<CpuIsa>(isa_slot().load()); }

void set_cpu_isa(const std::string& name) {
  const CpuIsa isa = parse_isa(name);
  if (!cpu_supports(isa)) throw std::invalid_argument("specdiff: CPU ISA '" + name + "' is not supported by this CPU");
  isa_slot().store(static_cast<int>(isa));
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::avx512:
      return "avx512";
    case CpuIsa::avx2:
      return "avx2";
    case CpuIsa::base:
      return "base";
  }
  return "base";
}

template <>
const LaneKernels<float>& lane_kernels<float>() {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512:
      return isa_avx512::kernels_float;
    case CpuIsa::avx2:
      return isa_avx2::kernels_float;
    default:
      return isa_base::kernels_float;
  }
}

template <>
const LaneKernels<double>& lane_kernels<double>() {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512:
      return isa_avx512::kernels_double;
    case CpuIsa::avx2:
      return isa_avx2::kernels_double;
    default:
      return isa_base::kernels_double;
  }
}

int64_t roundtrip_scratch_elems(int64_t H, int64_t W, int lanes_per_vector) {
  const int64_t Wf = W / 2 + 1;
  const int64_t rows = H > W ? H : W;
  const int64_t staged = W < lanes_per_vector ? H * W : 0;  // whole-plane staging of short rows (roundtrip)
  return (4 * Wf * (H + 1) + 4 * rows + staged) * lanes_per_vector + 64;  // columns H + 1 apart at most
}

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

}  // namespace

// Build and run-time facts for `specdiff info` and the tests; CatchAll since they take no tensor.
TORCH_LIBRARY_FRAGMENT(specdiff, m) {
  m.def("_cpu_isa() -> str", &cpu_isa_op);
  m.def("_detected_cpu_isa() -> str", &detected_cpu_isa_op);
  m.def("_set_cpu_isa(str isa) -> str", &set_cpu_isa_op);
  m.def("_built_with_cuda() -> bool", &built_with_cuda_op);
  m.def("_max_fft_radix() -> int", &max_fft_radix_op);
}

}  // namespace specdiff
