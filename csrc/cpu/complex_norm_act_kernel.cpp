// CPU kernel of complex_norm_act (csrc/ops/complex_norm_act.cpp). Per complex channel c (the unit of
// parallelism), the B real and B imaginary planes are small (64 x 144 floats each in SpectralUNet), so the
// statistics pass and the apply pass, and the backward's sums pass and gradient pass, read them from cache:
// DRAM sees x once and y once forward, x, grad and grad_x once backward. Batch norm and FiLM fold into one
// affine map per (sample, part), z = a x + k, and the elementwise work runs in the per-ISA lane kernels.
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
  TORCH_CHECK(t.dim() == 1 && t.size(0) == x.size(1), "specdiff: ", name, " must be a 1-D tensor [2C] = [", x.size(1),
              "], got shape ", t.sizes());
  TORCH_CHECK(t.scalar_type() == x.scalar_type(), "specdiff: ", name, " must have x's dtype ", x.scalar_type(),
              ", got ", t.scalar_type());
}

void check_inputs(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias,
                  const std::optional<at::Tensor>& mean, const std::optional<at::Tensor>& var,
                  const std::optional<at::Tensor>& film, double eps) {
  check_real_image(x, "x");
  check_not_empty(x, "x", "[B, 2C, H, W]");
  TORCH_CHECK(x.size(1) % 2 == 0, "specdiff: x must have an even channel count on the split layout [B, 2C, H, W] ",
              "(real half first), got ", x.size(1), " channels");
  check_channel_vector(weight, "weight", x);
  check_channel_vector(bias, "bias", x);
  TORCH_CHECK(mean.has_value() == var.has_value(), "specdiff: mean and var must be given together (running ",
              "statistics) or both be None (batch statistics)");
  if (mean.has_value()) {
    check_channel_vector(*mean, "mean", x);
    check_channel_vector(*var, "var", x);
  } else {
    TORCH_CHECK(x.size(0) * x.size(2) * x.size(3) > 1, "specdiff: batch statistics need more than 1 value per ",
                "channel, got x of shape ", x.sizes());
  }
  if (film.has_value()) {
    check_same_device(x, "x", *film, "film");
    TORCH_CHECK(film->dim() == 2 && film->size(0) == x.size(0) && film->size(1) == x.size(1) / 2 * 3,
                "specdiff: film must be [B, 3C] = [", x.size(0), ", ", x.size(1) / 2 * 3,
                "] (scale, shift real parts, shift imaginary parts), got shape ", film->sizes());
    TORCH_CHECK(film->scalar_type() == x.scalar_type(), "specdiff: film must have x's dtype ", x.scalar_type(),
                ", got ", film->scalar_type());
  }
  TORCH_CHECK(std::isfinite(eps) && eps >= 0, "specdiff: eps must be a finite number >= 0, got ", eps);
}

// The per-channel constants of one complex channel c: for part q (0 real, 1 imaginary) channel k = q C + c.
template <typename T>
struct Channel {
  T w[2], b[2], mu[2], istd[2];
};

// The constants of complex channel c from the per-real-channel vectors ([2C]: real parts, then imaginary).
template <typename T>
Channel<T> channel_of(int64_t c, int64_t C, const T* w, const T* b, const T* mean, const T* var, double eps) {
  Channel<T> ch;
  for (int q = 0; q < 2; ++q) {
    const int64_t k = q * C + c;
    ch.w[q] = w[k], ch.b[q] = b[k], ch.mu[q] = mean[k];
    ch.istd[q] = static_cast<T>(1.0 / std::sqrt(static_cast<double>(var[k]) + eps));
  }
  return ch;
}

// (1 + s, shift_re, shift_im) of sample b, channel c.
template <typename T>
std::array<T, 3> film_of(const T* film, int64_t b, int64_t c, int64_t C) {
  if (!film) return {T(1), T(0), T(0)};
  const T* f = film + b * 3 * C;
  return {T(1) + f[c], f[C + c], f[2 * C + c]};
}

// z = a x + k per part: a = w istd (1 + s), k = (b - w istd mu) (1 + s) + shift.
template <typename T>
std::array<T, 4> affine_of(const Channel<T>& ch, const std::array<T, 3>& f) {
  std::array<T, 4> c{};
  for (int q = 0; q < 2; ++q) {
    const T scale = ch.w[q] * ch.istd[q];
    c[2 * q] = scale * f[0];
    c[2 * q + 1] = (ch.b[q] - scale * ch.mu[q]) * f[0] + f[1 + q];
  }
  return c;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> complex_norm_act_cpu(const at::Tensor& x_in, const at::Tensor& weight,
                                                                    const at::Tensor& bias,
                                                                    const std::optional<at::Tensor>& mean_in,
                                                                    const std::optional<at::Tensor>& var_in,
                                                                    const std::optional<at::Tensor>& film_in,
                                                                    double eps) {
  check_inputs(x_in, weight, bias, mean_in, var_in, film_in, eps);
  const at::Tensor x = x_in.contiguous(), w = weight.contiguous(), bs = bias.contiguous();
  const at::Tensor film = film_in ? film_in->contiguous() : at::Tensor();
  const int64_t B = x.size(0), C = x.size(1) / 2, P = x.size(2) * x.size(3), N = B * P;
  const bool batch = !mean_in.has_value();
  at::Tensor mean = batch ? at::empty({2 * C}, x.options()) : mean_in->contiguous().clone();
  at::Tensor var = batch ? at::empty({2 * C}, x.options()) : var_in->contiguous().clone();
  at::Tensor y = at::empty(x.sizes(), x.options());
  if (x.numel() == 0) return {y, mean, var};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "complex_norm_act", [&] {
    using T = scalar_t;
    const NormActKernels<T>& kernels = norm_act_lanes<T>();
    const T *px = x.const_data_ptr<T>(), *pw = w.const_data_ptr<T>(), *pb = bs.const_data_ptr<T>();
    const T* pf = film.defined() ? film.const_data_ptr<T>() : nullptr;
    T *pmean = mean.mutable_data_ptr<T>(), *pvar = var.mutable_data_ptr<T>(), *py = y.mutable_data_ptr<T>();
    at::parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
      for (int64_t c = begin; c < end; ++c) {
        for (int q = 0; batch && q < 2; ++q) {  // two passes over the channel's planes (cached): mean, moments
          const int64_t k = q * C + c;
          T m[2];
          double s = 0, s1 = 0, s2 = 0;
          for (int64_t b = 0; b < B; ++b) kernels.moments(px + (b * 2 * C + k) * P, P, T(0), m), s += m[0];
          const T mu = static_cast<T>(s / N);
          for (int64_t b = 0; b < B; ++b) kernels.moments(px + (b * 2 * C + k) * P, P, mu, m), s1 += m[0], s2 += m[1];
          pmean[k] = static_cast<T>(mu + s1 / N);
          pvar[k] = static_cast<T>(std::max(0.0, (s2 - s1 * s1 / N) / N));
        }
        const Channel<T> ch = channel_of(c, C, pw, pb, pmean, pvar, eps);
        for (int64_t b = 0; b < B; ++b) {
          const std::array<T, 4> coef = affine_of(ch, film_of(pf, b, c, C));
          const int64_t re = (b * 2 * C + c) * P, im = re + C * P;
          kernels.forward(px + re, px + im, coef.data(), P, py + re, py + im);
        }
      }
    });
  });
  return {y, mean, var};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> complex_norm_act_backward_cpu(
    const at::Tensor& grad_in, const at::Tensor& x_in, const at::Tensor& weight, const at::Tensor& bias,
    const at::Tensor& mean_in, const at::Tensor& var_in, const std::optional<at::Tensor>& film_in, double eps,
    bool batch, std::array<bool, 3> mask) {
  check_inputs(x_in, weight, bias, mean_in, var_in, film_in, eps);
  check_same_device(x_in, "x", grad_in, "grad");
  TORCH_CHECK(grad_in.sizes() == x_in.sizes() && grad_in.scalar_type() == x_in.scalar_type(),
              "specdiff: grad must match x in shape and dtype");
  const at::Tensor x = x_in.contiguous(), grad = grad_in.contiguous(), w = weight.contiguous(), bs = bias.contiguous();
  const at::Tensor mean = mean_in.contiguous(), var = var_in.contiguous();
  const at::Tensor film = film_in ? film_in->contiguous() : at::Tensor();
  const int64_t B = x.size(0), C = x.size(1) / 2, P = x.size(2) * x.size(3), N = B * P;
  const bool need_x = mask[0], need_film = mask[2] && film.defined();
  at::Tensor gx = need_x ? at::empty(x.sizes(), x.options()) : at::zeros(x.sizes(), x.options());
  at::Tensor gw = at::zeros({2 * C}, x.options()), gb = at::zeros({2 * C}, x.options());
  at::Tensor gfilm = film.defined() ? at::zeros(film.sizes(), x.options()) : at::zeros({0}, x.options());
  if (x.numel() == 0) return {gx, gw, gb, gfilm};
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "complex_norm_act_backward", [&] {
    using T = scalar_t;
    const NormActKernels<T>& kernels = norm_act_lanes<T>();
    const T *px = x.const_data_ptr<T>(), *pg = grad.const_data_ptr<T>(), *pw = w.const_data_ptr<T>();
    const T *pb = bs.const_data_ptr<T>(), *pmean = mean.const_data_ptr<T>(), *pvar = var.const_data_ptr<T>();
    const T* pf = film.defined() ? film.const_data_ptr<T>() : nullptr;
    T *pgx = gx.mutable_data_ptr<T>(), *pgw = gw.mutable_data_ptr<T>(), *pgb = gb.mutable_data_ptr<T>();
    T* pgf = need_film ? gfilm.mutable_data_ptr<T>() : nullptr;
    at::parallel_for(0, C, 1, [&](int64_t begin, int64_t end) {
      std::vector<T> sums(4 * B);
      for (int64_t c = begin; c < end; ++c) {
        const Channel<T> ch = channel_of(c, C, pw, pb, pmean, pvar, eps);
        // Pass 1: per sample, sums of gz and gz (x - mu) per part (gz: the gradient at z).
        for (int64_t b = 0; b < B; ++b) {
          const std::array<T, 4> coef = affine_of(ch, film_of(pf, b, c, C));
          const int64_t re = (b * 2 * C + c) * P, im = re + C * P;
          kernels.backward_sums(px + re, px + im, pg + re, pg + im, coef.data(), ch.mu, P, &sums[4 * b]);
        }
        // With g_h = (1 + s) gz: grad bias = sum g_h, grad weight = sum g_h xhat, xhat = (x - mu) istd.
        double g_h[2] = {0, 0}, g_hx[2] = {0, 0};
        for (int64_t b = 0; b < B; ++b) {
          const std::array<T, 3> f = film_of(pf, b, c, C);
          double g_scale = 0;
          for (int q = 0; q < 2; ++q) {
            const double sg = sums[4 * b + 2 * q], centred = sums[4 * b + 2 * q + 1];  // sum gz, sum gz (x - mu)
            g_h[q] += f[0] * sg;
            g_hx[q] += f[0] * centred;
            g_scale += ch.w[q] * ch.istd[q] * centred + ch.b[q] * sg;  // sum Re(conj(h) gz)
            if (pgf) pgf[b * 3 * C + (1 + q) * C + c] = static_cast<T>(sg);
          }
          if (pgf) pgf[b * 3 * C + c] = static_cast<T>(g_scale);
        }
        for (int q = 0; q < 2; ++q) {
          pgb[q * C + c] = static_cast<T>(g_h[q]);
          pgw[q * C + c] = static_cast<T>(g_hx[q] * ch.istd[q]);
        }
        if (!need_x) continue;
        // Pass 2: grad_x = w istd (g_h - m1 - xhat m2), m1 = mean g_h, m2 = mean g_h xhat (batch statistics), or
        // w istd g_h (fixed statistics): d0 gz + d1 x + d2 per part.
        T gamma[2], delta[2];
        for (int q = 0; q < 2; ++q) {
          const double scale = static_cast<double>(ch.w[q]) * ch.istd[q];
          const double m1 = batch ? g_h[q] / N : 0.0, m2 = batch ? g_hx[q] * ch.istd[q] / N : 0.0;
          gamma[q] = static_cast<T>(-scale * ch.istd[q] * m2);
          delta[q] = static_cast<T>(scale * (-m1 + ch.mu[q] * ch.istd[q] * m2));
        }
        for (int64_t b = 0; b < B; ++b) {
          const std::array<T, 3> f = film_of(pf, b, c, C);
          const std::array<T, 4> coef = affine_of(ch, f);
          const T d[6] = {ch.w[0] * ch.istd[0] * f[0], gamma[0], delta[0], ch.w[1] * ch.istd[1] * f[0], gamma[1],
                          delta[1]};
          const int64_t re = (b * 2 * C + c) * P, im = re + C * P;
          kernels.backward(px + re, px + im, pg + re, pg + im, coef.data(), d, P, pgx + re, pgx + im);
        }
      }
    });
  });
  if (!mask[1]) gw.zero_(), gb.zero_();
  return {gx, gw, gb, gfilm};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CPU, m) {
  m.impl("complex_norm_act", &complex_norm_act_cpu);
  m.impl("_complex_norm_act_backward", &complex_norm_act_backward_cpu);
}

}  // namespace specdiff::cpu
