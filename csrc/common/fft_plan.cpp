#include "common/fft_plan.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace specdiff {

namespace {

// Radices in the order the stages run. The power of two 2^k goes in as few passes as possible: 8s, with
// one or two 4s absorbing k mod 3 (a lone 2 only for k = 1); then odd primes.
std::vector<int> factorize(int n) {
  std::vector<int> radices;
  int k = 0;
  while (n % 2 == 0) {
    n /= 2;
    ++k;
  }
  if (k == 1) {
    radices.push_back(2);
  } else if (k > 1) {
    const int fours = k % 3 == 0 ? 0 : (k % 3 == 2 ? 1 : 2);
    for (int i = 0; i < fours; ++i) radices.push_back(4);
    for (int i = 0; i < (k - 2 * fours) / 3; ++i) radices.push_back(8);
  }
  for (int p = 3; n > 1; p += 2) {
    if (p * p > n) p = n;  // n itself is prime
    while (n % p == 0) {
      radices.push_back(p);
      n /= p;
    }
  }
  return radices;
}

}  // namespace

bool fft_size_supported(int64_t n) {
  if (n < 1 || n > (int64_t{1} << 24)) return false;
  for (int r : factorize(static_cast<int>(n))) {
    if (r > kMaxRadix) return false;
  }
  return true;
}

template <typename T>
FftPlan<T>::FftPlan(int n) : n_(n) {
  if (!fft_size_supported(n)) {
    throw std::invalid_argument("specdiff: FFT size " + std::to_string(n) + " has a prime factor above " +
                                std::to_string(kMaxRadix));
  }
  radix_ = factorize(n);
  if (radix_.size() > static_cast<size_t>(kMaxStages)) throw std::invalid_argument("specdiff: FFT plan too deep");
  const double two_pi = 2.0 * std::acos(-1.0);
  int ns = 1;
  for (int r : radix_) {
    ns_.push_back(ns);
    tw_off_.push_back(static_cast<int>(tw_re_.size()));
    for (int k = 0; k < ns; ++k) {
      for (int j = 1; j < r; ++j) {
        // Reduce the angle exactly in integers before the trig call for accuracy at large n.
        const long long num = static_cast<long long>(j) * k;
        const double a = -two_pi * static_cast<double>(num) / static_cast<double>(ns * r);
        tw_re_.push_back(static_cast<T>(std::cos(a)));
        tw_im_.push_back(static_cast<T>(std::sin(a)));
      }
    }
    root_off_.push_back(static_cast<int>(root_re_.size()));
    for (int m = 0; m < r; ++m) {
      const double a = -two_pi * m / r;
      root_re_.push_back(static_cast<T>(std::cos(a)));
      root_im_.push_back(static_cast<T>(std::sin(a)));
    }
    ns *= r;
  }
  if (tw_re_.empty()) {  // keep data() non-null for n == 1
    tw_re_.push_back(T(1));
    tw_im_.push_back(T(0));
  }
}

template <typename T>
FftPlanView<T> FftPlan<T>::view() const {
  return FftPlanView<T>{n_,
                        static_cast<int>(radix_.size()),
                        radix_.data(),
                        ns_.data(),
                        tw_off_.data(),
                        tw_re_.data(),
                        tw_im_.data(),
                        root_off_.data(),
                        root_re_.data(),
                        root_im_.data()};
}

template class FftPlan<float>;
template class FftPlan<double>;

}  // namespace specdiff
