#include "common/cpu_isa.h"

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

}  // namespace specdiff
