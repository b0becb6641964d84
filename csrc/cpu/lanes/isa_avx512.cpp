// The lane kernels of every op family compiled for the avx512 ISA (chosen at run time: lanes/dispatch.cpp). The
// standard headers and the families' interfaces come first, outside the target region, so no std:: function is
// compiled for this ISA alone.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/fft_plan.h"
#include "cpu/lanes/band_scale.h"
#include "cpu/lanes/conv_layout.h"
#include "cpu/lanes/norm_act.h"
#include "cpu/lanes/roundtrip.h"
#include "cpu/lanes/spectra.h"
#include "cpu/lanes/winograd.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma")
#elif defined(__x86_64__) && defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw,avx2,fma"))), apply_to = function)
#endif
#define SPECDIFF_ISA isa_avx512
#define SPECDIFF_VEC_BYTES 64
#include "cpu/lanes/band_scale_impl.h"
#include "cpu/lanes/conv_layout_impl.h"
#include "cpu/lanes/norm_act_impl.h"
#include "cpu/lanes/roundtrip_impl.h"
#include "cpu/lanes/spectra_impl.h"
#include "cpu/lanes/winograd_impl.h"
#undef SPECDIFF_ISA
#undef SPECDIFF_VEC_BYTES
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#elif defined(__x86_64__) && defined(__clang__)
#pragma clang attribute pop
#endif
