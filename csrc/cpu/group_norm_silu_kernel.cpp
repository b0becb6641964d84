// CPU kernel of group_norm_silu (csrc/ops/group_norm_silu.cpp). The unit of parallelism is one (sample, group):
// its C / groups channel planes are contiguous and small enough to stay in cache between the statistics passes
// and the apply pass forward, and between the sums pass and the gradient pass backward (which reuses the first pass's gradient at z), so memory sees x once
// and y once forward, x, grad and grad_x once backward. ATen's group_norm then silu, and their backwards, read and
// write the normalized tensor in between. Group norm folds into one affine map per (sample, channel),
// z = a x + k, and the elementwise work runs in the per-ISA lane kernels (lanes/norm_act.h).
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "common/checks.h"
#include "cpu/lanes/norm_act.h"

namespace specdiff::cpu {

namespace {

void check_channel_vector(const at::Tensor& t, const char* name, const at::Tensor& x) {
  check_same_device(x, "x", t, name);
  TORCH_CHECK_VALUE(t.dim() == 1 && t.size(0) == x.size(1), "specdiff: ", name, " must be a 1-D tensor [C] = [",
                    x.size(1), "], got shape ", t.sizes());
  TORCH_CHECK_VALUE(t.scalar_type() == x.scalar_type(), "specdiff: ", name, " must have x's dtype ",
                    x.scalar_type(), ", got ", t.scalar_type());
}

void check_inputs(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t groups) {
  check_real_image(x, "x");
  check_not_empty(x, "x", "[B, C, H, W]");
  TORCH_CHECK_VALUE(groups >= 1 && x.size(1) % groups == 0, "specdiff: groups must be a positive divisor of the ",
                    "channel count ", x.size(1), ", got ", groups);
  TORCH_CHECK_VALUE(x.size(1) / groups * x.size(2) * x.size(3) > 1, "specdiff: a group needs more than 1 value, ",
                    "got x of shape ", x.sizes(), " in ", groups, " groups");
  check_channel_vector(weight, "weight", x);
  check_channel_vector(bias, "bias", x);
}

// The affine map z = a x + k of channel c of a sample whose group has statistics (mu, rstd).
template <typename T>
std::array<T, 2> affine_of(T w, T b, double mu, double rstd) {
  const double a = static_cast<double>(w) * rstd;
  return {static_cast<T>(a), static_cast<T>(static_cast<double>(b) - a * mu)};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> group_norm_silu_cpu(const at::Tensor& x_in, const at::Tensor& weight,
                                                                   const at::Tensor& bias, int64_t groups,
                                                                   double eps) {
  check_inputs(x_in, weight, bias, groups);
  TORCH_CHECK_VALUE(std::isfinite(eps) && eps >= 0, "specdiff: eps must be a finite number >= 0, got ", eps);
  const at::Tensor x = x_in.contiguous(), w = weight.contiguous(), bs = bias.contiguous();
  const int64_t B = x.size(0), C = x.size(1), G = groups, K = C / G, P = x.size(2) * x.size(3);
  const double N = static_cast<double>(K * P);
  at::Tensor y = at::empty(x.sizes(), x.options());
  at::Tensor mean = at::empty({B, G}, x.options()), rstd = at::empty({B, G}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "group_norm_silu", [&] {
    using T = scalar_t;
    const NormActKernels<T>& kernels = norm_act_lanes<T>();
    const T *px = x.const_data_ptr<T>(), *pw = w.const_data_ptr<T>(), *pb = bs.const_data_ptr<T>();
    T *py = y.mutable_data_ptr<T>(), *pmean = mean.mutable_data_ptr<T>(), *prstd = rstd.mutable_data_ptr<T>();
    at::parallel_for(0, B * G, 1, [&](int64_t begin, int64_t end) {
      for (int64_t unit = begin; unit < end; ++unit) {
        const int64_t first = unit * K;  // the group's first (sample, channel) plane: unit = b G + g
        T m[2];
        double s = 0, s1 = 0, s2 = 0;  // two passes over the cached planes: the mean, then centred moments
        for (int64_t c = 0; c < K; ++c) kernels.moments(px + (first + c) * P, P, T(0), m), s += m[0];
        const double mu0 = static_cast<double>(static_cast<T>(s / N));
        for (int64_t c = 0; c < K; ++c) {
          kernels.moments(px + (first + c) * P, P, static_cast<T>(mu0), m), s1 += m[0], s2 += m[1];
        }
        const double mu = mu0 + s1 / N, r = 1.0 / std::sqrt(std::max(0.0, (s2 - s1 * s1 / N) / N) + eps);
        pmean[unit] = static_cast<T>(mu);
        prstd[unit] = static_cast<T>(r);
        const int64_t c0 = (unit % G) * K;
        for (int64_t c = 0; c < K; ++c) {
          const std::array<T, 2> coef = affine_of(pw[c0 + c], pb[c0 + c], mu, r);
          kernels.silu(px + (first + c) * P, coef.data(), P, py + (first + c) * P);
        }
      }
    });
  });
  return {y, mean, rstd};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> group_norm_silu_backward_cpu(
    const at::Tensor& grad_in, const at::Tensor& x_in, const at::Tensor& weight, const at::Tensor& bias,
    const at::Tensor& mean_in, const at::Tensor& rstd_in, int64_t groups, std::array<bool, 2> mask) {
  check_inputs(x_in, weight, bias, groups);
  check_same_device(x_in, "x", grad_in, "grad");
  TORCH_CHECK_VALUE(grad_in.sizes() == x_in.sizes() && grad_in.scalar_type() == x_in.scalar_type(),
                    "specdiff: grad must match x in shape and dtype");
  const int64_t B = x_in.size(0), C = x_in.size(1), G = groups, K = C / G, P = x_in.size(2) * x_in.size(3);
  for (const auto& [t, name] : {std::pair{&mean_in, "mean"}, std::pair{&rstd_in, "rstd"}}) {
    check_same_device(x_in, "x", *t, name);
    TORCH_CHECK_VALUE(t->sizes() == at::IntArrayRef({B, G}) && t->scalar_type() == x_in.scalar_type(), "specdiff: ",
                      name, " must be a [B, groups] = [", B, ", ", G, "] tensor of x's dtype, got shape ", t->sizes());
  }
  const at::Tensor x = x_in.contiguous(), grad = grad_in.contiguous(), w = weight.contiguous(), bs = bias.contiguous();
  const at::Tensor mean = mean_in.contiguous(), rstd = rstd_in.contiguous();
  const double N = static_cast<double>(K * P);
  at::Tensor gx = mask[0] ? at::empty(x.sizes(), x.options()) : at::zeros(x.sizes(), x.options());
  at::Tensor gw = at::zeros({C}, x.options()), gb = at::zeros({C}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "group_norm_silu_backward", [&] {
    using T = scalar_t;
    const NormActKernels<T>& kernels = norm_act_lanes<T>();
    const T *px = x.const_data_ptr<T>(), *pg = grad.const_data_ptr<T>(), *pw = w.const_data_ptr<T>();
    const T *pb = bs.const_data_ptr<T>(), *pmean = mean.const_data_ptr<T>();
    const T* prstd = rstd.const_data_ptr<T>();
    // Per (sample, channel): Σ gz and rstd Σ gz (x - mu), reduced over the samples after the parallel loop.
    std::vector<double> partial(static_cast<size_t>(2 * B * C));
    T* pgx = gx.mutable_data_ptr<T>();
    at::parallel_for(0, B * G, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> gz(static_cast<size_t>(K * P));  // the group's gradient at z, kept for the second pass
      for (int64_t unit = begin; unit < end; ++unit) {
        const int64_t first = unit * K, c0 = (unit % G) * K;
        const double mu = pmean[unit], r = prstd[unit];
        double s1 = 0, s2 = 0;  // Σ_c w_c Σ gz and Σ_c w_c Σ gz (x - mu) over the group
        for (int64_t c = 0; c < K; ++c) {
          const std::array<T, 2> coef = affine_of(pw[c0 + c], pb[c0 + c], mu, r);
          T sums[2];
          kernels.silu_sums(px + (first + c) * P, pg + (first + c) * P, coef.data(), static_cast<T>(mu), P,
                            gz.data() + c * P, sums);
          partial[2 * (first + c)] = sums[0];
          partial[2 * (first + c) + 1] = r * sums[1];
          s1 += static_cast<double>(pw[c0 + c]) * sums[0];
          s2 += static_cast<double>(pw[c0 + c]) * sums[1];
        }
        if (!mask[0]) continue;
        // grad_x = rstd (w gz - s1 / N - (x - mu) rstd^2 s2 / N) = a gz + d1 x + d2.
        const double r3 = r * r * r;
        const T d1 = static_cast<T>(-r3 * s2 / N), d2 = static_cast<T>(r3 * mu * s2 / N - r * s1 / N);
        for (int64_t c = 0; c < K; ++c) {
          const T d[3] = {static_cast<T>(pw[c0 + c] * r), d1, d2};
          kernels.silu_backward(px + (first + c) * P, gz.data() + c * P, d, P, pgx + (first + c) * P);
        }
      }
    });
    if (mask[1]) {
      T *pgw = gw.mutable_data_ptr<T>(), *pgb = gb.mutable_data_ptr<T>();
      for (int64_t c = 0; c < C; ++c) {
        double sb = 0, sw = 0;
        for (int64_t b = 0; b < B; ++b) sb += partial[2 * (b * C + c)], sw += partial[2 * (b * C + c) + 1];
        pgb[c] = static_cast<T>(sb);
        pgw[c] = static_cast<T>(sw);
      }
    }
  });
  return {gx, gw, gb};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CPU, m) {
  m.impl("group_norm_silu", &group_norm_silu_cpu);
  m.impl("_group_norm_silu_backward", &group_norm_silu_backward_cpu);
}

}  // namespace specdiff::cpu
