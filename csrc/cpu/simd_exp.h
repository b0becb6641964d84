// exp in plain arithmetic, for loops the compiler vectorizes: libm's exp stays a scalar call inside a SIMD loop.
// The functions have internal linkage (unnamed namespace), so a file compiled for another ISA (the lane kernels)
// gets its own copy instead of sharing one across ISAs at link time.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>

namespace specdiff::cpu {
namespace {

// Always inlined: a call inside a loop keeps the loop scalar, and gcc's heuristics leave it out of line in the lane
// kernels' larger functions.
#define SPECDIFF_INLINE_EXP inline __attribute__((always_inline))

// exp(x) in plain arithmetic: n = round(x / ln 2) by the 1.5 * 2^mantissa shifter, e^r for |r| <= ln(2) / 2 by
// its Taylor polynomial, times 2^n built in the exponent bits. Arguments are clamped to the normal range, so
// the band's sigmoids saturate to 0 and 1 instead of producing inf. Relative error below 3e-7 (float),
// 3e-16 (double). E is float or double; X is E itself (loops the compiler vectorizes) or a GCC vector of E (the
// lane kernels' VecOf<E>::type), with I the integers of E's width in X's shape.
template <typename E, typename X, typename I>
SPECDIFF_INLINE_EXP X exp_lanes(X x) {
  static_assert(sizeof(X) == sizeof(I) && (sizeof(E) == 4 || sizeof(E) == 8));
  constexpr bool single = sizeof(E) == 4;
  const X lo = X{} + E(single ? -87.0 : -708.0), hi = X{} + E(single ? 88.0 : 709.0);
  x = x < lo ? lo : (x > hi ? hi : x);
  X n, r, p;
  if constexpr (single) {
    const E shifter = 12582912.0f;
    n = (x * 1.44269504088896341f + shifter) - shifter;
    r = (x - n * 0.693145751953125f) - n * 1.42860676533018704e-06f;
    p = X{} + 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
  } else {
    const E shifter = 6755399441055744.0;
    n = (x * 1.44269504088896338700 + shifter) - shifter;
    r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
    p = X{} + 1.0 / 479001600.0;  // 1 / 12!
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
  }
  I k;
  if constexpr (std::is_same_v<X, E>) k = static_cast<I>(n);
  else k = __builtin_convertvector(n, I);
  const I bits = (k + (single ? 127 : 1023)) << (single ? 23 : 52);
  X scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

SPECDIFF_INLINE_EXP float simd_exp(float x) { return exp_lanes<float, float, int32_t>(x); }
SPECDIFF_INLINE_EXP double simd_exp(double x) { return exp_lanes<double, double, int64_t>(x); }

#undef SPECDIFF_INLINE_EXP

}  // namespace
}  // namespace specdiff::cpu
