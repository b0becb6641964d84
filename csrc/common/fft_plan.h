// Mixed-radix Stockham FFT plans shared by the CPU kernels.
//
// A plan factors n into radices (4, 2, 3, then odd primes up to kMaxRadix) and holds the stage
// twiddles. Kernels compiled for a specific ISA receive a FftPlanView: a plain struct of raw
// pointers, so no std:: template is ever instantiated inside an ISA-specific translation unit
// (that would emit weak symbols compiled for AVX-512 which the linker may pick for every caller).
#pragma once

#include <cstdint>
#include <vector>

namespace specdiff {

constexpr int kMaxRadix = 64;
constexpr int kMaxStages = 24;

template <typename T>
struct FftPlanView {
  int n;
  int nstages;
  const int* radix;     // [nstages]
  const int* ns;        // [nstages] product of the radices of the earlier stages
  const int* tw_off;    // [nstages] offset of the stage's twiddles [ns][radix - 1]
  const T* tw_re;
  const T* tw_im;       // forward sign: exp(-2 pi i r k / (ns * radix))
  const int* root_off;  // [nstages] offset of the stage's roots [radix]: exp(-2 pi i m / radix)
  const T* root_re;
  const T* root_im;
};

template <typename T>
class FftPlan {
 public:
  explicit FftPlan(int n);
  FftPlanView<T> view() const;

 private:
  int n_;
  std::vector<int> radix_, ns_, tw_off_, root_off_;
  std::vector<T> tw_re_, tw_im_, root_re_, root_im_;
};

// True when every prime factor of n is at most kMaxRadix (n >= 1).
bool fft_size_supported(int64_t n);

extern template class FftPlan<float>;
extern template class FftPlan<double>;

}  // namespace specdiff
