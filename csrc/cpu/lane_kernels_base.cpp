// Lane kernels compiled for the base ISA (selected at run time by cpu_isa.cpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/lane_kernels.h"

#define SPECDIFF_ISA isa_base
#define SPECDIFF_VEC_BYTES 16
#include "cpu/lane_kernels_impl.h"
#undef SPECDIFF_ISA
#undef SPECDIFF_VEC_BYTES
