#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <array>
#include <string>
#include <tuple>
#include <vector>

#include "common/checks.h"
#include "common/cpu_caches.h"
#include "cpu/lanes/band_scale.h"
#include "cpu/band_mask.h"
#include "cpu/workspace.h"

namespace specdiff::cpu {

namespace {

void check_spectrum(const at::Tensor& spec, int64_t width, const char* name) {
  TORCH_CHECK(spec.dim() == 4, "specdiff: ", name, " must be a 4-D half spectrum [B, C, H, W//2+1], got shape ",
              spec.sizes());
  TORCH_CHECK(spec.scalar_type() == at::kComplexFloat || spec.scalar_type() == at::kComplexDouble, "specdiff: ", name,
              " must be complex64 or complex128, got ", spec.scalar_type());
  check_not_empty(spec, name, "[B, C, H, W//2+1]");
  TORCH_CHECK(width >= 1 && spec.size(3) == width / 2 + 1, "specdiff: ", name, " has ", spec.size(3),
              " columns but width ", width, " needs width//2+1 = ", width / 2 + 1);
}

// The band table (H x Wf, computed in the op from the true FFT frequencies, one per group of planes: RunTables)
// comes expanded to (re, im) pairs, so weighting a plane of interleaved values is one unit-stride multiply
// (band_scale). The backward reads the upstream gradient and the spectrum once: band_scale_correlate
// writes the spectrum's gradient and sums Re(g conj(s)) times the band's (pair-expanded) derivative tables,
// in registers and then in float64, into its thread's row of sums for the run's table (one per sample or one).
// It reads three tables, not four: the gradient is gain times the derivative by the gain times g. In both passes,
// where a plane's tables do not fit the L1, two planes share each vector of them (band_planes_in_pairs,
// docs/cpu_kernels.md).

// The band table of a plane: one per sample when a parameter is per sample (groups = B), else one.
int64_t group_of(int64_t plane, int64_t C, int64_t groups) { return groups == 1 ? 0 : plane / C; }

// The end of the run of planes from `first` that share a band table, within [first, end).
int64_t run_end(int64_t first, int64_t end, int64_t C, int64_t groups) {
  return groups == 1 ? end : std::min(end, (first / C + 1) * C);
}

// The pair-expanded band tables of one group (the band, or its three derivatives when asked), built by the thread
// that weights the group's planes, in its workspace, when its run of planes starts: no tables for the whole batch
// are written to memory and read back, and no parallel region of their own builds them. A group whose planes two
// threads share is built by both.
template <typename T>
class RunTables {
 public:
  RunTables(const BandParams& p, int64_t H, int64_t W, bool derivatives)
      : p_(p), rho_(band_radii<T>(H, W)), H_(H), Wf_(W / 2 + 1), count_(derivatives ? 3 : 1) {
    off_tables_ = layout_.add<T>(count_ * 2 * H * Wf_);
    off_scratch_ = layout_.add<T>(band_fill_scratch(H, Wf_));
  }

  // The calling thread's tables of `group`: the band in tables[0] (null with derivatives) or the derivatives in
  // tables[1..3] (null without), built unless they are the ones it built last (`built`, the thread's own).
  void get(int64_t group, int64_t& built, const T* (&tables)[4]) const {
    char* ws = thread_workspace(layout_.bytes());
    T* t[4];
    const int first = count_ == 1 ? 0 : 1;  // tables[first .. first + count_) are kept
    for (int k = 0; k < 4; ++k) {
      t[k] = k >= first && k < first + count_ ? at_offset<T>(ws, off_tables_) + (k - first) * 2 * H_ * Wf_ : nullptr;
    }
    if (group != built) {
      const BandShape<T> band{p_.kind, value(p_.inner, group), value(p_.outer, group), value(p_.gain, group),
                              static_cast<T>(p_.temperature)};
      band_scale_lanes<T>().fill(band, rho_.data(), H_, Wf_, true, t, at_offset<T>(ws, off_scratch_));
      built = group;
    }
    for (int k = 0; k < 4; ++k) tables[k] = t[k];
  }

  static T value(const at::Tensor& param, int64_t group) {
    return param.const_data_ptr<T>()[param.dim() == 0 ? 0 : group];
  }

 private:
  const BandParams& p_;
  const std::vector<T> rho_;
  const int64_t H_, Wf_;
  const int count_;
  WorkspaceLayout layout_;
  int64_t off_tables_ = 0, off_scratch_ = 0;
};

at::Tensor spectral_band_weight_cpu(const at::Tensor& spec, const at::Tensor& inner, const at::Tensor& outer,
                                    const at::Tensor& gain, double temperature, int64_t width,
                                    c10::string_view kind) {
  check_spectrum(spec, width, "spec");
  const int64_t B = spec.size(0), C = spec.size(1), H = spec.size(2), Wf = spec.size(3);
  const auto real = c10::toRealValueType(spec.scalar_type());
  const BandParams p = cpu_band(inner, outer, gain, temperature, kind, B, spec, "spec");
  const at::Tensor s = at::view_as_real(spec.resolve_conj().contiguous());
  at::Tensor out = at::empty_like(s);
  const int64_t m = 2 * H * Wf;  // reals per plane
  AT_DISPATCH_FLOATING_TYPES(real, "spectral_band_weight", [&] {
    using T = scalar_t;
    const T* src = s.data_ptr<T>();
    T* dst = out.data_ptr<T>();
    const BandScaleFn<T> band_scale = band_scale_lanes<T>().scale;
    const bool stream = stream_output(out.nbytes());
    const bool plane_pairs = band_planes_in_pairs(m * static_cast<int64_t>(sizeof(T)), 1);
    const RunTables<T> run_tables(p, H, width, false);
    at::parallel_for(0, B * C, 1, [&](int64_t p0, int64_t p1) {
      int64_t built = -1;
      for (int64_t first = p0, end; first < p1; first = end) {
        end = run_end(first, p1, C, p.groups(B));
        const T* tables[4];
        run_tables.get(group_of(first, C, p.groups(B)), built, tables);
        band_scale(tables[0], src + first * m, dst + first * m, m, end - first, stream, plane_pairs);
      }
    });
  });
  return at::view_as_complex(out);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor> spectral_band_weight_backward_cpu(
    const at::Tensor& grad, const at::Tensor& spec, const at::Tensor& inner, const at::Tensor& outer,
    const at::Tensor& gain, double temperature, int64_t width, c10::string_view kind, std::array<bool, 4> mask) {
  check_spectrum(spec, width, "spec");
  check_spectrum(grad, width, "grad");
  check_same_device(spec, "spec", grad, "grad");
  TORCH_CHECK(grad.sizes() == spec.sizes() && grad.scalar_type() == spec.scalar_type(),
              "specdiff: grad must match spec in shape and dtype, got ", grad.scalar_type(), " ", grad.sizes(),
              " for spec ", spec.scalar_type(), " ", spec.sizes());
  const int64_t B = spec.size(0), C = spec.size(1), H = spec.size(2), Wf = spec.size(3);
  const auto real = c10::toRealValueType(spec.scalar_type());
  const BandParams p = cpu_band(inner, outer, gain, temperature, kind, B, spec, "spec");
  const bool need_params = mask[1] || mask[2] || mask[3];
  const at::Tensor s = at::view_as_real(spec.resolve_conj().contiguous());
  const at::Tensor g = at::view_as_real(grad.resolve_conj().contiguous());
  at::Tensor gs = mask[0] ? at::empty_like(g) : at::Tensor();
  // d loss / d (inner, outer, gain) summed per (thread, group): each thread adds its runs into its own rows, reduced
  // afterwards: no atomics, and neither the zeroing nor the reduction grows with the number of planes (and, like
  // the reduction, no tensor ops: each costs more than the sums themselves).
  const int64_t groups = p.groups(B), threads = at::get_num_threads();
  std::vector<double> partial(need_params ? 3 * threads * groups : 0, 0.0);
  const int64_t m = 2 * H * Wf;
  AT_DISPATCH_FLOATING_TYPES(real, "_spectral_band_weight_backward", [&] {
    using T = scalar_t;
    const T* sp = s.data_ptr<T>();
    const T* gp = g.data_ptr<T>();
    T* out = mask[0] ? gs.data_ptr<T>() : nullptr;
    double* sums = partial.data();
    const BandScaleKernels<T>& kernels = band_scale_lanes<T>();
    const bool stream = mask[0] && stream_output(gs.nbytes());
    const bool plane_pairs = band_planes_in_pairs(m * static_cast<int64_t>(sizeof(T)), need_params ? 3 : 1);
    const RunTables<T> run_tables(p, H, width, need_params);
    at::parallel_for(0, B * C, 1, [&](int64_t p0, int64_t p1) {
      int64_t built = -1;
      const int64_t tid = at::get_thread_num();
      TORCH_INTERNAL_ASSERT(tid < threads, "specdiff: thread ", tid, " of a pool of ", threads);
      double* own = need_params ? sums + 3 * groups * tid : nullptr;
      for (int64_t first = p0, end; first < p1; first = end) {
        end = run_end(first, p1, C, groups);
        const int64_t group = group_of(first, C, groups);
        const T* t[4];
        run_tables.get(group, built, t);
        T* y = out ? out + first * m : nullptr;
        const T* dg[3] = {t[1], t[2], t[3]};
        if (need_params && y) {
          kernels.scale_correlate(RunTables<T>::value(p.gain, group), dg, gp + first * m, sp + first * m, y, m,
                                  end - first, stream, plane_pairs, own + 3 * group);
        } else if (need_params) {
          kernels.correlate(dg, gp + first * m, sp + first * m, m, end - first, plane_pairs, own + 3 * group);
        } else if (y) {
          kernels.scale(t[0], gp + first * m, y, m, end - first, stream, plane_pairs);
        }
      }
    });
  });
  // A parameter's gradient: its column summed over the threads, per group ([B]: groups = B) or over all (0-d).
  auto param_grad = [&](bool need, int col, const at::Tensor& param) {
    if (!need) return at::zeros_like(param);
    at::Tensor grad_param = at::empty(param.sizes(), param.options().memory_format(at::MemoryFormat::Contiguous));
    const int64_t per = param.dim() == 0 ? groups : 1;
    AT_DISPATCH_FLOATING_TYPES(param.scalar_type(), "_spectral_band_weight_backward_params", [&] {
      scalar_t* dst = grad_param.data_ptr<scalar_t>();
      for (int64_t i = 0; i < grad_param.numel(); ++i) {
        double total = 0.0;
        for (int64_t tid = 0; tid < threads; ++tid) {
          for (int64_t g = i * per; g < (i + 1) * per; ++g) total += partial[3 * (tid * groups + g) + col];
        }
        dst[i] = static_cast<scalar_t>(total);
      }
    });
    return grad_param;
  };
  at::Tensor grad_spec = mask[0] ? at::view_as_complex(gs) : at::zeros_like(spec);
  return {grad_spec, param_grad(mask[1], 0, p.inner), param_grad(mask[2], 1, p.outer),
          param_grad(mask[3], 2, p.gain)};
}

}  // namespace

TORCH_LIBRARY_IMPL(specdiff, CPU, m) {
  m.impl("spectral_band_weight", &spectral_band_weight_cpu);
  m.impl("_spectral_band_weight_backward", &spectral_band_weight_backward_cpu);
}

}  // namespace specdiff::cpu
