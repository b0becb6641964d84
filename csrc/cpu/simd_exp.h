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
  X n, r;
  if constexpr (single) {
    const E shifter = 12582912.0f;
    n = (x * 1.44269504088896341f + shifter) - shifter;
    r = (x - n * 0.693145751953125f) - n * 1.42860676533018704e-06f;
  } else {
    const E shifter = 6755399441055744.0;
    n = (x * 1.44269504088896338700 + shifter) - shifter;
    r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  }
  // Horner over the coefficients 1/k!, k = degree .. 0 (degree 7 for float, 12 for double); unrolled, so the loops
  // that inline it still vectorize.
  constexpr int degree = single ? 7 : 12;
  constexpr auto factorial = [](int k) {
    E f = 1;
    for (int i = 2; i <= k; ++i) f *= E(i);
    return f;
  };
  X p = X{} + E(1) / factorial(degree);
#pragma GCC unroll 16
  for (int k = degree - 1; k >= 0; --k) p = p * r + E(1) / factorial(k);
  I power;  // n as an integer: the exponent of 2^n
  if constexpr (std::is_same_v<X, E>) power = static_cast<I>(n);
  else power = __builtin_convertvector(n, I);
  const I bits = (power + (single ? 127 : 1023)) << (single ? 23 : 52);
  X scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

SPECDIFF_INLINE_EXP float simd_exp(float x) { return exp_lanes<float, float, int32_t>(x); }
SPECDIFF_INLINE_EXP double simd_exp(double x) { return exp_lanes<double, double, int64_t>(x); }

#undef SPECDIFF_INLINE_EXP

}  // namespace
}  // namespace specdiff::cpu
