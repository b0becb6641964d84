// The GEMM form of the pointwise complex convolutions (complex_conv_algorithms.h). On the contiguous split layout one sample's group is a pair of
// row-major matrices Xr, Xi [channels x P] (P = H*W pixels, ld = P), so y = W x is a complex matrix product,
// done with Gauss's three real products instead of four:
//   P1 = Mr (Xr + Xi),  P2 = (Mr + Mi) Xi,  P3 = (Mi - Mr) Xr;  Re = P1 - P2,  Im = P1 + P3.
// Forward: M = W. grad_x: M = W^H (Mr = Wr^T, Mi = -Wi^T) applied to grad. grad_W = sum over samples of
// grad X^H, as three accumulated products (K1 - K3, K1 + K2 below): 3/4 of the block form's multiply-adds, at GEMM
// speed (docs/cpu_kernels.md).

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <dlfcn.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "cpu/complex_conv_algorithms.h"
#include "cpu/workspace.h"

namespace specdiff::cpu {

namespace {

// The BLAS that torch itself links (MKL in the x86 wheels) exports the Fortran sgemm_ / dgemm_; ATen's C++
// wrapper (at::native::cpublas::gemm) is not exported. Looked up once at run time, so a torch without them
// still loads the extension and keeps the block convolution (pointwise_available() is false).
template <typename T>
using Gemm = void (*)(const char*, const char*, const int*, const int*, const int*, const T*, const T*, const int*,
                      const T*, const int*, const T*, T*, const int*);

template <typename T>
Gemm<T> blas_gemm() {
  static const Gemm<T> fn =
      reinterpret_cast<Gemm<T>>(dlsym(RTLD_DEFAULT, std::is_same_v<T, float> ? "sgemm_" : "dgemm_"));
  return fn;
}

// Column-major BLAS gemm: C [m x n] = alpha op(A) op(B) + beta C.
template <typename T>
void gemm(bool trans_a, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda, const T* b, int64_t ldb,
          T beta, T* c, int64_t ldc) {
  const int im = static_cast<int>(m), in = static_cast<int>(n), ik = static_cast<int>(k);
  const int ilda = static_cast<int>(lda), ildb = static_cast<int>(ldb), ildc = static_cast<int>(ldc);
  blas_gemm<T>()(trans_a ? "T" : "N", "N", &im, &in, &ik, &alpha, a, &ilda, b, &ildb, &beta, c, &ildc);
}

// Y [n_out x P] = alpha M [n_out x n_in] X [n_in x P] + beta Y, all row-major (BLAS sees Y^T = X^T M^T).
template <typename T>
void apply(int64_t n_out, int64_t n_in, int64_t P, T alpha, const T* M, const T* X, T beta, T* Y) {
  gemm<T>(false, P, n_out, n_in, alpha, X, P, M, n_in, beta, Y, P);
}

// K [n_out x n_in] += alpha A [n_out x P] B [n_in x P]^T, row-major (BLAS sees K^T += B A^T).
template <typename T>
void accumulate_outer(int64_t n_out, int64_t n_in, int64_t P, T alpha, const T* A, const T* B, T* K) {
  gemm<T>(true, n_in, n_out, P, alpha, B, P, A, P, T(1), K, n_in);
}

// Y = M X for the complex X = Xr + i Xi given S = Xr + Xi, with Gauss's combinations M0 = Mr, M1 = Mr + Mi,
// M2 = Mi - Mr (row-major [n_out x n_in]); optional per-row biases.
template <typename T>
void gauss_apply(int64_t n_out, int64_t n_in, int64_t P, const T* M0, const T* M1, const T* M2, const T* xr,
                 const T* xi, const T* s, const T* bias_re, const T* bias_im, T* yr, T* yi) {
  apply<T>(n_out, n_in, P, T(1), M0, s, T(0), yr);
  for (int64_t o = 0; o < n_out; ++o) {
    T *r = yr + o * P, *i = yi + o * P;
    const T br = bias_re ? bias_re[o] : T(0), bi = bias_im ? bias_im[o] : T(0);
    for (int64_t p = 0; p < P; ++p) {
      i[p] = r[p] + bi;
      r[p] += br;
    }
  }
  apply<T>(n_out, n_in, P, T(-1), M1, xi, T(1), yr);
  apply<T>(n_out, n_in, P, T(1), M2, xr, T(1), yi);
}

template <typename T>
void add_sub(int64_t n, const T* a, const T* b, T* sum, T* diff) {
  for (int64_t k = 0; k < n; ++k) {
    if (sum) sum[k] = a[k] + b[k];
    if (diff) diff[k] = a[k] - b[k];
  }
}

// sum = a + b over rows x P, and (when row_a is given) the row sums of a and b added to row_a, row_b.
template <typename T>
void add_rows(int64_t rows, int64_t P, const T* a, const T* b, T* sum, T* row_a, T* row_b) {
  for (int64_t r = 0; r < rows; ++r) {
    const T *pa = a + r * P, *pb = b + r * P;
    T* ps = sum + r * P;
    T sa = 0, sb = 0;
    for (int64_t p = 0; p < P; ++p) {
      ps[p] = pa[p] + pb[p];
      sa += pa[p];
      sb += pb[p];
    }
    if (row_a) row_a[r] += sa, row_b[r] += sb;
  }
}

// Runs f(item, thread) for item in [0, n): across threads with serial GEMMs when there is an item per thread,
// else one item at a time with the GEMMs themselves threaded.
template <typename F>
void for_each_item(int64_t n, const F& f) {
  if (n >= at::get_num_threads()) {
    at::parallel_for(0, n, 1, [&](int64_t begin, int64_t end) {
      const int thread = at::get_thread_num();
      for (int64_t item = begin; item < end; ++item) f(item, thread);
    });
  } else {
    for (int64_t item = 0; item < n; ++item) f(item, 0);
  }
}

// [3, rows, cols] from the complex matrix (mr, mi) [rows, cols]: Mr, Mr + Mi, Mi - Mr.
at::Tensor gauss_combinations(const at::Tensor& mr, const at::Tensor& mi) {
  return at::stack({mr, mr + mi, mi - mr}).contiguous();
}

bool blas_fits(at::ScalarType dtype, int64_t pixels, int64_t channels) {
  const bool blas = dtype == at::kFloat    ? blas_gemm<float>() != nullptr
                    : dtype == at::kDouble ? blas_gemm<double>() != nullptr
                                           : false;
  // BLAS takes 32-bit sizes and leading dimensions: the pixels per plane and the channels per group.
  constexpr int64_t most = std::numeric_limits<int>::max();
  return blas && pixels <= most && channels <= most;
}

}  // namespace

bool gemm_fits(const at::Tensor& x, const at::Tensor& weight_re, const ComplexConvParams& p, at::MemoryFormat fmt) {
  return !p.transposed && fmt == at::MemoryFormat::Contiguous && weight_re.size(2) == 1 && weight_re.size(3) == 1 &&
         p.stride == std::vector<int64_t>{1, 1} && p.padding == std::vector<int64_t>{0, 0} &&
         blas_fits(x.scalar_type(), x.size(2) * x.size(3), std::max(x.size(1) / 2, weight_re.size(0)));
}

at::Tensor gemm_forward(const at::Tensor& x_in, const at::Tensor& weight_re, const at::Tensor& weight_im,
                        const OptionalTensor& bias_re, const OptionalTensor& bias_im, const ComplexConvParams& p) {
  const int64_t groups = p.groups;
  const at::Tensor x = x_in.contiguous();
  const int64_t B = x.size(0), cin = x.size(1) / 2, cout = weight_re.size(0), P = x.size(2) * x.size(3);
  const int64_t ci = cin / groups, co = cout / groups;
  at::Tensor y = at::empty({B, 2 * cout, x.size(2), x.size(3)}, x.options());
  const at::Tensor m = gauss_combinations(weight_re.reshape({cout, ci}), weight_im.reshape({cout, ci}));
  const at::Tensor br = bias_re ? bias_re->contiguous() : at::Tensor();
  const at::Tensor bi = bias_im ? bias_im->contiguous() : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "complex_conv_gemm_forward", [&] {
    const scalar_t *px = x.const_data_ptr<scalar_t>(), *pm = m.const_data_ptr<scalar_t>();
    const scalar_t *pbr = br.defined() ? br.const_data_ptr<scalar_t>() : nullptr;
    const scalar_t *pbi = bi.defined() ? bi.const_data_ptr<scalar_t>() : nullptr;
    scalar_t* py = y.mutable_data_ptr<scalar_t>();
    const int64_t scratch_bytes = ci * P * static_cast<int64_t>(sizeof(scalar_t));
    for_each_item(B * groups, [&](int64_t item, int) {
      const int64_t b = item / groups, g = item % groups;
      const scalar_t* xr = px + (b * 2 * cin + g * ci) * P;
      const scalar_t* xi = xr + cin * P;
      scalar_t* yr = py + (b * 2 * cout + g * co) * P;
      scalar_t* s = reinterpret_cast<scalar_t*>(thread_workspace(scratch_bytes));
      add_sub<scalar_t>(ci * P, xr, xi, s, nullptr);
      const scalar_t* mg = pm + g * co * ci;
      gauss_apply<scalar_t>(co, ci, P, mg, mg + cout * ci, mg + 2 * cout * ci, xr, xi, s, pbr ? pbr + g * co : nullptr,
                            pbi ? pbi + g * co : nullptr, yr, yr + cout * P);
    });
  });
  return y;
}

ConvGrads gemm_backward(const at::Tensor& grad_in, const at::Tensor& x_in, const at::Tensor& weight_re,
                        const at::Tensor& weight_im, const ComplexConvParams& p, std::array<bool, 3> mask) {
  const int64_t groups = p.groups;
  const at::Tensor grad = grad_in.contiguous(), x = x_in.contiguous();
  const int64_t B = x.size(0), cin = x.size(1) / 2, cout = weight_re.size(0), P = x.size(2) * x.size(3);
  const int64_t ci = cin / groups, co = cout / groups, threads = at::get_num_threads();
  const bool need_x = mask[0], need_w = mask[1];
  at::Tensor gx = need_x ? at::empty(x.sizes(), x.options()) : at::zeros(x.sizes(), x.options());
  // W^H per group: Mr = Wr^T, Mi = -Wi^T, each [groups, ci, co].
  const at::Tensor wr = weight_re.reshape({groups, co, ci}), wi = weight_im.reshape({groups, co, ci});
  const at::Tensor mh = gauss_combinations(wr.transpose(1, 2), -wi.transpose(1, 2));
  // Per thread: grad_re + grad_im [co x P], x_re + x_im and x_re - x_im [ci x P]; K1, K2, K3 [cout x ci].
  at::Tensor acc = need_w ? at::zeros({threads, 3, cout, ci}, x.options()) : at::Tensor();
  // Per thread: the bias gradients (row sums of grad's real and imaginary halves), [2 cout].
  at::Tensor bias_acc = mask[2] ? at::zeros({threads, 2 * cout}, x.options()) : at::Tensor();
  if (need_x || need_w || mask[2]) {
    AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "complex_conv_gemm_backward", [&] {
      const scalar_t *pg = grad.const_data_ptr<scalar_t>(), *px = x.const_data_ptr<scalar_t>();
      const scalar_t* pm = mh.const_data_ptr<scalar_t>();
      scalar_t* pgx = need_x ? gx.mutable_data_ptr<scalar_t>() : nullptr;
      const int64_t scratch_bytes = (co + 2 * ci) * P * static_cast<int64_t>(sizeof(scalar_t));
      scalar_t* pacc = need_w ? acc.mutable_data_ptr<scalar_t>() : nullptr;
      scalar_t* pbias = mask[2] ? bias_acc.mutable_data_ptr<scalar_t>() : nullptr;
      for_each_item(B * groups, [&](int64_t item, int thread) {
        const int64_t b = item / groups, g = item % groups;
        const scalar_t* gr = pg + (b * 2 * cout + g * co) * P;
        const scalar_t* gi = gr + cout * P;
        scalar_t* sg = reinterpret_cast<scalar_t*>(thread_workspace(scratch_bytes));
        scalar_t* rows = pbias ? pbias + thread * 2 * cout + g * co : nullptr;
        add_rows<scalar_t>(co, P, gr, gi, sg, rows, rows ? rows + cout : nullptr);
        if (need_x) {
          scalar_t* xr = pgx + (b * 2 * cin + g * ci) * P;
          const scalar_t* mg = pm + g * ci * co;
          const int64_t step = groups * ci * co;
          gauss_apply<scalar_t>(ci, co, P, mg, mg + step, mg + 2 * step, gr, gi, sg, nullptr, nullptr, xr,
                                xr + cin * P);
        }
        if (need_w) {
          const scalar_t* xr = px + (b * 2 * cin + g * ci) * P;
          scalar_t *sx = sg + co * P, *dx = sx + ci * P;
          add_sub<scalar_t>(ci * P, xr, xr + cin * P, sx, dx);
          scalar_t* k1 = pacc + (thread * 3 * cout + g * co) * ci;
          scalar_t *k2 = k1 + cout * ci, *k3 = k2 + cout * ci;
          accumulate_outer<scalar_t>(co, ci, P, scalar_t(1), sg, xr, k1);
          accumulate_outer<scalar_t>(co, ci, P, scalar_t(-1), gr, sx, k2);
          accumulate_outer<scalar_t>(co, ci, P, scalar_t(1), gi, dx, k3);
        }
      });
    });
  }
  at::Tensor gwr, gwi;
  if (need_w) {
    const at::Tensor k = acc.sum(0);  // [3, cout, ci]
    gwr = (k[0] - k[2]).view(weight_re.sizes());
    gwi = (k[0] + k[1]).view(weight_re.sizes());
  } else {
    gwr = at::zeros(weight_re.sizes(), weight_re.options());
    gwi = at::zeros(weight_re.sizes(), weight_re.options());
  }
  at::Tensor gbr, gbi;
  if (mask[2]) {
    const at::Tensor sums = bias_acc.sum(0);
    gbr = sums.narrow(0, 0, cout).clone();
    gbi = sums.narrow(0, cout, cout).clone();
  } else {
    gbr = at::zeros({cout}, x.options());
    gbi = at::zeros({cout}, x.options());
  }
  return {gx, gwr, gwi, gbr, gbi};
}

}  // namespace specdiff::cpu
