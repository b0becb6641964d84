#include "common/cpu_caches.h"

#include <unistd.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

namespace specdiff {

namespace {

int64_t sysconf_value(int name) {
#if defined(__linux__)
  const long v = sysconf(name);
  return v > 0 ? static_cast<int64_t>(v) : 0;
#else
  (void)name;
  return 0;
#endif
}

std::string sysfs(int index, const char* entry) {
  std::ifstream f("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/" + entry);
  std::string s;
  std::getline(f, s);
  return s;
}

// "12K", "2048K", "480M" or plain bytes.
int64_t parse_size(const std::string& s) {
  if (s.empty()) return 0;
  char* end = nullptr;
  const long long v = std::strtoll(s.c_str(), &end, 10);
  if (v <= 0) return 0;
  const char unit = end ? *end : '\0';
  return v * (unit == 'K' ? 1024LL : unit == 'M' ? 1024LL * 1024 : unit == 'G' ? 1024LL * 1024 * 1024 : 1);
}

// CPUs in a list like "0-3,8-11".
int64_t count_cpus(const std::string& list) {
  int64_t n = 0;
  std::stringstream ss(list);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const size_t dash = part.find('-');
    if (part.empty()) continue;
    n += dash == std::string::npos ? 1 : std::atoll(part.c_str() + dash + 1) - std::atoll(part.c_str()) + 1;
  }
  return n;
}

CpuCaches detect() {
  CpuCaches c{};
  // sysfs first: the kernel's cache topology, one instance's size and the CPUs sharing it. glibc's sysconf reads
  // CPUID leaves that a hypervisor may fill with the host's totals (an AMD EPYC guest with a 32 MiB L3 shared by its
  // two CPUs reads 256 MiB there).
  int last_index = -1;
  for (int index = 0; index < 8; ++index) {
    const std::string type = sysfs(index, "type");
    if (type.empty()) break;
    if (type == "Instruction") continue;
    const int level = std::atoi(sysfs(index, "level").c_str());
    const int64_t size = parse_size(sysfs(index, "size"));
    if (level == 1 && c.l1d == 0) {
      c.l1d = size;
      c.l1d_ways = std::atoll(sysfs(index, "ways_of_associativity").c_str());
      c.line = std::atoll(sysfs(index, "coherency_line_size").c_str());
    }
    if (level == 2 && c.l2 == 0) c.l2 = size;
    if (level == 3 && c.llc == 0) c.llc = size;
    last_index = index;
  }
  if (last_index >= 0) c.llc_cpus = count_cpus(sysfs(last_index, "shared_cpu_list"));
#if defined(_SC_LEVEL1_DCACHE_SIZE)
  if (c.l1d <= 0) c.l1d = sysconf_value(_SC_LEVEL1_DCACHE_SIZE);
  if (c.l1d_ways <= 0) c.l1d_ways = sysconf_value(_SC_LEVEL1_DCACHE_ASSOC);
  if (c.line <= 0) c.line = sysconf_value(_SC_LEVEL1_DCACHE_LINESIZE);
  if (c.l2 <= 0) c.l2 = sysconf_value(_SC_LEVEL2_CACHE_SIZE);
  if (c.llc <= 0) c.llc = sysconf_value(_SC_LEVEL3_CACHE_SIZE);
#endif
  if (c.l1d <= 0) c.l1d = 32 << 10;
  if (c.l1d_ways <= 0) c.l1d_ways = 8;
  if (c.line <= 0) c.line = 64;
  if (c.l2 <= 0) c.l2 = 512 << 10;
  if (c.llc <= 0) {
    c.llc = c.l2 > (8 << 20) ? c.l2 : 8 << 20;
    c.llc_cpus = 4;
  }
  if (c.llc_cpus <= 0) c.llc_cpus = 1;
  // SPECDIFF_CPU_CACHES=key=bytes,...
  if (const char* env = std::getenv("SPECDIFF_CPU_CACHES")) {
    std::stringstream ss(env);
    std::string item;
    while (std::getline(ss, item, ',')) {
      const size_t eq = item.find('=');
      if (eq == std::string::npos) continue;
      const std::string key = item.substr(0, eq);
      const int64_t v = parse_size(item.substr(eq + 1));
      if (v <= 0) continue;
      if (key == "l1d") c.l1d = v;
      if (key == "l1d_ways") c.l1d_ways = v;
      if (key == "l2") c.l2 = v;
      if (key == "llc") c.llc = v;
      if (key == "llc_cpus") c.llc_cpus = v;
    }
  }
  return c;
}

}  // namespace

const CpuCaches& cpu_caches() {
  static const CpuCaches caches = detect();
  return caches;
}

bool stream_output(int64_t bytes) {
  // An output that does not fit the private L2s of the threads writing it together with an input of its size has
  // left them before the next op reads it; streaming saves each line's read-for-ownership and keeps the op's inputs
  // in L2 (docs/cpu_kernels.md).
  return 2 * bytes > cpu_caches().l2 * std::max(1, at::get_num_threads());
}

}  // namespace specdiff
