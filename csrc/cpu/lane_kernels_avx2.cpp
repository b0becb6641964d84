// Lane kernels compiled for the avx2 ISA (selected at run time by cpu_isa.cpp).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "common/lane_kernels.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC target("avx2,fma")
#elif defined(__x86_64__) && defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)
#endif
#define SPECDIFF_ISA isa_avx2
#define SPECDIFF_VEC_BYTES 32
#include "cpu/lane_kernels_impl.h"
#undef SPECDIFF_ISA
#undef SPECDIFF_VEC_BYTES
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#pragma GCC pop_options
#elif defined(__x86_64__) && defined(__clang__)
#pragma clang attribute pop
#endif
