// exp in plain arithmetic, for loops the compiler vectorizes: libm's exp stays a scalar call inside a SIMD loop.
// The functions have internal linkage (unnamed namespace), so a file compiled for another ISA (the lane kernels)
// gets its own copy instead of sharing one across ISAs at link time.
#pragma once

#include <cstdint>
#include <cstring>

namespace specdiff::cpu {
namespace {

// Always inlined: a call inside a loop keeps the loop scalar, and gcc's heuristics leave it out of line in the lane
// kernels' larger functions.
#define SPECDIFF_INLINE_EXP inline __attribute__((always_inline))

// exp(x) in plain arithmetic: n = round(x / ln 2) by the 1.5 * 2^mantissa shifter, e^r for |r| <= ln(2) / 2 by
// its Taylor polynomial, times 2^n built in the exponent bits. Arguments are clamped to the normal range, so
// the band's sigmoids saturate to 0 and 1 instead of producing inf. Relative error below 3e-7 (float),
// 3e-16 (double).
SPECDIFF_INLINE_EXP float simd_exp(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float shifter = 12582912.0f;
  const float n = (x * 1.44269504088896341f + shifter) - shifter;
  const float r = (x - n * 0.693145751953125f) - n * 1.42860676533018704e-06f;
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

SPECDIFF_INLINE_EXP double simd_exp(double x) {
  x = x < -708.0 ? -708.0 : (x > 709.0 ? 709.0 : x);
  const double shifter = 6755399441055744.0;
  const double n = (x * 1.44269504088896338700 + shifter) - shifter;
  const double r = (x - n * 6.93147180369123816490e-01) - n * 1.90821492927058770002e-10;
  double p = 1.0 / 479001600.0;  // 1 / 12!
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
  const int64_t bits = (static_cast<int64_t>(n) + 1023) << 52;
  double scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

#undef SPECDIFF_INLINE_EXP

}  // namespace
}  // namespace specdiff::cpu
