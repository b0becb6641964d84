// The dispatch entries of the lane-kernel families (dispatch.h): each returns its family's table for the ISA the
// process runs with (common/cpu_isa.h: the best the CPU has, or SPECDIFF_CPU_ISA / _set_cpu_isa).
#include "cpu/lanes/dispatch.h"

#include "common/cpu_isa.h"
#include "cpu/lanes/band_scale.h"
#include "cpu/lanes/conv_layout.h"
#include "cpu/lanes/norm_act.h"
#include "cpu/lanes/roundtrip.h"
#include "cpu/lanes/spectra.h"
#include "cpu/lanes/winograd.h"

namespace specdiff {

namespace {

template <typename Table>
const Table& for_active_isa(const Table& base, const Table& avx2, const Table& avx512) {
  switch (active_cpu_isa()) {
    case CpuIsa::avx512:
      return avx512;
    case CpuIsa::avx2:
      return avx2;
    case CpuIsa::base:
      break;
  }
  return base;
}

}  // namespace

#define SPECDIFF_DEFINE_LANES(Table, name)                                                                  \
  template <>                                                                                               \
  const Table<float>& name<float>() {                                                                       \
    return for_active_isa(isa_base::name##_float, isa_avx2::name##_float, isa_avx512::name##_float);        \
  }                                                                                                         \
  template <>                                                                                               \
  const Table<double>& name<double>() {                                                                     \
    return for_active_isa(isa_base::name##_double, isa_avx2::name##_double, isa_avx512::name##_double);     \
  }

SPECDIFF_DEFINE_LANES(RoundTripKernels, roundtrip_lanes)
SPECDIFF_DEFINE_LANES(BandScaleKernels, band_scale_lanes)
SPECDIFF_DEFINE_LANES(NormActKernels, norm_act_lanes)
SPECDIFF_DEFINE_LANES(ConvLayoutKernels, conv_layout_lanes)
SPECDIFF_DEFINE_LANES(WinogradKernels, winograd_lanes)
SPECDIFF_DEFINE_LANES(SpectraKernels, spectra_lanes)

#undef SPECDIFF_DEFINE_LANES

}  // namespace specdiff
