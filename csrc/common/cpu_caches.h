// The data caches of the CPU the process runs on, detected once at run time. The CPU kernels size their blocks
// from these (how much of a block's working set stays in L1 / L2, when an output goes past the caches), never from
// constants tuned on one machine.
#pragma once

#include <cstdint>

namespace specdiff {

struct CpuCaches {
  int64_t l1d;        // bytes of one core's L1 data cache
  int64_t l1d_ways;   // its associativity
  int64_t l2;         // bytes of one core's L2
  int64_t llc;        // bytes of the last-level cache (L3, or L2 when there is none)
  int64_t llc_cpus;   // logical CPUs sharing it
  int64_t line;       // cache line bytes

  // Addresses this many bytes apart map to the same L1 set.
  int64_t l1d_set_period() const { return l1d / (l1d_ways > 0 ? l1d_ways : 1); }
  // One core's share of the last-level cache.
  int64_t llc_per_cpu() const { return llc / (llc_cpus > 0 ? llc_cpus : 1); }
};

// /sys/devices/system/cpu/cpu0/cache, then sysconf (glibc reads CPUID), then conservative defaults (32 KiB 8-way
// L1d, 512 KiB L2, 8 MiB last level per 4 CPUs). SPECDIFF_CPU_CACHES="l1d=49152,l2=2097152,llc=..." overrides
// entries (for tests and for re-measuring a blocking on other cache sizes).
const CpuCaches& cpu_caches();

// Whether a kernel writes an output of `bytes` with streaming stores: one that does not fit the L2s of the threads in
// use (l2 times at::get_num_threads()) together with an input of its size does not stay in the private caches anyway
// and gains from skipping each line's read-for-ownership; a smaller one should stay cached for the next op.
bool stream_output(int64_t bytes);

}  // namespace specdiff
