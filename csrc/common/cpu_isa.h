// Run-time choice of the instruction set the CPU lane kernels run with (cpu/lanes/dispatch.h).
#pragma once

#include <string>

namespace specdiff {

enum class CpuIsa { base, avx2, avx512 };

// Best ISA this CPU and this build support.
CpuIsa detected_cpu_isa();
// Active ISA: detected, or forced by SPECDIFF_CPU_ISA=base|avx2|avx512 / set_cpu_isa.
CpuIsa active_cpu_isa();
// Forces an ISA (for tests and benchmarks); throws if the CPU lacks it.
void set_cpu_isa(const std::string& name);
const char* cpu_isa_name(CpuIsa isa);

}  // namespace specdiff
